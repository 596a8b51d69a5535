#!/bin/sh
# Compile time and peak memory of `tcc compile` for generated configs of N classes + N matches.
#   bench/compile.sh [N ...]        (default: 1000 10000 50000)
# Prints a table; each figure is the best of 3 runs of the release binary.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/tcc
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
[ $# -gt 0 ] || set -- 1000 10000 50000
printf '| classes + matches | input | output | compile (s) | peak RSS (MB) |\n|---|---|---|---|---|\n'
for n in "$@"; do
    bench/gen.sh "$n" > "$dir/in.shape"
    best_t=; best_m=
    for _ in 1 2 3; do
        /usr/bin/time -f '%e %M' -o "$dir/time" "$bin" compile "$dir/in.shape" -o "$dir/out.sh" 2>/dev/null
        read -r t m < "$dir/time"
        best_t=$(awk -v a="$t" -v b="${best_t:-1e9}" 'BEGIN { print (a < b) ? a : b }')
        if [ -z "$best_m" ] || [ "$m" -lt "$best_m" ]; then best_m=$m; fi
    done
    printf '| %s | %s KB | %s KB | %s | %s |\n' "$n" "$(( $(wc -c < "$dir/in.shape") / 1024 ))" \
        "$(( $(wc -c < "$dir/out.sh") / 1024 ))" "$best_t" "$(( best_m / 1024 ))"
done
