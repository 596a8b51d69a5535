#!/bin/sh
# args: start
# An ISP-style per-customer script (written for this corpus): every customer of a /24 gets
# a class of its own with a guaranteed 2 Mbit/s that may borrow up to 20 Mbit/s, numbered
# 1:101, 1:102, ... from a counter; classification with iptables in the mangle table.
set -e

DEV=eth2
UPLINK=1gbit
CUSTOMERS=12
NET=10.20.30

shape_customer() {
    n=$1
    tc class add dev $DEV parent 1:1 classid 1:$((100 + n)) htb \
        rate 2mbit ceil 20mbit prio 1
    iptables -t mangle -A POSTROUTING -o $DEV -d $NET.$n \
        -j CLASSIFY --set-class 1:$((100 + n))
}

stop() {
    tc qdisc del dev $DEV root 2>/dev/null || true
    iptables -t mangle -F POSTROUTING
}

if [ "$1" = "stop" ]; then
    stop
    exit 0
fi

tc qdisc add dev $DEV root handle 1: htb default 99
tc class add dev $DEV parent 1: classid 1:1 htb rate $UPLINK
tc class add dev $DEV parent 1:1 classid 1:99 htb rate 100mbit ceil $UPLINK prio 7

for n in $(seq 1 $CUSTOMERS); do
    shape_customer $n
done

# The office gets its own class for mail and the web, by port.
tc class add dev $DEV parent 1:1 classid 1:200 htb rate 50mbit ceil 200mbit
for port in 25 80 443; do
    iptables -t mangle -A POSTROUTING -o $DEV -p tcp --sport $port -j CLASSIFY --set-class 1:200
done
