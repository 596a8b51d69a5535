#!/bin/sh
# Time and peak memory of `tcc explain` and `tcc explain --to shape` (which also compiles the
# import and checks it is equivalent) on generated per-customer scripts: N HTB classes and N
# iptables CLASSIFY rules, one per customer address, without RETURN rules (last match wins).
#   bench/explain.sh [N ...]        (default: 1000 5000 20000; `-` for none)
# Each figure is the best of 3 runs of the release binary.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/tcc
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
[ $# -gt 0 ] || set -- 1000 5000 20000
[ "$1" = "-" ] && set --  # `-`: only the rows below
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
        t=$(tail -n 1 "$dir/time" | cut -d' ' -f1)  # the last line: a failing run adds one
        m=$(tail -n 1 "$dir/time" | cut -d' ' -f2)
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

# Plain iptables scripts (3 tc lines, then N CLASSIFY rules to one class) and scripts that
# multiply their work: each must end soon, in little memory, with S0001 (issue 9's budget).
#   BENCH_LINES="100000 1000000" (default) sets the sizes.
printf '\n| input | bytes | explain (s) | RSS (MB) |\n|---|---|---|---|\n'
row() { printf '| %s | %s | %s |\n' "$1" "$(wc -c < "$dir/in.sh")" "$(best "$bin" explain "$dir/in.sh")"; }
for n in ${BENCH_LINES:-100000 1000000}; do
    {
        echo "tc qdisc add dev eth0 root handle 1: htb default 2"
        echo "tc class add dev eth0 parent 1: classid 1:1 htb rate 100mbit"
        echo "tc class add dev eth0 parent 1:1 classid 1:2 htb rate 10mbit"
        awk -v n="$n" 'BEGIN{for(i=0;i<n;i++){printf "iptables -t mangle -A POSTROUTING -o eth0 -d 10.%d.%d.%d -j CLASSIFY --set-class 1:2\n", int(i/62500), int(i/250)%250, i%250+1}}'
    } > "$dir/in.sh"
    row "$n iptables lines"
done
deep() { awk -v o="$1" -v m="$2" -v c="$3" 'BEGIN{for(i=0;i<10000;i++)printf "%s",o; printf "%s",m; for(i=0;i<10000;i++)printf "%s",c; print ""}'; }
printf ':(){ :|:& };:\n' > "$dir/in.sh"; row "fork bomb"
printf 'f() { tc qdisc add dev eth0 root htb; f; f; }\nfor i in $(seq 1 65536); do f; done\n' > "$dir/in.sh"; row "self-calling function in a loop"
{ echo 'a=x'; for _ in $(seq 60); do echo 'a=$a$a'; done; echo 'tc qdisc add dev $a root htb'; } > "$dir/in.sh"; row '`a=$a$a` 60 times'
deep '{ ' 'tc qdisc add dev eth0 root htb' '; }' > "$dir/in.sh"; row "10,000 nested { }"
{ printf 'echo '; deep '$(echo ' x ')'; } > "$dir/in.sh"; row '10,000 nested $(...)'
printf 'for i in $(seq 1 1000000000); do tc qdisc add dev eth0 root htb; done\n' > "$dir/in.sh"; row '`$(seq 1 1000000000)`'
{ printf 'for i in $(seq 1 65536); do\ntc -batch - <<EOF\n'; awk 'BEGIN{for(i=0;i<200000;i++)print "class add dev eth0 parent 1: classid 1:1 htb rate 1mbit"}'; printf 'EOF\ndone\n'; } > "$dir/in.sh"; row "200,000-line here-document in a loop"
