#!/usr/bin/env bash
# Bounded fuzz run of every cargo-fuzz target (or the ones named), on the stable
# toolchain through RUSTC_BOOTSTRAP=1:
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default 30 s each, all targets)
#
# Seeds each corpus from ../shared/data (KESTREL_DATA overrides), runs each target for
# the given time, prints one line per target (executions, corpus size, crashes) and
# exits 1 if any target crashed; crash inputs are left in fuzz/artifacts/<target>/.
# Needs `cargo install cargo-fuzz`. FUZZ_TARGET_DIR sets the build directory (the first
# build compiles every dependency with sanitizer instrumentation: tens of minutes on
# two cores). FUZZ_JOBS>1 runs that many targets at once.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-30}
shift || true
export RUSTC_BOOTSTRAP=1
data=${KESTREL_DATA:-../../shared/data}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
td=()
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then td=(--target-dir "$FUZZ_TARGET_DIR"); fi
if [ -d "$data" ]; then python3 seed.py "$data" corpus; else echo "no $data: empty corpora"; fi
cargo fuzz build "${td[@]}" >/dev/null
mkdir -p logs
run_one() {
    local t=$1
    mkdir -p "corpus/$t" "artifacts/$t"
    local before
    before=$(find "artifacts/$t" -type f | wc -l)
    local dict=()
    if [ -f "$t.dict" ]; then dict=(-dict="$t.dict"); fi
    set +e
    cargo fuzz run "${td[@]}" "$t" "corpus/$t" -- -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" >"logs/$t.log" 2>&1
    local rc=$?
    set -e
    local execs
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    local after
    after=$(find "artifacts/$t" -type f | wc -l)
    printf '%-24s execs %10s  corpus %6s  new crashes %s  rc %s\n' "$t" "${execs:-?}" \
        "$(find "corpus/$t" -type f | wc -l)" "$((after - before))" "$rc"
    [ "$rc" -eq 0 ]
}
status=0
jobs=${FUZZ_JOBS:-1}
if [ "$jobs" -gt 1 ]; then
    export -f run_one; export secs; export td_s="${td[*]:-}"
    printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'td=($td_s); run_one {}' || status=1
else
    for t in "${targets[@]}"; do run_one "$t" || status=1; done
fi
exit $status
