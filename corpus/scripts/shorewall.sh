#!/bin/sh
# args: eth0
# A Shorewall-style traffic shaping section (written for this corpus after the shape of what
# Shorewall's compiler emits for tcdevices/tcclasses/tcfilters): every tc call goes through
# run_tc, which stops the script on the first failure; port filters sit in a u32 hash table
# reached through `offset ... eat`, so they read the TCP/UDP header whatever the IP header's
# length; host filters sit in the root table.
#
# usage: shorewall.sh DEV

DEV=${1:-eth0}

fatal_error() {
    echo "   ERROR: $@" >&2
    exit 2
}

qt() {
    "$@" > /dev/null 2>&1
}

run_tc() {
    tc $@ || fatal_error "Command \"tc $@\" Failed"
}

setup_traffic_shaping() {
    qt tc qdisc del dev $DEV root
    run_tc qdisc add dev $DEV root handle 1: htb default 13 r2q 10

    run_tc class add dev $DEV parent 1: classid 1:1 htb rate 20mbit ceil 20mbit
    run_tc class add dev $DEV parent 1:1 classid 1:11 htb rate 8mbit ceil 20mbit prio 1 quantum 1500
    run_tc class add dev $DEV parent 1:1 classid 1:12 htb rate 6mbit ceil 20mbit prio 2 quantum 1500
    run_tc class add dev $DEV parent 1:1 classid 1:13 htb rate 4mbit ceil 16mbit prio 3 quantum 1500
    run_tc class add dev $DEV parent 1:1 classid 1:14 htb rate 2mbit ceil 4mbit prio 4 quantum 1500

    # tcfilters: one host in the root table
    run_tc filter add dev $DEV protocol ip parent 1:0 prio 10 u32 match ip dst 10.99.0.4/32 flowid 1:14

    # tcfilters with ports: a one-bucket table, entered past the IP header
    run_tc filter add dev $DEV parent 1:0 protocol ip prio 20 handle 1: u32 divisor 1
    run_tc filter add dev $DEV parent 1:0 protocol ip prio 20 u32 \
        match ip protocol 6 0xff \
        link 1: offset at 0 mask 0x0f00 shift 6 plus 0 eat
    run_tc filter add dev $DEV parent 1:0 protocol ip prio 20 u32 ht 1:0 \
        match tcp dst 22 0xffff flowid 1:11
    run_tc filter add dev $DEV parent 1:0 protocol ip prio 20 u32 ht 1:0 \
        match tcp dst 80 0xffff flowid 1:12

    run_tc filter add dev $DEV parent 1:0 protocol ip prio 21 handle 2: u32 divisor 1
    run_tc filter add dev $DEV parent 1:0 protocol ip prio 21 u32 \
        match ip protocol 17 0xff \
        link 2: offset at 0 mask 0x0f00 shift 6 plus 0 eat
    run_tc filter add dev $DEV parent 1:0 protocol ip prio 21 u32 ht 2:0 \
        match udp dst 53 0xffff flowid 1:11
}

setup_traffic_shaping
