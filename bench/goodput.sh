#!/bin/sh
# Goodput of HTB classes as each target configures them: a measurement, so not a test.
#   sudo bench/goodput.sh            (GOODPUT_SECS=N for longer flows; default 2 s each)
#
# Runs the ignored test `goodput_per_target` of tests/kernel_targets.rs: for every target (sh
# with iptables or u32, nft, batch with iptables or u32) and every corpus example with a class
# limited to at most 400 Mbit/s, one iperf3 TCP flow from a fresh namespace pair through that
# class (after a one-second warm-up), best of up to three attempts. It checks that the flow
# lands in that class's byte counter and in no other leaf, and that the receiver's goodput is
# 0.93..1.02 of limit x 1448/1514 (TCP payload of a full 1514-byte frame); it prints a
# Markdown table (the one in docs/targets.md) and fails if a figure is out of bounds.
#
# Then the ignored test `ingress_goodput_per_class` of tests/kernel_ingress.rs: download shaping
# (an `ingress { }` tree on tcc's ifb device), iperf3 from the peer namespace (`-R`) through
# two classes (40 and 10 Mbit/s) for the sh, batch (u32) and nft targets, the same bounds.
#
# Needs root, tc, iptables, nft, iperf3, python3. Everything happens in namespaces the test
# creates and deletes (tcc-t-*).
set -eu
cd "$(dirname "$0")/.."
cargo test --release --quiet --test kernel_targets -- \
	--ignored --exact goodput_per_target --nocapture --test-threads 1
cargo test --release --quiet --test kernel_ingress -- \
	--ignored --exact ingress_goodput_per_class --nocapture --test-threads 1
