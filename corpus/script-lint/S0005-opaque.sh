#!/bin/sh
# expect: S0005
# A token bucket filter as the root qdisc: described, but not an HTB tree the plan models.
tc qdisc add dev eth0 root tbf rate 1mbit burst 32kbit latency 400ms
