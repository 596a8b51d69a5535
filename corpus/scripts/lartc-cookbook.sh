#!/bin/sh
# A LARTC-style cookbook script (written for this corpus after the HOWTO's HTB example):
# one 100 Mbit/s uplink shared by a web server, mail and everything else.
set -e
DEV=eth0
CEIL=100mbit

tc qdisc del dev $DEV root 2>/dev/null || true
tc qdisc add dev $DEV root handle 1: htb default 30

tc class add dev $DEV parent 1: classid 1:1 htb rate $CEIL burst 15k

tc class add dev $DEV parent 1:1 classid 1:10 htb rate 50mbit ceil $CEIL burst 15k
tc class add dev $DEV parent 1:1 classid 1:20 htb rate 30mbit ceil $CEIL burst 15k
tc class add dev $DEV parent 1:1 classid 1:30 htb rate 20mbps ceil $CEIL burst 15k

tc qdisc add dev $DEV parent 1:10 handle 10: sfq perturb 10
tc qdisc add dev $DEV parent 1:20 handle 20: sfq perturb 10
tc qdisc add dev $DEV parent 1:30 handle 30: sfq perturb 10

U32="tc filter add dev $DEV protocol ip parent 1:0 prio 1 u32"
$U32 match ip sport 80 0xffff flowid 1:10
$U32 match ip sport 443 0xffff flowid 1:10
$U32 match ip sport 25 0xffff flowid 1:20
$U32 match ip dst 192.168.7.0/24 flowid 1:40
