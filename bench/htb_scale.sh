#!/bin/sh
# The kernel's own cost of creating HTB classes (no tcc involved): one `tc -batch` per layout,
# each in a fresh namespace on a veth with 4 tx queues.
#   sudo bench/htb_scale.sh [N ...]        (default: 5000 10000 20000)
# Layouts:
#   one   N classes under one HTB (1:), each with the default pfifo leaf the kernel makes
#   leaf  the same with an explicit pfifo leaf (handle N:) on every class (N <= 10000 only)
#   mq4   mq root, 4 HTBs (1: .. 4:) one per tx queue, N/4 classes under each
# Wall seconds, one run each; the machine may be shared, so compare within one run.
# docs/performance.md "Past one HTB" explains the shape of these numbers.
set -eu
[ $# -gt 0 ] || set -- 5000 10000 20000
dir=$(mktemp -d)
cleanup() {
    for n in $(ip netns list | awk '{ print $1 }' | grep "^tcc-htbs-$$-"); do ip netns del "$n"; done
    rm -rf "$dir"
}
trap cleanup EXIT
fresh() { # fresh NAME: runs in $(...), so the name comes from the arguments
    ns=tcc-htbs-$$-$1
    ip netns add "$ns"
    ip -n "$ns" link add d0 numtxqueues 4 numrxqueues 4 type veth peer name d1
}
# gen N HTBS LEAF: batch lines for HTBS htbs (1 = root htb, else under mq) with N classes in all
gen() {
    awk -v n="$1" -v h="$2" -v leaf="$3" 'BEGIN {
        if (h == 1) { print "qdisc add dev d0 root handle 1: htb default 2" }
        else {
            print "qdisc add dev d0 root handle 7fff: mq"
            for (q = 1; q <= h; q++) printf "qdisc add dev d0 parent 7fff:%x handle %x: htb default 2\n", q, q
        }
        for (q = 1; q <= h; q++) printf "class add dev d0 parent %x: classid %x:1 htb rate 100gbit quantum 200000\n", q, q
        for (i = 0; i < n; i++) {
            q = i % h + 1; m = int(i / h) + 16
            printf "class add dev d0 parent %x:1 classid %x:%x htb rate 1mbit ceil 1gbit quantum 1514\n", q, q, m
            if (leaf) printf "qdisc add dev d0 parent %x:%x handle %x: pfifo\n", q, m, i + 16
        }
    }'
}
timed() {
    gen "$@" > "$dir/batch"
    fresh "$1-$2-$3"
    t0=$(date +%s.%N)
    ip netns exec "$ns" tc -batch "$dir/batch" || { echo "tc -batch failed" >&2; exit 1; }
    t1=$(date +%s.%N)
    # Every HTB class holds a filter block that the kernel keeps on one list for the whole
    # machine (see docs/performance.md): delete this tree now, so the next run starts from
    # the same list length.
    ip netns exec "$ns" tc qdisc del dev d0 root
    ip netns del "$ns"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
printf '| N classes | one HTB | one HTB, explicit pfifo leaves | mq + 4 HTBs | one / mq4 |\n|---|---|---|---|---|\n'
for n in "$@"; do
    one=$(timed "$n" 1 0)
    if [ "$n" -le 10000 ]; then leaf=$(timed "$n" 1 1); else leaf=-; fi
    mq=$(timed "$n" 4 0)
    printf '| %s | %s | %s | %s | %s |\n' "$n" "$one" "$leaf" "$mq" "$(awk -v a="$one" -v b="$mq" 'BEGIN { printf "%.1f", a / b }')"
done
