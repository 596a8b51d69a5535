#!/bin/sh
# args: dev0
# expect: lost u32 option `divisor`
# tc-testing u32 648b: a hash table of its own (handle 42:, 256 buckets), empty and
# linked from nowhere.
# (tc-testing attaches its u32 filters to an ingress qdisc, which has no classes;
# here they sit on an HTB root, parent 1:, and send to its classes.)
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb default 4
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 1mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:2 htb rate 2mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:3 htb rate 3mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:4 htb rate 4mbit ceil 10mbit
tc filter add dev "$DEV" parent 1: prio 99 handle 42: u32 divisor 256
