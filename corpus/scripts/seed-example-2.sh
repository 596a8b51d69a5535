#!/bin/sh
# Example 2 of "Rate Limiting in Linux" (M. Bowden, M. Crawford, 2006), verbatim except for
# typesetting: "\setminus" is the line continuation "\" it was typeset from, and the
# optional "[mtu 18000]" is written without brackets.
tc qdisc add dev eth1 root handle 1:0 htb default 99
tc class add dev eth1 parent 1:0 classid 1:1 htb rate 1000mbit
tc class add dev eth1 parent 1:1 classid 1:10 htb rate 70mbit \
   ceil 70mbit mtu 18000
tc class add dev eth1 parent 1:1 classid 1:11 htb rate 70mbit \
   ceil 70mbit mtu 18000
tc class add dev eth1 parent 1:1 classid 1:12 htb rate 70mbit \
   ceil 70mbit mtu 18000
tc class add dev eth1 parent 1:1 classid 1:13 htb rate 70mbit \
   ceil 70mbit mtu 18000
tc class add dev eth1 parent 1:1 classid 1:14 htb rate 70mbit \
   ceil 70mbit mtu 18000
tc class add dev eth1 parent 1:1 classid 1:15 htb rate 70mbit \
   ceil 70mbit mtu 18000
tc class add dev eth1 parent 1:1 classid 1:16 htb rate 70mbit \
   ceil 70mbit mtu 18000
tc class add dev eth1 parent 1:1 classid 1:17 htb rate 70mbit \
   ceil 70mbit mtu 18000
tc class add dev eth1 parent 1:1 classid 1:18 htb rate 70mbit \
   ceil 70mbit mtu 18000
tc class add dev eth1 parent 1:1 classid 1:19 htb rate 70mbit \
   ceil 70mbit mtu 18000
tc class add dev eth1 parent 1:1 classid 1:99 htb rate 300mbit \
   ceil 300mbit mtu 18000
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 1.2.3.4 --destination-port 1000 \
   --jump CLASSIFY --set-class 1:10
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 1.2.3.4 --destination-port 1001 \
   --jump CLASSIFY --set-class 1:11
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 1.2.3.4 --destination-port 1002 \
   --jump CLASSIFY --set-class 1:12
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 1.2.3.4 --destination-port 1003 \
   --jump CLASSIFY --set-class 1:13
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 1.2.3.4 --destination-port 1004 \
   --jump CLASSIFY --set-class 1:14
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 1.2.3.4 --destination-port 1005 \
   --jump CLASSIFY --set-class 1:15
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 1.2.3.4 --destination-port 1006 \
   --jump CLASSIFY --set-class 1:16
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 1.2.3.4 --destination-port 1007 \
   --jump CLASSIFY --set-class 1:17
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 1.2.3.4 --destination-port 1008 \
   --jump CLASSIFY --set-class 1:18
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 1.2.3.4 --destination-port 1009 \
   --jump CLASSIFY --set-class 1:19
