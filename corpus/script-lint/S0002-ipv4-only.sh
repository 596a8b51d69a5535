#!/bin/sh
# expect: S0002
# Web traffic is classified for IPv4 only; IPv6 web traffic lands in the default class.
tc qdisc add dev eth0 root handle 1: htb default 20
tc class add dev eth0 parent 1: classid 1:10 htb rate 60mbit
tc class add dev eth0 parent 1: classid 1:20 htb rate 40mbit
iptables -t mangle -A POSTROUTING -o eth0 -p tcp --sport 443 -j CLASSIFY --set-class 1:10
