#!/bin/sh
# Compile scaling in one run: `tcc compile` of bench/gen.sh configs written out one class per
# line (N classes + N host matches), small and large, and the large/small ratios; then
# bench/fleet.sh (`tcc check` of 1,000 hosts x 50 classes).
#   bench/scale.sh [SMALL [LARGE]]        (default: 5000 50000)
# Wall time, CPU (user+sys) and peak RSS are the best of 3 runs of the release binary.
# Instructions are counted by callgrind (valgrind), one run each: they do not depend on what
# else the machine runs, so they show the scaling when timings are noisy. SCALE_CALLGRIND=0
# leaves them out (callgrind of the large config takes about a minute).
set -eu
cd "$(dirname "$0")/.."
# TCC=path/to/tcc measures that binary instead (to compare builds).
[ -n "${TCC:-}" ] || [ -n "${TCC_NO_BUILD:-}" ] || cargo build --release --quiet
bin=${TCC:-target/release/tcc}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
small=${1:-5000}
large=${2:-50000}
counting=${SCALE_CALLGRIND:-1}
command -v valgrind >/dev/null || counting=0

# best N: wall, CPU and peak RSS (KB) of `tcc compile` of $dir/in-N.shape, best of 3.
best() {
    best_t=; best_c=; best_m=
    for _ in 1 2 3; do
        /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$bin" compile "$dir/in-$1.shape" \
            -o "$dir/out-$1.sh" 2>/dev/null
        read -r t u s m < "$dir/time"
        best_t=$(awk -v a="$t" -v b="${best_t:-1e9}" 'BEGIN { print (a < b) ? a : b }')
        best_c=$(awk -v a="$u" -v s="$s" -v b="${best_c:-1e9}" 'BEGIN { print (a + s < b) ? a + s : b }')
        if [ -z "$best_m" ] || [ "$m" -lt "$best_m" ]; then best_m=$m; fi
    done
    echo "$best_t $best_c $best_m"
}

# instructions N: instructions executed by `tcc compile` of $dir/in-N.shape (callgrind).
instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg" "$bin" compile "$dir/in-$1.shape" \
        -o /dev/null 2>&1 | awk '/Collected :/ { print $NF }'
}

printf '| written out (classes + matches) | input | compile, wall (s) | CPU user+sys (s) | peak RSS (MB) | instructions |\n|---|---|---|---|---|---|\n'
for n in "$small" "$large"; do
    bench/gen.sh "$n" > "$dir/in-$n.shape"
    set -- $(best "$n")
    eval "t_$n=$1 c_$n=$2 m_$n=$3"
    if [ "$counting" = 1 ]; then i=$(instructions "$n"); else i=-; fi
    eval "i_$n=$i"
    printf '| %s | %s KB | %s | %s | %s | %s |\n' "$n" "$(( $(wc -c < "$dir/in-$n.shape") / 1024 ))" \
        "$1" "$2" "$(( $3 / 1024 ))" "$i"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "-") printf "%.1f", a / b; else print "-" }'; }
eval "printf '| ratio %s / %s | | %s | %s | %s | %s |\n' $large $small \
    \$(ratio \$t_$large \$t_$small) \$(ratio \$c_$large \$c_$small) \
    \$(ratio \$m_$large \$m_$small) \$(ratio \$i_$large \$i_$small)"
echo
TCC="$bin" bench/fleet.sh
