#!/bin/sh
# Example 1 of "Rate Limiting in Linux" (M. Bowden, M. Crawford, 2006), verbatim except for
# typesetting: the guide's optional "[mtu 18000]" is written without brackets (its text
# recommends mtu 18000 for jumbo frames).
tc qdisc add dev eth1 root handle 1:0 htb default 12
tc class add dev eth1 parent 1:0 classid 1:1 htb rate 1000mbit
tc class add dev eth1 parent 1:1 classid 1:11 htb rate 200mbit \
    ceil 200mbit mtu 18000
tc class add dev eth1 parent 1:1 classid 1:12 htb rate 700mbit \
    ceil 700mbit mtu 18000
iptables --table mangle --append POSTROUTING --out-interface eth1 \
    --protocol tcp --destination 1.2.3.4 --jump CLASSIFY --set-class 1:11
