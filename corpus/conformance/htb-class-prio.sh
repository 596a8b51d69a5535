#!/bin/sh
# args: dev0
# expect: exact
# tc-testing htb 9048: a class with priority 1 (0 when not given).
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 20Kbit prio 1
