#!/bin/sh
# What FireQOS writes for an `interface eth0 world output rate 20Mbit` with three classes:
# decimal-looking class ids (tc reads them as hex), an HTB per interface, and fq_codel on every
# leaf (FireQOS's default leaf qdisc). tcc imports the fq_codel leaves into the plan; this
# kernel cannot load fq_codel, so the import is checked on the plan only.
tc qdisc add dev eth0 root handle 1: htb default 5000 r2q 2
tc class add dev eth0 parent 1: classid 1:1 htb rate 20mbit ceil 20mbit
tc class add dev eth0 parent 1:1 classid 1:10 htb rate 1mbit ceil 4mbit prio 0 quantum 1514
tc qdisc add dev eth0 parent 1:10 handle 10: fq_codel
tc class add dev eth0 parent 1:1 classid 1:20 htb rate 8mbit ceil 20mbit prio 2 quantum 1514
tc qdisc add dev eth0 parent 1:20 handle 20: fq_codel target 5ms interval 100ms ecn
tc class add dev eth0 parent 1:1 classid 1:5000 htb rate 1mbit ceil 20mbit prio 7 quantum 1514
tc qdisc add dev eth0 parent 1:5000 handle 5000: fq_codel
tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip protocol 17 0xff match ip dport 5060 0xffff flowid 1:10
tc filter add dev eth0 parent 1: protocol ipv6 prio 2 u32 match ip6 protocol 17 0xff match ip6 dport 5060 0xffff flowid 1:10
tc filter add dev eth0 parent 1: protocol ip prio 3 u32 match ip protocol 6 0xff match ip dport 443 0xffff flowid 1:20
tc filter add dev eth0 parent 1: protocol ipv6 prio 4 u32 match ip6 protocol 6 0xff match ip6 dport 443 0xffff flowid 1:20
