#!/bin/sh
# expect: S0007
# Deleting a class that still has children: the kernel answers "HTB class in use" and the
# class stays, so the explanation keeps it too.
tc qdisc add dev eth0 root handle 1: htb default 10
tc class add dev eth0 parent 1: classid 1:1 htb rate 10mbit
tc class add dev eth0 parent 1:1 classid 1:10 htb rate 5mbit
tc class del dev eth0 classid 1:1
