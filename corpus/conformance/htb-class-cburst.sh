#!/bin/sh
# args: dev0
# expect: exact
# tc-testing htb 9523: an explicit cburst (bytes at ceil speed) while burst is derived.
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 20Kbit cburst 2000
