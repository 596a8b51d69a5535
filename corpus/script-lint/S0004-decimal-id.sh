#!/bin/sh
# expect: S0004
# Classes numbered as if ids were decimal: 1:10 is minor 16, not the class after 1:9.
tc qdisc add dev eth0 root handle 1: htb default 8
tc class add dev eth0 parent 1: classid 1:8 htb rate 10mbit
tc class add dev eth0 parent 1: classid 1:9 htb rate 10mbit
tc class add dev eth0 parent 1: classid 1:10 htb rate 10mbit
