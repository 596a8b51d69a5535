#!/bin/sh
# expect: S0003
# The teardown the reference guide suggests: it removes every rule of POSTROUTING, not only
# the ones this script added.
tc qdisc del dev eth1 root
iptables --table mangle --flush POSTROUTING
