#!/bin/sh
# expect: S0006
# The reference guide's negation, glued to the value: iptables 1.8 refuses the rule.
tc qdisc add dev eth1 root handle 1: htb default 2
tc class add dev eth1 parent 1: classid 1:1 htb rate 600mbit
tc class add dev eth1 parent 1: classid 1:2 htb rate 400mbit
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination !131.225.0.0/16 --jump CLASSIFY --set-class 1:2
