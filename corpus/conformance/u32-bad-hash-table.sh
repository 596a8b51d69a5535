#!/bin/sh
# args: dev0
# expect: lost u32 option `ht`
# tc-testing u32 74c2: a filter placed with `ht 47:47` into a table that does not
# exist: refused, nothing added.
# (tc-testing attaches its u32 filters to an ingress qdisc, which has no classes;
# here they sit on an HTB root, parent 1:, and send to its classes.)
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb default 4
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 1mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:2 htb rate 2mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:3 htb rate 3mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:4 htb rate 4mbit ceil 10mbit
tc filter replace dev "$DEV" parent 1: protocol ip prio 20 u32 ht 47:47 match ip dst 10.99.0.2/32 flowid 1:2
