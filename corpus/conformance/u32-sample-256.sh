#!/bin/sh
# args: dev0
# expect: lost u32 option `divisor`
# expect: lost u32 option `ht`
# tc-testing u32 0692: `sample` picks the bucket of a 256-bucket table from a value
# and a mask, the way the kernel hashes it; seven masks over the same value all
# land in bucket 0x40.
# (tc-testing attaches its u32 filters to an ingress qdisc, which has no classes;
# here they sit on an HTB root, parent 1:, and send to its classes.)
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb default 4
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 1mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:2 htb rate 2mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:3 htb rate 3mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:4 htb rate 4mbit ceil 10mbit
tc filter add dev "$DEV" parent 1: prio 99 handle 1: u32 divisor 256
for mask in ff ffff ffffff ffffffff ff00ff ff0000ff ffff00ff; do
    tc filter add dev "$DEV" parent 1: prio 99 u32 ht 1: sample u32 0x10203040 $mask match u8 0 0 classid 1:1
done
