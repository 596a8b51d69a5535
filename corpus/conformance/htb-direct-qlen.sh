#!/bin/sh
# args: dev0
# tc-testing htb 9502: the root's direct queue (for unclassified packets) set to 1024
# packets instead of the device's txqueuelen.
tc qdisc add dev "$1" root handle 1: htb direct_qlen 1024
