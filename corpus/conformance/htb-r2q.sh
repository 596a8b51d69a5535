#!/bin/sh
# args: dev0
# expect: exact
# tc-testing htb 8492: an HTB root with r2q 5 (quantum = rate / 5 for its classes).
tc qdisc add dev "$1" root handle 1: htb r2q 5
