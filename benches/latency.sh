#!/usr/bin/env bash
# End-to-end tick-to-order latency over loopback (issue 7).
#
# Builds kestrel and the harness (release), then runs the harness: a paced loopback
# WebSocket server sends Binance @bookTicker frames, `kestrel run` (live feed ->
# engine with a market maker re-quoting every tick -> Binance gateway) places orders
# on the loopback mock Binance venue, and `kestrel latency` prints the percentiles.
#
# Usage: benches/latency.sh [harness flags]
#   --rate N             book tickers per second (default 10000)
#   --seconds S          seconds of ticks (default 10)
#   --wait W             busy-spin | yield | block (default yield)
#   --pin a,b,c,d        cores of the feed, engine, journal and gateway threads
#   --out DIR            config, journal, run.log and report.txt (default latency-out)
#   --kestrel PATH       kestrel binary (default: next to the harness)
# Examples:
#   benches/latency.sh --wait yield --rate 2000 --seconds 3
#   benches/latency.sh --wait busy-spin --pin 1,2,3,4 --rate 10000 --seconds 10
# Set KESTREL_NO_BUILD=1 to skip the build (e.g. with prebuilt binaries and --kestrel).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
if [ -z "${KESTREL_NO_BUILD:-}" ]; then
    cargo build --release -p kestrel-tools --bin kestrel -p kestrel-benches --bin latency_harness
fi
exec "$target/release/latency_harness" "$@"
