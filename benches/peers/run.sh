#!/usr/bin/env bash
# Side-by-side backtest throughput: Kestrel, NautilusTrader and hftbacktest on the same
# generated data with the same cancel/replace market maker (see BENCHMARKS.md,
# "Side by side with peers"). One command:
#
#   benches/peers/run.sh [-n QUOTES] [--nautilus-limit QUOTES] [--repeat R]
#                        [--modes "mm none"] [--clock wall|cpu] [--venv DIR]
#                        [--peers DIR] [--pgo] [--keep]
#
# 1. generates the data with ../shared/peers/gen_data.py into a temporary directory;
# 2. per mode, runs hftbacktest and Kestrel on all of it, NautilusTrader and Kestrel on
#    its first --nautilus-limit quotes (NautilusTrader runs at ~650 events/s with the
#    market maker), and Kestrel journaling every input and output (mm only);
# 3. prints the throughput and ratio tables, versions and load averages.
#
# Peers come from the virtual environment --venv (default $PEERS_VENV, else
# /work/peers-venv): python3 -m venv DIR && DIR/bin/pip install -r ../shared/peers/requirements.txt
# A peer that cannot be imported is skipped with the reason; gen_data.py needs numpy
# and pandas. Kestrel is built with the `perf` profile (fat LTO, one codegen unit).
# --clock cpu compares CPU seconds of each process instead of wall time
# (use it when other work shares the machine). --pgo also builds peer-mm with
# profile-guided optimisation (benches/peers/pgo.sh: trained on data of another seed
# and size) and runs it next to the plain build as "Kestrel (PGO)".
# Set CARGO_TARGET_DIR as for cargo.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n=1000000
nlimit=20000
repeat=3
modes="mm none"
clock=wall
venv="${PEERS_VENV:-/work/peers-venv}"
peers="$root/../shared/peers"
keep=0
pgo=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) n="$2"; shift 2 ;;
        --nautilus-limit) nlimit="$2"; shift 2 ;;
        --repeat) repeat="$2"; shift 2 ;;
        --modes) modes="$2"; shift 2 ;;
        --clock) clock="$2"; shift 2 ;;
        --venv) venv="$2"; shift 2 ;;
        --peers) peers="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        --pgo) pgo=1; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$clock" in wall|cpu) ;; *) echo "--clock must be wall or cpu" >&2; exit 2 ;; esac
[ -f "$peers/gen_data.py" ] || { echo "no gen_data.py under $peers (--peers DIR)" >&2; exit 2; }

py="$venv/bin/python"
[ -x "$py" ] || py=python3
if ! "$py" -c 'import numpy, pandas' 2>/dev/null; then
    echo "gen_data.py needs numpy and pandas ($py has not both): python3 -m venv $venv && $venv/bin/pip install -r $peers/requirements.txt" >&2
    exit 2
fi

tmp="$(mktemp -d -t kestrel-peers.XXXXXX)"
if [ "$keep" = 1 ]; then echo "keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
log="$tmp/log"
: >"$log"
say() { echo "$@" | tee -a "$log"; }
load() { say "#! load_average $1: $(cut -d' ' -f1-3 /proc/loadavg)"; }

(cd "$root" && cargo build --profile perf -q -p kestrel-benches --bin peer-mm)
kestrel="${CARGO_TARGET_DIR:-$root/target}/perf/peer-mm"
[[ "$kestrel" = /* ]] || kestrel="$root/$kestrel"
builds=(kestrel)
if [ "$pgo" = 1 ]; then
    "$here/pgo.sh" "$tmp/peer-mm-pgo" "$py"
    builds+=(kestrel-pgo)
fi
bin_of() { if [ "$1" = kestrel-pgo ]; then echo "$tmp/peer-mm-pgo"; else echo "$kestrel"; fi; }

peer_ok() { # engine module -> 0 if importable, else prints a skip line
    local err
    if err="$("$py" -c "import $2" 2>&1)"; then return 0; fi
    say "### skip $1 cannot import $2 with $py: $(echo "$err" | tail -1)"
    return 1
}
has_hft=0; peer_ok hftbacktest hftbacktest && has_hft=1
has_nt=0; peer_ok nautilus nautilus_trader && has_nt=1

say "#! machine $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
say "#! kestrel $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown), $(rustc -V)"
say "#! python $("$py" -c 'import sys; print(sys.version.split()[0])')"
say "#! packages $("$py" - <<'PY'
from importlib import metadata
out = []
for p in ("nautilus_trader", "hftbacktest", "numba", "numpy", "pandas"):
    try:
        out.append(f"{p} {metadata.version(p)}")
    except metadata.PackageNotFoundError:
        out.append(f"{p} missing")
print(", ".join(out))
PY
)"
say "#! clock $clock"
say "#! data $n quotes (gen_data.py seed 42); NautilusTrader and its Kestrel pair on the first $nlimit"

data="$tmp/data"
hft_flag=""; [ "$has_hft" = 1 ] || hft_flag="--no-hft"
"$py" "$peers/gen_data.py" -n "$n" --out "$data" $hft_flag | tee -a "$log"
files=("$data/kestrel_quotes_$n.csv" "$data/kestrel_trades_$n.csv")

peer() { # script args... (timings as CPU seconds with --clock cpu)
    if [ "$clock" = cpu ]; then "$py" "$here/cpu_clock.py" "$@"; else "$py" "$@"; fi
}
section() { say "### $*"; }

for mode in $modes; do
    if [ "$has_hft" = 1 ]; then
        load "before hftbacktest $mode"
        section hftbacktest "$mode" all
        peer "$peers/hftbacktest_bench.py" -n "$n" --mode "$mode" --repeat "$repeat" --data "$data" 2>&1 | tee -a "$log"
    fi
    load "before Kestrel $mode"
    for b in "${builds[@]}"; do
        section "$b" "$mode" all
        "$(bin_of "$b")" "${files[@]}" --mode "$mode" --repeat "$repeat" | tee -a "$log"
    done
    if [ "$mode" = mm ]; then
        for b in "${builds[@]}"; do
            section "$b" "$mode" all journal
            "$(bin_of "$b")" "${files[@]}" --mode "$mode" --repeat "$repeat" --journal "$tmp/journal" | tee -a "$log"
            rm -rf "$tmp/journal"
        done
    fi
    if [ "$has_nt" = 1 ]; then
        load "before NautilusTrader $mode"
        section nautilus "$mode" "first-$nlimit"
        peer "$peers/nautilus_bench.py" -n "$n" --mode "$mode" --limit "$nlimit" --repeat "$repeat" --data "$data" 2>&1 | tee -a "$log"
    fi
    for b in "${builds[@]}"; do
        section "$b" "$mode" "first-$nlimit"
        "$(bin_of "$b")" "${files[@]}" --mode "$mode" --limit "$nlimit" --repeat "$repeat" | tee -a "$log"
    done
done
load "at the end"

echo
python3 "$here/summary.py" "$log" --clock "$clock"
