#!/bin/sh
# args: dev0
# expect: exact
# tc-testing u32 afa9: one u32 filter matching an IPv4 source host (ip src A/32)
# in the root hash table 800:, sending to a class.
# (tc-testing attaches its u32 filters to an ingress qdisc, which has no classes;
# here they sit on an HTB root, parent 1:, and send to its classes.)
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb default 4
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 1mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:2 htb rate 2mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:3 htb rate 3mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:4 htb rate 4mbit ceil 10mbit
tc filter add dev "$DEV" parent 1: protocol ip prio 1 u32 match ip src 10.99.0.1/32 flowid 1:1
