#!/bin/sh
# A FireQOS-style script (written for this corpus in the way FireQOS sets up `interface ...
# output` and `interface ... input` shaping): upload shaped on eth0 itself, download shaped on an
# ifb device that everything arriving on eth0 is redirected to. FireQOS names classes by number
# (`1:11`, `1:12`, ... read by tc as hex) and gives each a priority from its position.
# FireQOS puts fq_codel on every leaf, on both sides: tcc reads the leaf queues into the plan.
# This kernel has no fq_codel, so the equivalence of the import is checked on the plan.

dev=eth0
ifb=ifb0
up=20000kbit
down=100000kbit

ip link add dev $ifb type ifb 2>/dev/null
ip link set dev $ifb up

# --- eth0 output (upload) --------------------------------------------------------------------
tc qdisc del dev $dev root 2>/dev/null
tc qdisc add dev $dev root handle 1: htb default 14 r2q 20
tc class add dev $dev parent 1: classid 1:1 htb rate $up ceil $up
tc class add dev $dev parent 1:1 classid 1:11 htb rate 2000kbit ceil $up prio 0
tc class add dev $dev parent 1:1 classid 1:12 htb rate 4000kbit ceil $up prio 1
tc class add dev $dev parent 1:1 classid 1:14 htb rate 14000kbit ceil $up prio 4
tc qdisc add dev $dev parent 1:11 handle 11: fq_codel
tc qdisc add dev $dev parent 1:12 handle 12: fq_codel
tc qdisc add dev $dev parent 1:14 handle 14: fq_codel
tc filter add dev $dev parent 1:0 protocol ip prio 11 u32 match ip protocol 17 0xff match ip dport 5060 0xffff flowid 1:11
tc filter add dev $dev parent 1:0 protocol ip prio 12 u32 match ip protocol 6 0xff match ip dport 22 0xffff flowid 1:12

# --- eth0 input (download), on ifb0 ----------------------------------------------------------
tc qdisc del dev $dev ingress 2>/dev/null
tc qdisc add dev $dev handle ffff: ingress
tc filter add dev $dev parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev $ifb

tc qdisc del dev $ifb root 2>/dev/null
tc qdisc add dev $ifb root handle 1: htb default 14 r2q 100
tc class add dev $ifb parent 1: classid 1:1 htb rate $down ceil $down
tc class add dev $ifb parent 1:1 classid 1:11 htb rate 10000kbit ceil $down prio 0
tc class add dev $ifb parent 1:1 classid 1:12 htb rate 20000kbit ceil $down prio 1
tc class add dev $ifb parent 1:1 classid 1:13 htb rate 30000kbit ceil $down prio 2
tc class add dev $ifb parent 1:1 classid 1:14 htb rate 40000kbit ceil $down prio 4
tc qdisc add dev $ifb parent 1:11 handle 11: fq_codel
tc qdisc add dev $ifb parent 1:12 handle 12: fq_codel
tc qdisc add dev $ifb parent 1:13 handle 13: fq_codel
tc qdisc add dev $ifb parent 1:14 handle 14: fq_codel
# voip: what comes back from the SIP provider
tc filter add dev $ifb parent 1:0 protocol ip prio 11 u32 match ip protocol 17 0xff match ip sport 5060 0xffff flowid 1:11
# ssh sessions
tc filter add dev $ifb parent 1:0 protocol ip prio 12 u32 match ip protocol 6 0xff match ip sport 22 0xffff flowid 1:12
# web
tc filter add dev $ifb parent 1:0 protocol ip prio 13 u32 match ip protocol 6 0xff match ip sport 80 0xffff flowid 1:13
tc filter add dev $ifb parent 1:0 protocol ip prio 13 u32 match ip protocol 6 0xff match ip sport 443 0xffff flowid 1:13
