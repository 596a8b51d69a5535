#!/bin/sh
# args: dev0
# expect: lost ceil of `1:1` is below its rate
# tc-testing htb 4994: a ceil below the rate. tc and the kernel take it as given
# (and the ceil wins); tcc refuses such a class.
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb
tc class add dev "$DEV" parent 1: classid 1:1 htb rate 20Kbit ceil 10Kbit
