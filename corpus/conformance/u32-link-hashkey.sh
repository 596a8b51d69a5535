#!/bin/sh
# args: dev0
# expect: lost u32 option `divisor`
# expect: lost u32 option `link`
# tc-testing u32 1644: a filter in the root table that matches a source network and
# links to a 256-bucket table 43:, hashing on the third byte of the source address.
# (tc-testing attaches its u32 filters to an ingress qdisc, which has no classes;
# here they sit on an HTB root, parent 1:, and send to its classes.)
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb default 4
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 1mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:2 htb rate 2mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:3 htb rate 3mbit ceil 10mbit
tc class add dev "$DEV" parent 1: classid 1:4 htb rate 4mbit ceil 10mbit
tc filter add dev "$DEV" parent 1: prio 99 handle 43: u32 divisor 256
tc filter add dev "$DEV" parent 1: protocol ip prio 98 u32 link 43: hashkey mask 0x0000ff00 at 12 match ip src 192.168.0.0/16
