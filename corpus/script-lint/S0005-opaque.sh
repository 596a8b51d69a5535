#!/bin/sh
# expect: S0005
# An ingress qdisc with no filter on it: described, but it changes no traffic by itself and is
# not part of the plan.
tc qdisc add dev eth0 ingress
