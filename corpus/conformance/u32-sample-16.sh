#!/bin/sh
# args: dev0
# expect: lost u32 option `divisor`
# expect: lost u32 option `ht`
# tc-testing u32 2478: `sample` with masks narrower than a byte or shifted; the
# bucket is the masked value shifted down and cut to the table size (bucket 4 here).
# (tc-testing attaches its u32 filters to an ingress qdisc, which has no classes;
# here they sit on an HTB root, parent 1:, and send to its classes.)
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb default 4
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 1mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:2 htb rate 2mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:3 htb rate 3mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:4 htb rate 4mbit ceil 10mbit
tc filter add dev "$DEV" parent 1: prio 99 handle 1: u32 divisor 256
for mask in 70 f0 ff0 fff0 ff00f0; do
    tc filter add dev "$DEV" parent 1: prio 99 u32 ht 1: sample u32 0x10203040 $mask match u8 0 0 classid 1:1
done
