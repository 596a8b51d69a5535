#!/bin/sh
# args: dev0
# expect: exact
# tc-testing htb 0904: an HTB root with nothing set; the kernel fills in r2q 10,
# default 0 and direct_qlen from the device.
tc qdisc add dev "$1" root handle 1: htb
