#!/bin/sh
# args: dev0
# expect: exact
# tc-testing htb 5353: a class mtu of 2048, from which tc derives burst and cburst
# (2 KB each at this rate) and the rate table's cell size.
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 20Kbit mtu 2048
