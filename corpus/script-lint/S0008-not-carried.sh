#!/bin/sh
# expect: S0008
# A leaf fq_codel qdisc changes how the class queues; the plan has no place for it.
tc qdisc add dev eth0 root handle 1: htb default 10
tc class add dev eth0 parent 1: classid 1:10 htb rate 5mbit
tc qdisc add dev eth0 parent 1:10 handle 10: fq_codel
