#!/bin/sh
# args: dev0
# expect: lost `mpu 64` on class 1:1 not carried
# tc-testing htb 4359: a class whose rate tables count every packet as at least
# 64 bytes (mpu).
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 20Kbit mpu 64
