#!/bin/sh
# args: dev0
# expect: exact
# tc-testing htb b924: one class with a rate and an explicit burst in bytes; the
# kernel derives ceil (= rate) and cburst (from the mtu).
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 20kbit burst 1000
