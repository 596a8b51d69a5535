#!/bin/sh
# args: dev0
# expect: lost a `u32` filter on incoming traffic on `dev0`
# tc-testing u32 afa9 in its own place: the ingress qdisc, a u32 filter on it
# matching an IPv4 source host. (The case ends the filter with `action ok`, a gact
# action this kernel lacks; without it the filter still sets the packet's tc_index
# to the classid's minor.)
DEV=$1
tc qdisc add dev "$DEV" ingress
tc filter add dev "$DEV" ingress protocol ip prio 1 u32 match ip src 10.99.0.2/32 flowid 1:1
