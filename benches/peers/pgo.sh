#!/usr/bin/env bash
# Builds `peer-mm` with profile-guided optimisation (PGO) into OUT:
#
#   benches/peers/pgo.sh OUT [PYTHON]
#
# 1. generates training data with ../shared/peers/gen_data.py, with another seed and
#    size than the data run.sh measures (-n 300000 --seed 7 vs seed 42, 1,000,000);
# 2. builds peer-mm (`perf` profile) instrumented, runs the market maker and the
#    no-strategy replay on the training data;
# 3. merges the profile and rebuilds peer-mm with it.
# Needs an llvm-profdata that reads rustc's raw profiles (LLVM 19 or newer): rustup's
# llvm-tools component (`rustup component add llvm-tools`) or Debian's llvm-19
# (`apt-get install llvm-19`). PYTHON needs numpy and pandas (default python3). Builds
# go to $CARGO_TARGET_DIR (or target/) under pgo-gen/ and pgo-use/; ~5 min on 2 cores.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
[ $# -ge 1 ] || { sed -n '2,14p' "$0"; exit 2; }
out="$1"
py="${2:-python3}"
peers="$root/../shared/peers"
host="$(rustc -vV | sed -n 's/^host: //p')"

profdata=""
for c in "$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata" \
    llvm-profdata-22 llvm-profdata-21 llvm-profdata-20 llvm-profdata-19; do
    if command -v "$c" >/dev/null 2>&1; then profdata="$c"; break; fi
done
if [ -z "$profdata" ]; then
    echo "pgo.sh: no llvm-profdata of LLVM 19 or newer (rustup component add llvm-tools, or apt-get install llvm-19)" >&2
    exit 2
fi

work="$(mktemp -d -t kestrel-pgo.XXXXXX)"
trap 'rm -rf "$work"' EXIT
target="${CARGO_TARGET_DIR:-$root/target}"
[[ "$target" = /* ]] || target="$root/$target"

"$py" "$peers/gen_data.py" -n 300000 --seed 7 --out "$work/data" --no-hft >/dev/null
train=("$work/data/kestrel_quotes_300000.csv" "$work/data/kestrel_trades_300000.csv")

# --target keeps RUSTFLAGS off build scripts and proc macros.
build() { # target-subdir rustflags
    (cd "$root" && RUSTFLAGS="$2" cargo build --profile perf -q -p kestrel-benches \
        --bin peer-mm --target "$host" --target-dir "$target/$1")
}
build pgo-gen "-Cprofile-generate=$work/profile"
gen="$target/pgo-gen/$host/perf/peer-mm"
"$gen" "${train[@]}" --mode mm --repeat 2 >/dev/null
"$gen" "${train[@]}" --mode none >/dev/null
"$profdata" merge -o "$work/merged.profdata" "$work/profile"
build pgo-use "-Cprofile-use=$work/merged.profdata"
cp "$target/pgo-use/$host/perf/peer-mm" "$out"
echo "pgo.sh: $out (profile merged with $profdata)"
