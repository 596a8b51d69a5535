#!/bin/sh
# Apply time of each target's output, and the cost of classification on the data path.
#   sudo bench/targets.sh [N ...]          (default: 1000 5000)
#   sudo FLOWS_ONLY=1 bench/targets.sh      (part 2 only)
#
# 1. For N classes each with a host match (bench/gen.sh N), the wall time of `sh OUT` for the
#    sh target (iptables and u32 classifiers), the batch target (iptables-restore and hashed
#    u32) and the nft target, each on a fresh network namespace.
# 2. With 5000 such rules (and, for reference, 1), the iperf3 TCP throughput of one flow whose
#    match is the LAST rule, classified by linear u32 filters, hashed u32 filters, one nft map
#    lookup and a linear iptables chain. Classes may use 100gbit here, so the figure is what
#    classification costs the CPU, not an HTB limit.
#
# Needs root, tc, iptables, nft, iperf3. Uses namespaces tccb-a/tccb-b and addresses 10.x
# inside them only; removes them on exit.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/tcc
dir=$(mktemp -d)
A=tccb-a
B=tccb-b
cleanup() {
	if [ -f "$dir/iperf.pid" ]; then kill "$(cat "$dir/iperf.pid")" 2>/dev/null || true; fi
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
[ $# -gt 0 ] || set -- 1000 5000

# A fresh pair of namespaces; A's end of the veth is eth0 (the interface bench/gen.sh names).
bed() {
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	ip netns add "$A"
	ip netns add "$B"
	ip link add eth0 netns "$A" type veth peer name v1 netns "$B"
	ip -n "$A" addr add 10.99.0.1/24 dev eth0
	ip -n "$B" addr add 10.99.0.2/24 dev v1
	for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
	ip -n "$A" link set eth0 up
	ip -n "$B" link set v1 up
}

now() { date +%s.%N; }

# apply SCRIPT: seconds taken by `sh SCRIPT` in A ("failed" and its output on stderr if it
# fails).
apply() {
	t0=$(now)
	if ! ip netns exec "$A" sh "$1" >"$dir/log" 2>&1; then
		grep -v 'quantum of class' "$dir/log" | tail -5 >&2
		echo failed
		return 0
	fi
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

compile() { # FILE TARGET CLASSIFIER OUT
	"$bin" compile "$1" --target "$2" --classifier "$3" -o "$4" 2>/dev/null
}

if [ -z "${FLOWS_ONLY:-}" ]; then
echo "## Apply time (s), fresh namespace, N classes each with one host match"
echo
printf '| N | sh (iptables) | sh (u32) | batch (iptables-restore) | batch (hashed u32) | nft (map) |\n'
printf '|---|---|---|---|---|---|\n'
for n in "$@"; do
	bench/gen.sh "$n" >"$dir/in.shape"
	row="| $n"
	for tc in "sh iptables" "sh u32" "batch iptables" "batch u32" "nft iptables"; do
		# shellcheck disable=SC2086 # two words on purpose
		set -- $tc
		compile "$dir/in.shape" "$1" "$2" "$dir/out.sh"
		bed
		row="$row | $(apply "$dir/out.sh")"
	done
	echo "$row |"
done
fi

echo
echo "## Throughput of one TCP flow whose match is the last of N rules (best of 3 x iperf3 -t 5, receiver)"
echo
# One class per host, none limiting (ceil 100gbit); the flow goes to the last host.
gen_open() { bench/gen.sh "$1" | sed 's/ceil 1gbit/ceil 100gbit/'; }
flow() { # N: Gbit/s of a flow to the last host of N
	last=$(($1 - 1))
	dst="10.$((last / 65536 + 1)).$((last / 256 % 256)).$((last % 256))"
	ip -n "$B" addr add "$dst/32" dev v1
	ip -n "$A" route add "$dst/32" via 10.99.0.2
	best=0
	for _ in 1 2 3; do
		rm -f "$dir/iperf.pid"
		ip netns exec "$B" iperf3 -s -D -1 -B "$dst" -p 443 --pidfile "$dir/iperf.pid"
		sleep 0.3
		ip netns exec "$A" iperf3 -c "$dst" -p 443 -t 5 -O 1 -J >"$dir/iperf.json"
		rm -f "$dir/iperf.pid"
		g=$(python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' "$dir/iperf.json")
		best=$(awk -v a="$g" -v b="$best" 'BEGIN { print (a > b) ? a : b }')
	done
	echo "$best"
}
printf '| rules | u32 linear (sh) | u32 hashed (batch) | nft map | iptables chain (batch) |\n'
printf '|---|---|---|---|---|\n'
for n in 1 5000; do
	gen_open "$n" >"$dir/open.shape"
	row="| $n"
	for tc in "sh u32" "batch u32" "nft iptables" "batch iptables"; do
		# shellcheck disable=SC2086
		set -- $tc
		compile "$dir/open.shape" "$1" "$2" "$dir/out.sh"
		bed
		apply "$dir/out.sh" >/dev/null
		row="$row | $(flow "$n") Gbit/s"
	done
	echo "$row |"
done
