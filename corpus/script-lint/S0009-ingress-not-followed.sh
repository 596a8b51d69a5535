#!/bin/sh
# expect: S0009
# Only SSH that arrives on eth0 is redirected to ifb0: download shaping of some packets, which
# the plan's ingress tree (everything arriving, shaped on one ifb) does not stand for.
ip link add dev ifb0 type ifb
ip link set dev ifb0 up
tc qdisc add dev eth0 handle ffff: ingress
tc filter add dev eth0 parent ffff: protocol ip prio 1 u32 match ip sport 22 0xffff action mirred egress redirect dev ifb0
tc qdisc add dev ifb0 root handle 1: htb default 10
tc class add dev ifb0 parent 1: classid 1:10 htb rate 10mbit
