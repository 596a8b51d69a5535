#!/bin/sh
# args: dev0
# expect: lost `direct_qlen 1024` on the HTB qdisc of `dev0` not carried
# tc-testing htb 9502: the root's direct queue (for unclassified packets) set to 1024
# packets instead of the device's txqueuelen.
tc qdisc add dev "$1" root handle 1: htb direct_qlen 1024
