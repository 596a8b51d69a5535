#!/bin/sh
# expect: S0001
# An `eval` of a string and a variable that is never set: tcc says it cannot follow them.
eval "$SETUP"
tc qdisc add dev $IFACE root handle 1: htb default 10
