#!/bin/sh
# Time of applying N classes + N host filters to a fresh network namespace, four ways:
#   tcc apply --classifier u32   (netlink batch: qdisc, classes, u32 filters; no processes)
#   tcc apply                    (netlink batch for the classes + one `nft -f -` transaction)
#   tc -batch                    (the same tree: the sh output's qdisc/class/filter commands,
#                                 filters grouped 2000 to a priority as tcc apply does)
#   sh                           (`tcc compile` output: one tc process per class, iptables
#                                 and ip6tables CLASSIFY rules; its u32 variant cannot hold
#                                 more than 2046 filters, one priority each)
# and the time of re-applying the same plan (nothing sent).
#   bench/apply.sh [N ...]       (default: 1000 5000; needs root)
# One run each, every run in a namespace of its own holding a veth named eth0. Namespaces are
# deleted only at the end: the kernel tears a namespace down in the background holding the
# rtnl lock, which would slow whichever run comes next.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/tcc
dir=$(mktemp -d)
k=0
ns=
cleanup() {
    for n in $(ip netns list | awk '{ print $1 }' | grep "^tcc-bench-$$-"); do ip netns del "$n"; done
    rm -rf "$dir"
}
trap cleanup EXIT
[ $# -gt 0 ] || set -- 1000 5000

fresh() {
    k=$((k + 1))
    ns=tcc-bench-$$-$k
    ip netns add "$ns"
    ip -n "$ns" link add eth0 type veth peer name eth0p
    ip -n "$ns" link set eth0 up
}
now() { date +%s.%N; }
# timed CMD...: run CMD in the namespace, print wall seconds
timed() {
    t0=$(now)
    ip netns exec "$ns" "$@" >/dev/null 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
count() { ip netns exec "$ns" tc class show dev eth0 | grep -c '^class htb'; }

printf '| N classes + filters | tcc apply (u32) | tcc apply (nft) | tc -batch | sh | re-apply | sh / tcc u32 | tc -batch / tcc u32 |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for n in "$@"; do
    bench/gen.sh "$n" > "$dir/in.shape"
    "$bin" compile "$dir/in.shape" -o "$dir/apply.sh" 2>/dev/null
    "$bin" compile --classifier u32 "$dir/in.shape" -o "$dir/u32.sh" 2>/dev/null
    # The tc commands of the u32 script for tc -batch, 2000 filters to a priority.
    grep -E '^tc (qdisc add|class add|filter add)' "$dir/u32.sh" | sed 's/^tc //; s/  #.*$//' |
        awk '{ for (i = 1; i < NF; i++) if ($i == "prio" && $1 == "filter") $(i + 1) = int(($(i + 1) - 1) / 2000) + 1; print }' > "$dir/batch"

    fresh; t_u32=$(timed "$bin" apply --classifier u32 "$dir/in.shape")
    c=$(count); [ "$c" -eq $((n + 2)) ] || { echo "tcc apply made $c classes" >&2; exit 1; }
    t_re=$(timed "$bin" apply --classifier u32 "$dir/in.shape")
    fresh; t_nft=$(timed "$bin" apply "$dir/in.shape")
    fresh; t_batch=$(timed tc -batch "$dir/batch")
    c=$(count); [ "$c" -eq $((n + 2)) ] || { echo "tc -batch made $c classes" >&2; exit 1; }
    fresh; t_sh=$(timed sh "$dir/apply.sh")
    awk -v n="$n" -v u="$t_u32" -v f="$t_nft" -v b="$t_batch" -v s="$t_sh" -v r="$t_re" \
        'BEGIN { printf "| %d | %.3f | %.3f | %.3f | %.2f | %.3f | %.0fx | %.1fx |\n", n, u, f, b, s, r, s / u, b / u }'
done
