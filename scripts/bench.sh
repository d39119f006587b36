#!/usr/bin/env bash
# scripts/bench.sh — run kipp's benchmarks and write docs/benchmarks.md (`make bench`; setup
# runs first). The file is overwritten each run: a header describing the machine and tool
# versions, then one table row per figure.
#
#   scripts/bench.sh                # all stages
#   scripts/bench.sh core           # only these stages
#   scripts/bench.sh --list
#
# To add a stage: write stage_<name> below and add <name> to STAGES. A stage runs its command,
# and `bench_rows_from LOG COMMAND` turns every `BENCH <name> <value> [unit]` line the command
# printed into a row; or call `bench_row NAME VALUE UNIT COMMAND` yourself. Use `skip "why"`
# when what it measures does not exist yet. Logs: target/bench-logs/.
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/lib/stages.sh
source "$KIPP_ROOT/scripts/lib/stages.sh"
cd "$KIPP_ROOT"

export CARGO_TERM_PROGRESS_WHEN=never
OUT="${KIPP_BENCH_OUT:-$KIPP_ROOT/docs/benchmarks.md}"
LOG_DIR="${KIPP_BENCH_LOG_DIR:-$KIPP_ROOT/target/bench-logs}"
ROWS="$LOG_DIR/rows.md"   # rows collected by the stages (stages run in subshells)

STAGES=(
  core
  web
)

# bench_row NAME VALUE UNIT COMMAND
bench_row() { printf '| %s | %s %s | `%s` |\n' "$1" "$2" "$3" "$4" >>"$ROWS"; }

# bench_rows_from LOG COMMAND — one row per `BENCH <name> <value> [unit]` line in LOG.
bench_rows_from() {
  local log="$1" cmd="$2" tag name value unit n=0
  while read -r tag name value unit; do
    [ "$tag" = BENCH ] || continue
    bench_row "$name" "$value" "${unit:-ns/op}" "$cmd"; n=$((n + 1))
  done < <(grep -E '^BENCH [^ ]+ [^ ]+' "$log" || true)
  [ "$n" -gt 0 ] || { echo "no BENCH lines in the output of: $cmd" >&2; return 1; }
}

# kipp-core micro-benchmarks (crates/core/benches/core.rs): median of 7 batches, host build.
stage_core() {
  [ -f crates/core/benches/core.rs ] || { skip "crates/core/benches/core.rs does not exist yet"; return; }
  local cmd="cargo bench -p kipp-core --bench core" log="$LOG_DIR/core.out"
  $cmd | tee "$log"
  bench_rows_from "$log" "$cmd"
}

# kipp-web: pkg/ sizes (raw, gzip -9) and validation of a 50-line cart in headless Chromium,
# kipp-core wasm vs ajv (OpenAPI schema) vs zod, same page (bench/web-bench.mjs).
stage_web() {
  [ -f pkg/kipp_web_bg.wasm ] || scripts/build-web.sh
  local cmd="node bench/web-bench.mjs" log="$LOG_DIR/web.out"
  $cmd | tee "$log"
  bench_rows_from "$log" "$cmd"
}

# ---------------------------------------------------------------------------------------------
if [ "${1:-}" = "--list" ]; then printf '%s\n' "${STAGES[@]}"; exit 0; fi
[ $# -gt 0 ] && STAGES=("$@")

mkdir -p "$LOG_DIR" "$(dirname "$OUT")"
rm -f "$LOG_DIR"/*.log "$LOG_DIR"/*.out
: >"$ROWS"

ver() { "$@" 2>/dev/null | head -n1 || true; }
cpu="$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null || true)"
header() {
  cat <<EOF
# Benchmarks

Written by \`make bench\` (scripts/bench.sh); every run overwrites this file.

| | |
|---|---|
| date | $(date -u +%Y-%m-%dT%H:%M:%SZ) |
| commit | $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)') |
| machine | $(nproc) cores, ${cpu:-unknown CPU}, $(awk '/^MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) |
| rustc | $(ver rustc --version) |
| node | $(ver node --version) |
| wrangler | $(ver "$KIPP_ROOT/node_modules/.bin/wrangler" --version) |
| chromium | $(ver chromium --version) |

| benchmark | result | command |
|---|---|---|
EOF
}

T0=$(date +%s)
run_stages "$LOG_DIR" "${STAGES[@]}"   # plain call: see scripts/lib/stages.sh
rc=0; [ ${#STAGES_FAILED[@]} -eq 0 ] || rc=1

{ header; cat "$ROWS"; } >"$OUT"
if [ ${#STAGES_SKIPPED[@]} -gt 0 ] || [ ${#STAGES_FAILED[@]} -gt 0 ]; then
  {
    echo
    [ ${#STAGES_SKIPPED[@]} -gt 0 ] && echo "Skipped (not built yet): ${STAGES_SKIPPED[*]}."
    [ ${#STAGES_FAILED[@]} -gt 0 ] && echo "FAILED: ${STAGES_FAILED[*]} (see target/bench-logs/)."
  } >>"$OUT"
fi
stage_summary
echo "total time: $(( $(date +%s) - T0 ))s; wrote ${OUT#"$KIPP_ROOT"/} ($(grep -c '^| ' "$ROWS" || true) rows)"
exit "$rc"
