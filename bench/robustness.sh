#!/bin/sh
# Time and peak memory of `tcc check` on the hostile inputs of issue 10 (the same cases as
# tests/robustness.rs, which asserts the diagnostics but no timings). Target: each under 2 s
# and 200 MB.
#   bench/robustness.sh
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/tcc
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
{
    echo 'let a = "xxxxxxxx"'
    i=0; while [ $i -lt 30 ]; do echo 'let a = "${a}${a}"'; i=$((i + 1)); done
    printf 'interface eth0 {\n default c\n class "${a}" { rate 1mbit }\n}\n'
} > "$dir/string-doubling.shape"
{
    echo 'let a = [1]'
    i=0; while [ $i -lt 30 ]; do echo 'let a = [$a, $a]'; i=$((i + 1)); done
    printf 'interface eth0 {\n default c\n class c { rate 1mbit }\n}\n'
} > "$dir/list-doubling.shape"
awk 'BEGIN { print "interface eth0 {\n default c0"
             for (i = 0; i < 40000; i++) printf " class c%d { rate 2mbit; ceil 1mbit }\n", i
             print "}" }' > "$dir/40k-E0202.shape"
awk 'BEGIN { printf "let x = \"\\\\\\\\\"\ninterface eth0 { default a; class a { rate 1mbit }\n"
             for (i = 0; i < 200000; i++) printf "class c { "
             print "" }' > "$dir/escaped-quote-200k-nesting.shape"
cp tests/data/fuzz-slow-unknown-property-loop.shape tests/data/fuzz-oom-nested-loops.shape "$dir/"
printf '\357\273\277interface eth0 {\n default a\n class a { rate 1mbit }\n}\n' > "$dir/bom.shape"
printf '| input | format | exit | time (s) | peak RSS (MB) |\n|---|---|---|---|---|\n'
for f in "$dir"/*.shape; do
    for fmt in human json; do
        set +e
        /usr/bin/time -f '%e %M' -o "$dir/time" "$bin" check --format "$fmt" "$f" > /dev/null 2>&1
        code=$?
        set -e
        read -r t m <<EOT
$(tail -n 1 "$dir/time")
EOT
        printf '| %s | %s | %s | %s | %s |\n' "$(basename "$f" .shape)" "$fmt" "$code" "$t" "$((m / 1024))"
    done
done
