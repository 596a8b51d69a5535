#!/bin/sh
# Example 3 of "Rate Limiting in Linux" (M. Bowden, M. Crawford, 2006), verbatim except for
# typesetting: a continuation that the guide printed as "\ ceil" inside one line is split at
# the "\", and the optional "[mtu 18000]" is written without brackets.
tc qdisc add dev eth1 root handle 1:0 htb
tc class add dev eth1 parent 1:0 classid 1:1 htb rate 600mbit \
   ceil 1000mbit mtu 18000
tc class add dev eth1 parent 1:0 classid 1:2 htb rate 400mbit \
   ceil 1000mbit mtu 18000
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 131.225.0.0/16 --source-port 80 \
--jump CLASSIFY --set-class 1:1
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 131.225.0.0/16 --source-port 20:21 \
   --jump CLASSIFY --set-class 1:1
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination 131.225.0.0/16 --source-port 1024:5000 \
--jump CLASSIFY --set-class 1:1
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination !131.225.0.0/16 --source-port 80 \
   --jump CLASSIFY --set-class 1:2
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination !131.225.0.0/16 --source-port 20:21 \
   --jump CLASSIFY --set-class 1:2
iptables --table mangle --append POSTROUTING --out-interface eth1 \
   --protocol tcp --destination !131.225.0.0/16 --source-port 1024:5000 \
   --jump CLASSIFY --set-class 1:2
