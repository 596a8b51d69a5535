#!/bin/sh
# args: dev0
# expect: lost `default 10` names class 1:10, which does not exist
# tc-testing htb 3906: `default` given on the root (read as hex: 0x10) while no class
# 1:10 exists. The kernel keeps it; unclassified traffic goes out unshaped.
tc qdisc add dev "$1" root handle 1: htb default 10
