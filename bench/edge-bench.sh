#!/usr/bin/env bash
# bench/edge-bench.sh — edge worker figures as `BENCH <name> <value> <unit>` lines:
# bundle size (wrangler deploy --dry-run), GET session and webhook verify+apply throughput and
# latency at 32 concurrent clients for the Rust worker and the TypeScript baseline
# (bench/ts-worker) in the same workerd, the CPU each worker's own workerd spends per request
# (`*_worker_cpu`, and `*_cpu_vs_ts` = TS's / kipp's), and webhook → WebSocket push latency.
# KIPP_BENCH_SECS (default 5) bounds each load run; KIPP_BENCH_DEADLINE_SECS (default 150) the
# whole of bench/edge-bench.mjs, which starts a fresh emulator + wrangler dev (+ fresh
# --persist-to state) every time it runs. Needs the emulator binary and the worker build.
# On failure the last line starting with `BENCH_FAILED` says why.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$KIPP_ROOT"
[ -n "${KIPP_WORKER_SKIP_BUILD:-}" ] || scripts/edge-build.sh >/dev/null 2>&1
cargo build -q -p kipp-cli --bin kipp
out="target/edge-dry-run"
rm -rf "$out"
timeout 120 wrangler deploy --dry-run --outdir "$out" >/dev/null 2>&1 \
  || { echo "BENCH_FAILED wrangler deploy --dry-run of the Rust worker failed or took over 120 s" >&2; exit 1; }
raw=$(cat "$out"/*.wasm "$out"/*.js 2>/dev/null | wc -c)
gz=$(cat "$out"/*.wasm | gzip -9 | wc -c)
gzjs=$(cat "$out"/*.js | gzip -9 | wc -c)
echo "BENCH edge_bundle_raw $raw bytes"
echo "BENCH edge_bundle_gzip $((gz + gzjs)) bytes"
# exec: node gets the SIGTERM of a time limit directly and stops the servers it started.
exec node bench/edge-bench.mjs
