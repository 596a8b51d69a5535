#!/bin/sh
# expect: S0008
# A leaf red qdisc changes how the class queues (random early drops); tcc models pfifo, bfifo,
# sfq, fq_codel and tbf leaves, not red.
tc qdisc add dev eth0 root handle 1: htb default 10
tc class add dev eth0 parent 1: classid 1:10 htb rate 5mbit
tc qdisc add dev eth0 parent 1:10 handle 10: red limit 400000 min 30000 max 90000 avpkt 1000
