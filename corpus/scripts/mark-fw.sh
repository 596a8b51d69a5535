#!/bin/sh
# Classification by packet marks, as many guides write it: iptables MARK rules in the mangle
# table (any chain) and tc `fw` filters that send a mark to a class.
DEV=eth0
tc qdisc add dev $DEV root handle 1: htb default 20
tc class add dev $DEV parent 1: classid 1:1 htb rate 10mbit
tc class add dev $DEV parent 1:1 classid 1:10 htb rate 6mbit ceil 10mbit
tc class add dev $DEV parent 1:1 classid 1:20 htb rate 4mbit ceil 10mbit
iptables -t mangle -A PREROUTING -p tcp --dport 22 -j MARK --set-mark 1
iptables -t mangle -A POSTROUTING -o $DEV -p udp --dport 53 -j MARK --set-mark 1
iptables -t mangle -A FORWARD -j CONNMARK --restore-mark
iptables -t mangle -A POSTROUTING -o $DEV -p tcp --dport 25 -j DSCP --set-dscp 8
iptables -t mangle -A POSTROUTING -j LOG --log-prefix shaped
tc filter add dev $DEV parent 1: protocol ip prio 1 handle 1 fw classid 1:10
