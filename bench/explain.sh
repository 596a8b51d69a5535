#!/bin/sh
# Time and peak memory of `tcc explain` and `tcc explain --to shape` (which also compiles the
# import and checks it is equivalent) on generated per-customer scripts: N HTB classes and N
# iptables CLASSIFY rules, one per customer address, without RETURN rules (last match wins).
#   bench/explain.sh [N ...]        (default: 1000 5000 20000)
# Each figure is the best of 3 runs of the release binary.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/tcc
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
[ $# -gt 0 ] || set -- 1000 5000 20000
gen() {
    echo "tc qdisc add dev eth0 root handle 1: htb default 2"
    echo "tc class add dev eth0 parent 1: classid 1:1 htb rate 100gbit"
    echo "tc class add dev eth0 parent 1:1 classid 1:2 htb rate 100mbit"
    i=0
    while [ "$i" -lt "$1" ]; do
        id=$(printf %x $((i + 16)))
        echo "tc class add dev eth0 parent 1:1 classid 1:$id htb rate 1mbit ceil 10mbit"
        echo "iptables -t mangle -A POSTROUTING -o eth0 -d 10.$((i / 62500)).$((i / 250 % 250)).$((i % 250 + 1)) -j CLASSIFY --set-class 1:$id"
        i=$((i + 1))
    done
}
best() { # best of 3: time (s) and peak RSS (KB) of "$@"
    bt=; bm=
    for _ in 1 2 3; do
        /usr/bin/time -f '%e %M' -o "$dir/time" "$@" > /dev/null 2>&1 || true
        read -r t m < "$dir/time"
        bt=$(awk -v a="$t" -v b="${bt:-1e9}" 'BEGIN { print (a < b) ? a : b }')
        if [ -z "$bm" ] || [ "$m" -lt "$bm" ]; then bm=$m; fi
    done
    printf '%s | %s' "$bt" "$((bm / 1024))"
}
printf '| customers | script | explain (s) | RSS (MB) | --to shape (s) | RSS (MB) |\n|---|---|---|---|---|---|\n'
for n in "$@"; do
    gen "$n" > "$dir/in.sh"
    printf '| %s | %s KB | %s | %s |\n' "$n" "$(( $(wc -c < "$dir/in.sh") / 1024 ))" \
        "$(best "$bin" explain "$dir/in.sh")" "$(best "$bin" explain "$dir/in.sh" --to shape)"
done
