#!/bin/sh
# args: dev0
# expect: lost u32 option `indev`
# tc-testing u32 bc4d: a valid filter, then a `filter replace` of the same prio with an
# indev that does not exist: refused, the first filter stays as it was.
# (tc-testing attaches its u32 filters to an ingress qdisc, which has no classes;
# here they sit on an HTB root, parent 1:, and send to its classes.)
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb default 4
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 1mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:2 htb rate 2mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:3 htb rate 3mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:4 htb rate 4mbit ceil 10mbit
tc filter add dev "$DEV" parent 1: protocol ip prio 1 u32 match ip src 10.99.0.3/32 flowid 1:3
tc filter replace dev "$DEV" parent 1: protocol ip prio 1 u32 match ip src 10.99.0.2/32 indev nosuchdev0 flowid 1:2
