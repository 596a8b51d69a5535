#!/bin/sh
# args: dev0
# expect: lost u32 selector `match icmp type 1`
# expect: lost deletes class 1:1, which is in use (a filter points at it): the class stays
# tc-testing u32 0c37 (written there for drr, which this kernel lacks; the same on
# HTB): a filter sending ICMP to class 1:1, replaced by another with the same
# selector; deleting class 1:1 is then refused because a filter still points at it.
# (tc-testing attaches its u32 filters to an ingress qdisc, which has no classes;
# here they sit on an HTB root, parent 1:, and send to its classes.)
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb default 4
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 1mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:2 htb rate 2mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:3 htb rate 3mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:4 htb rate 4mbit ceil 10mbit
tc filter add dev "$DEV" parent 1: prio 1 u32 match icmp type 1 0xff classid 1:1
tc filter replace dev "$DEV" parent 1: prio 1 u32 match icmp type 1 0xff classid 1:1
tc class delete dev "$DEV" parent 1: classid 1:1
