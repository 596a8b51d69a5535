#!/bin/sh
# A script split over files, as many inherited setups are: settings sourced from a file,
# classes in a `tc -batch` file, rules restored from a saved mangle table, nft rules from a
# file, and one file that is not there.
. ./settings.sh
tc qdisc add dev $DEV root handle 1: htb default 20
tc -batch classes.tc
iptables-restore --noflush < mangle.rules
case "$1" in
    nft) nft -f classify.nft ;;
esac
nft -f missing.nft
