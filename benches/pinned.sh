#!/usr/bin/env bash
# Tick-to-order on pinned threads, every measurement in one command (issue 7): for a
# machine with at least five free cores, e.g. a lent one that cannot build.
#
#   benches/pinned.sh --build pinned-bin         build (profile `perf`), strip, copy the
#                                                binaries to pinned-bin/ (git-ignored)
#   benches/pinned.sh --bin pinned-bin [options]  run everything with those binaries
#
# Options of a run:
#   --cores a,b,c,d   cores of the feed, engine, journal and gateway threads (default 2,3,4,5)
#   --out DIR         report.md, logs and journals (default pinned-out)
#   --quick           short runs (a smoke test on a small machine)
#
# What it runs, in order, each one recording its command and output in report.md:
#   1. the machine (lscpu, kernel, clocksource);
#   2. `ring_hop` hop and pipeline layouts (the bare ring hand-offs, prefetch on/off);
#   3. `requote_hop` (engine -> gateway with the runtime's hold, one re-quoting tick);
#   4. `kestrel run examples/quote_replace.toml` busy-spin and yield, then `kestrel
#      latency` (the internal tick-to-order: synthetic feed -> engine -> simulated venue);
#   5. `latency_harness` busy-spin (loopback WebSocket feed -> Binance gateway -> mock venue).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bins="ring_hop requote_hop latency_harness"

if [ "${1:-}" = "--build" ]; then
    dest="${2:?--build needs a directory}"
    target="${CARGO_TARGET_DIR:-target}"
    cargo build --profile perf -p kestrel-tools --bin kestrel -p kestrel-benches \
        --bin ring_hop --bin requote_hop --bin latency_harness
    mkdir -p "$dest"
    for b in kestrel $bins; do
        cp "$target/perf/$b" "$dest/$b"
        strip "$dest/$b"
    done
    du -sh "$dest"
    exit 0
fi

bin="" cores="2,3,4,5" out="pinned-out" quick=""
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --cores) cores="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        *) echo "pinned.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
[ -n "$bin" ] || { echo "pinned.sh: --bin DIR is required (make it with --build DIR)" >&2; exit 2; }
bin=$(cd "$bin" && pwd)
for b in kestrel $bins; do
    [ -x "$bin/$b" ] || { echo "pinned.sh: $bin/$b is missing (make it with --build DIR)" >&2; exit 2; }
done
IFS=, read -r feed engine journal gateway <<<"$cores"
[ -n "${gateway:-}" ] || { echo "pinned.sh: --cores needs four cores, got $cores" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
report="$out/report.md"
: >"$report"

if [ -n "$quick" ]; then
    hops=20000 events=4000 seconds=2 rounds=1
else
    hops=200000 events=100000 seconds=8 rounds=3
fi

# Runs a command, recording it and its output (or its failure) in the report.
step() {
    echo "\$ $*" | sed "s#$bin/##g; s#$out/##g" >>"$report"
    echo '```' >>"$report"
    "$@" >>"$report" 2>&1 || echo "(exit status $?)" >>"$report"
    echo '```' >>"$report"
    echo >>"$report"
}

{
    echo "# Pinned tick-to-order, $(date -u +%F\ %T) UTC"
    echo
    echo "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown);" \
        "cores: feed $feed, engine $engine, journal $journal, gateway $gateway"
    echo
} >>"$report"
step lscpu
step uname -r
step cat /sys/devices/system/clocksource/clocksource0/current_clocksource

for r in $(seq $rounds); do
    for p in on off; do
        step "$bin/ring_hop" --layout hop --pin "$feed,$engine" --count "$hops" --prefetch $p
    done
    step "$bin/requote_hop" --pin "$engine,$gateway" --count "$hops"
done
step "$bin/ring_hop" --layout pipeline --pin "$cores" --count "$hops"

# The internal tick-to-order: examples/quote_replace.toml with pinned threads.
for wait in busy-spin yield; do
    cfg="$out/qr-$wait.toml"
    sed -e "s/^pin_cores = .*/pin_cores = [$feed, $engine, $journal, $gateway]/" \
        "$root/examples/quote_replace.toml" >"$cfg"
    rm -rf "$out/qr-$wait"
    step "$bin/kestrel" run "$cfg" --journal "$out/qr-$wait" --wait "$wait" --events "$events"
    step "$bin/kestrel" latency "$out/qr-$wait"
done
step "$bin/kestrel" replay --verify "$out/qr-busy-spin"

# End to end over loopback: the harness's WebSocket server and mock venue share the
# remaining cores.
step "$bin/latency_harness" --kestrel "$bin/kestrel" --rate 1000 --seconds "$seconds" \
    --wait busy-spin --pin "$cores" --out "$out/harness"

echo "pinned.sh: report in $report"
