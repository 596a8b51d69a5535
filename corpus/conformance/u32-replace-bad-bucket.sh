#!/bin/sh
# args: dev0
# expect: lost u32 option `divisor`
# expect: lost u32 option `ht`
# tc-testing u32 1fe6: a one-bucket table 43: holding a TCP source-port match (the
# port read at nexthdr, after the IP header), then a replace into bucket 1 of that
# table, which has only bucket 0: refused, the first filter stays.
# (tc-testing attaches its u32 filters to an ingress qdisc, which has no classes;
# here they sit on an HTB root, parent 1:, and send to its classes.)
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb default 4
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 1mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:2 htb rate 2mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:3 htb rate 3mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:4 htb rate 4mbit ceil 10mbit
tc filter add dev "$DEV" parent 1: protocol ip prio 99 handle 43: u32 divisor 1
tc filter add dev "$DEV" parent 1: protocol ip prio 98 u32 ht 43: match tcp src 22 0xffff classid 1:3
tc filter replace dev "$DEV" parent 1: protocol ip prio 98 u32 ht 43:1 match tcp src 23 0xffff classid 1:4
