#!/bin/sh
# args: dev0
# expect: exact
# tc-testing htb 303a: an HTB root made (with r2q 5) and deleted again by its
# handle; the device is left with its default root queue.
DEV=$1
tc qdisc add dev "$DEV" root handle 1: htb r2q 5
tc qdisc del dev "$DEV" root handle 1:
