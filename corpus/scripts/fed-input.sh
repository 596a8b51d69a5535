#!/bin/sh
# Commands fed on standard input, as people write them: tc's batch mode from a here-document,
# an iptables-restore file from a here-document (rules take effect at COMMIT), an nft ruleset
# piped from a variable.
set -e
tc qdisc del dev eth0 root 2>/dev/null || true
tc -b - <<EOF
qdisc add dev eth0 root handle 1: htb default 30
class add dev eth0 parent 1: classid 1:1 htb rate 20mbit
class add dev eth0 parent 1:1 classid 1:10 htb rate 8mbit ceil 20mbit   # voip
class add dev eth0 parent 1:1 classid 1:20 htb rate 8mbit ceil 20mbit   # web
class add dev eth0 parent 1:1 classid 1:30 htb rate 4mbit ceil 20mbit   # bulk
qdisc add dev eth0 parent 1:30 handle 30: fq_codel
EOF
iptables-restore --noflush <<'EOF'
*mangle
:shape - [0:0]
-A shape -p udp --dport 5060 -j CLASSIFY --set-class 1:10
-A shape -p tcp -m multiport --dports 80,443 -j CLASSIFY --set-class 1:20
-A POSTROUTING -o eth0 -j shape
COMMIT
*filter
-A INPUT -p tcp --dport 22 -j ACCEPT
COMMIT
EOF
rules='table inet shape {
	chain post {
		type filter hook postrouting priority mangle; policy accept;
		oifname "eth0" meta l4proto tcp tcp dport 22 meta priority set 1:10
	}
}'
printf '%s\n' "$rules" | nft -f -
ip6tables-restore -n <<'EOF'
*mangle
-A POSTROUTING -o eth0 -p udp --dport 5060 -j CLASSIFY --set-class 1:10
EOF
