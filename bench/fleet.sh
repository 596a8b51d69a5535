#!/bin/sh
# Time and peak memory of `tcc check` on generated site files: H hosts x C classes, every host
# written out in full (its own interface block and classes, no template: the text grows with
# H x C), every class on one of 5 shared paths, so the cross-host sums see every class. The
# files are clean (explicit quantums, no hints), so the time is the check, not rendering.
#   bench/fleet.sh [HOSTS [CLASSES]]      (default: 1000 50)
# Also the same site written with a template and loops (hosts in blocks of 250). Best of 3 runs of the release binary.
set -eu
cd "$(dirname "$0")/.."
# TCC=path/to/tcc measures that binary instead (to compare builds).
[ -n "${TCC:-}" ] || [ -n "${TCC_NO_BUILD:-}" ] || cargo build --release --quiet
bin=${TCC:-target/release/tcc}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
hosts=${1:-1000}
classes=${2:-50}

gen_full() {
    awk -v H="$hosts" -v C="$classes" 'BEGIN {
        for (p = 0; p < 5; p++) printf "path p%d { rate 100gbit; rtt 80ms }\n", p
        for (h = 1; h <= H; h++) {
            printf "host h%d {\n    address 10.%d.%d.%d\n    interface eth0 {\n        rate 1gbit\n        r2q 1000\n        default c1\n", h, int(h / 65536) % 256, int(h / 256) % 256, h % 256
            for (c = 1; c <= C; c++)
                printf "        class c%d { rate 1mbit; ceil 10mbit; quantum 1514; path p%d; match tcp dport %d }\n", c, c % 5, 1000 + c
            printf "    }\n}\n"
        }
    }'
}

gen_loop() {
    awk -v H="$hosts" -v C="$classes" 'BEGIN {
        for (p = 0; p < 5; p++) printf "path p%d { rate 100gbit; rtt 80ms }\n", p
        printf "template node {\n    interface eth0 {\n        rate 1gbit\n        r2q 1000\n        default c1\n"
        for (c = 1; c <= C; c++)
            printf "        class c%d { rate 1mbit; ceil 10mbit; quantum 1514; path p%d; match tcp dport %d }\n", c, c % 5, 1000 + c
        printf "    }\n}\n"
        printf "for a in 1..%d {\n    for b in 1..250 {\n        host \"h${a}-${b}\" : node { address \"10.${a}.${b}.1\" }\n    }\n}\n", int((H + 249) / 250)
    }'
}

printf '| site (%s hosts x %s classes) | input | check, wall (s) | check, CPU user+sys (s) | peak RSS (MB) |\n|---|---|---|---|---|\n' "$hosts" "$classes"
for form in full loop; do
    "gen_$form" > "$dir/site.shape"
    best_t=; best_c=; best_m=
    for _ in 1 2 3; do
        /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$bin" check "$dir/site.shape" 2>"$dir/err" || {
            echo "tcc check failed on the $form site:" >&2
            "$bin" check "$dir/site.shape" 2>&1 | tail -20 >&2
            exit 1
        }
        if [ -s "$dir/err" ]; then echo "diagnostics on the $form site:" >&2; head -20 "$dir/err" >&2; exit 1; fi
        read -r t u s m < "$dir/time"
        best_t=$(awk -v a="$t" -v b="${best_t:-1e9}" 'BEGIN { print (a < b) ? a : b }')
        best_c=$(awk -v a="$u" -v s="$s" -v b="${best_c:-1e9}" 'BEGIN { print (a + s < b) ? a + s : b }')
        if [ -z "$best_m" ] || [ "$m" -lt "$best_m" ]; then best_m=$m; fi
    done
    printf '| %s | %s KB | %s | %s | %s |\n' "$form" "$(( $(wc -c < "$dir/site.shape") / 1024 ))" "$best_t" "$best_c" "$(( best_m / 1024 ))"
done
