#!/bin/sh
# args: dev0
# expect: exact
# tc-testing htb 346a: an explicit quantum (2048 bytes) instead of rate / r2q.
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 20Kbit quantum 2048
