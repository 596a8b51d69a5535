#!/bin/sh
# expect: S0001
# A `case` statement and a variable that is never set: tcc says it cannot follow them.
case "$1" in
    stop) tc qdisc del dev eth0 root ;;
esac
tc qdisc add dev $IFACE root handle 1: htb default 10
