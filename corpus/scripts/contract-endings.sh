#!/bin/sh
# Every command ends in one of three places: modelled, not about shaping, or not modelled (with a
# code that says what it does to traffic). Each line here is one of the forms issue 9 lists.
set -e
DEV=eth0
tc qdisc del dev $DEV root 2>/dev/null || true
tc qdisc add dev $DEV parent root handle 1: htb default 20 r2q 5 direct_qlen 100
tc class add dev $DEV parent 1: classid 1:1 htb rate 10mbit burst 15k cburst 3k quantum 3000 mpu 64 overhead 4 linklayer ethernet
tc class add dev $DEV parent 1:1 classid 1:10 htb rate 6mbit ceil 4mbit
tc class add dev $DEV parent 1:1 classid 1:20 htb rate 2mbit ceil 10mbit
tc qdisc add dev $DEV parent 1:10 handle 10: fq_codel
tc qdisc add dev $DEV parent 1:20 handle 20: cbq
tc class del dev $DEV classid 1:1
tc class add dev $DEV parent 1:1 classid 1:20 htb rate 1mbit
tc filter add dev $DEV parent 1: protocol ip prio 1 u32 match ip dport 22 0xffff match ip protocol 6 0xff flowid 1:10
tc filter add dev $DEV parent 1:1 protocol ip prio 2 u32 match ip dport 80 0xffff match ip protocol 6 0xff flowid 1:20
tc qdisc add dev $DEV ingress
tc filter add dev $DEV parent ffff: protocol ip u32 match u32 0 0 police rate 1mbit burst 10k drop flowid :1
tc filter add dev $DEV ingress protocol ip u32 match ip src 10.0.0.0/8 police rate 2mbit burst 10k drop flowid :1
nft add table inet shape
nft add chain inet shape post '{ type filter hook postrouting priority 0; }'
nft add rule inet shape post oifname $DEV ip daddr 192.0.2.1 meta priority set 1:20
tc -s class show dev $DEV
echo done
