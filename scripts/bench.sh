#!/usr/bin/env bash
# shellcheck disable=SC2317  # stage functions are called indirectly, by run_stages
# scripts/bench.sh — run kipp's benchmarks and write docs/benchmarks.md (`make bench`; setup
# runs first) plus docs/benchmarks.svg. The file is overwritten each run: a header describing the
# machine and tool versions, then per stage a line saying how many of its KIPP_BENCH_RUNS runs
# (default 5) completed, how long they took and why any failed, then one row per figure: the
# median of the completed runs with min–max, the target it is held to and pass/miss, and the
# command. Ratios against a baseline are computed inside each run (same run, same machine), then
# summarised. Every run is bounded in time (RUN_LIMIT below); a run that fails or runs over is
# recorded and the bench goes on with the next run and the next stage. The exit code is 1 when
# any run or stage failed (the table is written anyway).
#
#   scripts/bench.sh                # all stages
#   scripts/bench.sh core web       # only these stages
#   scripts/bench.sh --list
#   KIPP_BENCH_RUNS=1 scripts/bench.sh edge   # a quick look (the file then says n=1)
#
# To add a stage: write stage_<name> below and add <name> to STAGES. A stage builds what it needs
# once, then `bench_runs NAME COMMAND…` runs the command KIPP_BENCH_RUNS times, keeping each run's
# output in target/bench-logs/NAME.runN.out; every `BENCH <name> <value> <unit>` line printed by
# a run that succeeds becomes a sample of that figure (a failing command may print
# `BENCH_FAILED <reason>`, which the table quotes). Targets live in TARGETS below. Use `skip "why"` when what a
# stage measures does not exist yet. The scripts in bench/ are run as they are (not edited here).
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/lib/stages.sh
source "$KIPP_ROOT/scripts/lib/stages.sh"
cd "$KIPP_ROOT"

export CARGO_TERM_PROGRESS_WHEN=never
OUT="${KIPP_BENCH_OUT:-$KIPP_ROOT/docs/benchmarks.md}"
SVG="${OUT%.md}.svg"
LOG_DIR="${KIPP_BENCH_LOG_DIR:-$KIPP_ROOT/target/bench-logs}"
RUNS="${KIPP_BENCH_RUNS:-5}"
MANIFEST="$LOG_DIR/manifest.tsv"   # stage <TAB> display command <TAB> run log (stages run in subshells)

STAGES=(
  core
  web
  edge
  emulator
)

# Targets: figure name → "op value unit-label" (op: le, lt, ge, gt). 1 KB = 1024 bytes.
TARGETS="
web_total_gzip            le 46080   pkg/ wasm + glue ≤ 45 KB gzip
edge_bundle_gzip          le 204800  worker ≤ 200 KB gzip
edge_get_session_vs_ts    ge 1.0     ≥ 1.0× TypeScript
edge_webhook_vs_ts        ge 1.0     ≥ 1.0× TypeScript
edge_webhook_spread_vs_ts ge 1.0     ≥ 1.0× TypeScript
edge_push_p50             le 15      ≤ 15 ms
emulator_create_get_rps   ge 20000   ≥ 20,000 req/s
emulator_peak_rss_100000_sessions lt 200 < 200 MB
kipp_vs_ajv               ge 1.0     ≥ 1.0× ajv
"

# Time limit of ONE run of a stage's command, in seconds (KIPP_BENCH_RUN_LIMIT overrides all).
# A run over its limit gets SIGTERM (then SIGKILL 30 s later) and counts as failed. Typical run
# times on the 2-core machine are in docs/benchmarks.md ("runs" line of each stage).
declare -A RUN_LIMIT=([core]=120 [web]=120 [edge]=180 [emulator]=90)
# Time budget of the whole bench (KIPP_BENCH_BUDGET_SECS, default 20 minutes; a full bench takes
# about 8 on the 2-core machine): once it is used up, no further run or stage starts, and the
# table says which did not. So the worst case is the budget plus one run's limit.
BUDGET="${KIPP_BENCH_BUDGET_SECS:-1200}"
RUNS_FILE="$LOG_DIR/runs.tsv"      # stage <TAB> run <TAB> ok|failed|notrun <TAB> seconds <TAB> reason
budget_left() { echo $(( BUDGET - ($(date +%s) - BENCH_T0) )); }

# run_failure_reason LOG RC LIMIT — one line saying why a run failed.
run_failure_reason() {
  local log="$1" rc="$2" limit="$3" why
  why="$(grep -a '^BENCH_FAILED ' "$log" | tail -n1 | cut -c14- || true)"
  [ -n "$why" ] || why="$(grep -aE '^(kipp: |Error|error|thread .* panicked)' "$log" | tail -n1 || true)"
  [ -n "$why" ] || why="$(grep -av '^BENCH ' "$log" | grep -a '[^[:space:]]' | tail -n1 || true)"
  case "$rc" in
    124|137) why="over its ${limit} s limit, stopped${why:+; last output: $why}" ;;
    0) why="no BENCH lines in its output" ;;
    *) why="exit code $rc${why:+: $why}" ;;
  esac
  printf '%s' "$why" | tr '\t|\r' '   ' | cut -c1-400
}

# bench_runs NAME DISPLAY_COMMAND CMD... — run CMD $RUNS times, each bounded by RUN_LIMIT[NAME];
# each run's output is shown and kept. A run that fails (non-zero exit, no BENCH lines, over its
# limit) is recorded in RUNS_FILE with its reason and its figures are left out; the next run
# starts anyway. Always returns 0: failed runs are reported in the table, not by aborting.
bench_runs() {
  local name="$1" shown="$2" i log rc t0 secs limit pid tailpid; shift 2
  limit="${KIPP_BENCH_RUN_LIMIT:-${RUN_LIMIT[$name]:-300}}"
  for i in $(seq 1 "$RUNS"); do
    log="$LOG_DIR/$name.run$i.out"
    if [ "$(budget_left)" -le 0 ]; then
      printf '%s\t%s\tnotrun\t0\tnot started: the time budget of the bench (%s s, KIPP_BENCH_BUDGET_SECS) was used up\n' "$name" "$i" "$BUDGET" >>"$RUNS_FILE"
      echo "--- $name: run $i of $RUNS not started: the bench's time budget of ${BUDGET} s is used up" >&2
      continue
    fi
    echo "--- $name: run $i of $RUNS (limit ${limit} s): $shown"
    t0=$(date +%s)
    # `timeout` puts the command in a process group of its own and, at the limit, signals that
    # group only. Ctrl-C (which reaches this shell, not that group) is passed on to it.
    : >"$log"
    timeout --kill-after=30 "$limit" "$@" >"$log" 2>&1 </dev/null &
    pid=$!
    tail -n +1 -f --pid="$pid" "$log" &
    tailpid=$!
    trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; kill "$tailpid" 2>/dev/null; echo "--- $name: run $i interrupted" >&2; exit 130' INT TERM
    rc=0
    wait "$pid" || rc=$?
    trap - INT TERM
    wait "$tailpid" 2>/dev/null || true
    secs=$(( $(date +%s) - t0 ))
    if [ "$rc" -eq 0 ] && grep -qE '^BENCH [^ ]+ [^ ]+' "$log"; then
      printf '%s\t%s\t%s\n' "$name" "$shown" "$log" >>"$MANIFEST"
      printf '%s\t%s\tok\t%s\t\n' "$name" "$i" "$secs" >>"$RUNS_FILE"
      echo "--- $name: run $i of $RUNS ok (${secs} s)"
    else
      local why; why="$(run_failure_reason "$log" "$rc" "$limit")"
      printf '%s\t%s\tfailed\t%s\t%s\n' "$name" "$i" "$secs" "$why" >>"$RUNS_FILE"
      echo "--- $name: run $i of $RUNS FAILED after ${secs} s: $why (log: ${log#"$KIPP_ROOT"/}); going on" >&2
    fi
  done
  return 0
}

# kipp-core micro-benchmarks (crates/core/benches/core.rs), host build; each run is itself the
# median of 7 timed batches.
stage_core() {
  [ -f crates/core/benches/core.rs ] || { skip "crates/core/benches/core.rs does not exist yet"; return; }
  cargo bench -p kipp-core --bench core --no-run
  bench_runs core "cargo bench -p kipp-core --bench core" cargo bench -q -p kipp-core --bench core
}

# kipp-web: pkg/ sizes and validation of a 50-line cart in headless Chromium, kipp-core wasm vs
# ajv (OpenAPI schema) vs zod in the same page (bench/web-bench.mjs); ratios are per run.
stage_web() {
  [ -f bench/web-bench.mjs ] || { skip "bench/web-bench.mjs does not exist yet"; return; }
  [ -f pkg/kipp_web_bg.wasm ] || scripts/build-web.sh
  bench_runs web "node bench/web-bench.mjs" node bench/web-bench.mjs
}

# Edge worker: bundle size, GET session and webhook verify+apply at 32 clients, Rust vs the
# TypeScript baseline in the same workerd (ratio per run), webhook → WebSocket push latency
# (bench/edge-bench.sh). The worker is built once; the TypeScript baseline's bundle is measured
# here with the same wrangler dry run.
stage_edge() {
  [ -f bench/edge-bench.sh ] || { skip "bench/edge-bench.sh does not exist yet"; return; }
  scripts/edge-build.sh >/dev/null
  cargo build -p kipp-cli --bin kipp
  # tests/edge/harness.mjs runs target/release/kipp when there is one (else target/debug/kipp):
  # if there is one, bring it up to date, so the emulator in the bench is the current one.
  if [ -x "$KIPP_ROOT/target/release/kipp" ]; then cargo build --release -p kipp-cli --bin kipp; fi
  # (--outdir is absolute: wrangler resolves a relative one against the config's folder.)
  local ts="$KIPP_ROOT/target/bench-ts-dry-run" log="$LOG_DIR/edge-ts-bundle.out"
  rm -rf "$ts"
  timeout 120 wrangler deploy --dry-run --config bench/ts-worker/wrangler.toml --outdir "$ts" >/dev/null 2>&1
  ls "$ts"/*.js >/dev/null || { echo "no TypeScript baseline bundle in $ts" >&2; return 1; }
  {
    echo "BENCH ts_baseline_bundle_raw $(cat "$ts"/*.js | wc -c) bytes"
    echo "BENCH ts_baseline_bundle_gzip $(cat "$ts"/*.js | gzip -9 | wc -c) bytes"
  } | tee "$log"
  printf '%s\t%s\t%s\n' edge "wrangler deploy --dry-run --config bench/ts-worker/wrangler.toml" "$log" >>"$MANIFEST"
  KIPP_WORKER_SKIP_BUILD=1 bench_runs edge "bench/edge-bench.sh" bench/edge-bench.sh
}

# The emulator's load generator (`kipp bench-emulator`), native profile (opt-level 3, thin LTO):
# create+get req/s and latency at 64 clients, webhook deliveries/s, peak RSS at 100k sessions.
stage_emulator() {
  [ -d crates/cli ] || { skip "crates/cli does not exist yet"; return; }
  cargo build --profile native -p kipp-cli --bin kipp
  local bin="${CARGO_TARGET_DIR:-$KIPP_ROOT/target}/native/kipp"
  bench_runs emulator "cargo run --profile native -p kipp-cli -- bench-emulator" "$bin" bench-emulator
}

# ---------------------------------------------------------------------------------------------
if [ "${1:-}" = "--list" ]; then printf '%s\n' "${STAGES[@]}"; exit 0; fi
[ $# -gt 0 ] && STAGES=("$@")

mkdir -p "$LOG_DIR" "$(dirname "$OUT")"
rm -f "$LOG_DIR"/*.log "$LOG_DIR"/*.out
: >"$MANIFEST"
: >"$RUNS_FILE"

ver() { "$@" 2>/dev/null | head -n1 || true; }
cpu="$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null || true)"
workerd_ver="$(node -p "require('$KIPP_ROOT/node_modules/workerd/package.json').version" 2>/dev/null || echo unknown)"
header() {
  cat <<EOF
# Benchmarks

Written by \`make bench\` (scripts/bench.sh); every run overwrites this file and
[benchmarks.svg](benchmarks.svg). Each stage's command is run $RUNS times; each figure is the
**median of the runs that completed** (n = how many; min–max beside it), all on the machine below,
in one \`make bench\`. Under each stage: how many runs completed, how long they took, and why
any run failed (a failed run's figures are left out). Ratios (× TypeScript, × ajv, × zod) are measured
inside each run against the baseline running on the same machine at the same time, then
summarised the same way — the machine is shared and noisy, so absolute times alone mean little.
Edge: \`edge_ts_*\` is the TypeScript baseline doing per request what the route requires of kipp
(one JSON log line, the revocation check) and deployed as kipp is (Workers Assets in front, the same
run_worker_first patterns); \`edge_ts_bare_*\` is the same worker without assets (what sessions 1–3
called \`edge_ts_*\`); \`edge_ts_minimal_*\` is the bare worker without log line or revocation check
(bench/ts-worker/). All run under the same wrangler launcher as kipp (scripts/lib/wrangler-dev.mjs).
\`*_webhook_*\` sends every delivery for one session: kipp's deliveries that arrive while the
session's re-read from Kustom runs share the next one (docs/edge.md § Webhook answers), the
TypeScript worker re-reads once per delivery. \`*_webhook_spread_*\` sends them round robin over 32
sessions, so that nearly every delivery makes its own re-read in both: what one delivery costs.
1 KB = 1024 bytes; gzip is \`gzip -9\`.

| | |
|---|---|
| date | $(date -u +%Y-%m-%dT%H:%M:%SZ) |
| commit | $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)') |
| machine | $(nproc) cores, ${cpu:-unknown CPU}, $(awk '/^MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); load average at start $(cut -d' ' -f1-3 /proc/loadavg) |
| rustc | $(ver rustc --version) |
| node | $(ver node --version) |
| wrangler / workerd | $(ver "$KIPP_ROOT/node_modules/.bin/wrangler" --version) / workerd $workerd_ver |
| chromium | $(ver chromium --version 2>/dev/null) |
| runs per stage | $RUNS (KIPP_BENCH_RUNS); each bounded in time (RUN_LIMIT in scripts/bench.sh) |

EOF
}
header >"$LOG_DIR/header.md"

T0=$(date +%s)
BENCH_T0=$T0
# One run_stages call per stage: run_stages stops at the first failed stage, and a bench goes on
# to the next stage (a stage fails only when it cannot build what it measures; failed runs are
# recorded by bench_runs and do not fail the stage).
ALL_PASSED=(); ALL_FAILED=(); ALL_SKIPPED=(); ALL_TIMES=()
STAGES_FILE="$LOG_DIR/stages.tsv"   # stage <TAB> ok|failed|skipped <TAB> seconds
: >"$STAGES_FILE"
INTERRUPTED=""
trap 'INTERRUPTED=1' INT TERM   # Ctrl-C: the running stage stops its run (above), then the bench ends
for stage in "${STAGES[@]}"; do
  if [ "$(budget_left)" -le 0 ]; then
    echo "==> $stage: not started: the bench's time budget of ${BUDGET} s is used up" >&2
    for i in $(seq 1 "$RUNS"); do
      printf '%s\t%s\tnotrun\t0\tnot started: the time budget of the bench (%s s, KIPP_BENCH_BUDGET_SECS) was used up\n' "$stage" "$i" "$BUDGET" >>"$RUNS_FILE"
    done
    printf '%s\tnotrun\t0\n' "$stage" >>"$STAGES_FILE"
    continue
  fi
  run_stages "$LOG_DIR" "$stage"   # plain call: see scripts/lib/stages.sh
  if [ -n "$INTERRUPTED" ]; then echo "interrupted: docs/benchmarks.md not rewritten" >&2; exit 130; fi
  ALL_PASSED+=("${STAGES_PASSED[@]}"); ALL_FAILED+=("${STAGES_FAILED[@]}"); ALL_SKIPPED+=("${STAGES_SKIPPED[@]}"); ALL_TIMES+=("${STAGE_TIMES[@]}")
  status=ok
  [ ${#STAGES_FAILED[@]} -eq 0 ] || status=failed
  [ ${#STAGES_SKIPPED[@]} -eq 0 ] || status=skipped
  printf '%s\t%s\t%s\n' "$stage" "$status" "$(t="${STAGE_TIMES[0]:-x=0}"; echo "${t#*=}")" >>"$STAGES_FILE"
done
STAGES_PASSED=("${ALL_PASSED[@]}"); STAGES_FAILED=("${ALL_FAILED[@]}"); STAGES_SKIPPED=("${ALL_SKIPPED[@]}"); STAGE_TIMES=("${ALL_TIMES[@]}")
RUNS_FAILED=$(awk -F'\t' '$3 != "ok"' "$RUNS_FILE" | wc -l)
rc=0; [ ${#STAGES_FAILED[@]} -eq 0 ] && [ "$RUNS_FAILED" -eq 0 ] || rc=1

# The table and the plot, from every completed run's BENCH lines.
node - "$MANIFEST" "$LOG_DIR/header.md" "$OUT" "$SVG" "$TARGETS" "$RUNS_FILE" "$STAGES_FILE" "$RUNS" <<'NODE'
const fs = require('fs');
const path = require('path');
const [manifest, headerFile, out, svgOut, targetsText, runsFile, stagesFile, runsWanted] = process.argv.slice(2);
const tsv = (f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
const runs = tsv(runsFile).map(([stage, run, status, secs, reason]) => ({ stage, run: Number(run), status, secs: Number(secs), reason }));
const stageStatus = new Map(tsv(stagesFile).map(([stage, status, secs]) => [stage, { status, secs: Number(secs) }]));
const targets = {};
for (const line of targetsText.split('\n')) {
  const m = /^(\S+)\s+(le|lt|ge|gt)\s+(\S+)\s+(.*)$/.exec(line.trim());
  if (m) targets[m[1]] = { op: m[2], value: Number(m[3]), label: m[4].trim() };
}
const figures = new Map();   // name → {stage, cmd, unit, values[]}
for (const row of fs.readFileSync(manifest, 'utf8').split('\n').filter(Boolean)) {
  const [stage, cmd, log] = row.split('\t');
  for (const l of fs.readFileSync(log, 'utf8').split('\n')) {
    const m = /^BENCH (\S+) (\S+)(?: (.*))?$/.exec(l.trim());
    if (!m || !Number.isFinite(Number(m[2]))) continue;
    const f = figures.get(m[1]) ?? { stage, cmd, unit: (m[3] ?? 'ns/op').trim(), values: [] };
    f.values.push(Number(m[2]));
    figures.set(m[1], f);
  }
}
// Derived per run: kipp-core wasm validation (in Chromium) as ns/op, next to the native figure.
const kippOps = figures.get('validate_50_lines_kipp_wasm');
if (kippOps) figures.set('validate_50_lines_kipp_wasm_ns', { stage: 'web', cmd: kippOps.cmd, unit: 'ns/op', values: kippOps.values.map((v) => 1e9 / v) });
const median = (a) => { const s = [...a].sort((x, y) => x - y); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const fmt = (v, unit) => {
  if (unit === 'bytes') return `${Math.round(v).toLocaleString('en-US')} B (${(v / 1024).toFixed(1)} KB)`;
  if (unit === 'x') return `${v.toFixed(2)}×`;
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return String(Number(v.toPrecision(3)));
};
const fmtRange = (a, unit) => {
  const lo = Math.min(...a), hi = Math.max(...a);
  if (unit === 'bytes') return lo === hi ? 'same every run' : `${Math.round(lo).toLocaleString('en-US')}–${Math.round(hi).toLocaleString('en-US')}`;
  return `${fmt(lo, unit === 'x' ? 'x' : '')}–${fmt(hi, unit === 'x' ? 'x' : '')}`;
};
const verdict = (name, v) => {
  const t = targets[name];
  if (!t) return ['', ''];
  const ok = { le: v <= t.value, lt: v < t.value, ge: v >= t.value, gt: v > t.value }[t.op];
  return [t.label, ok ? 'pass' : '**miss**'];
};
const order = ['core', 'web', 'edge', 'emulator'];
const titles = { core: 'Core (kipp-core, native)', web: 'Browser (kipp-web in headless Chromium; sizes of pkg/)', edge: 'Edge worker (wrangler dev --local, 32 clients, loopback)', emulator: 'Emulator (`kipp emulator`, native profile)' };
let md = fs.readFileSync(headerFile, 'utf8');
const summary = [];
// "Runs" line of a stage: how many runs completed, how long they took, why any failed.
const runsLine = (stage) => {
  const st = stageStatus.get(stage);
  const mine = runs.filter((r) => r.stage === stage);
  const ok = mine.filter((r) => r.status === 'ok');
  const took = (a) => { const t = a.map((r) => r.secs); return t.length ? (Math.min(...t) === Math.max(...t) ? `${t[0]} s` : `${Math.min(...t)}–${Math.max(...t)} s`) : ''; };
  let line = `**Runs: ${ok.length} of ${runsWanted} completed**`;
  if (ok.length) line += ` (${took(ok)} each)`;
  if (st && st.status !== 'notrun') line += `; the stage took ${Math.round(st.secs)} s in all, builds included`;
  line += '.';
  for (const r of mine.filter((r) => r.status === 'failed')) line += ` Run ${r.run} failed after ${r.secs} s: ${r.reason}.`;
  const notrun = mine.filter((r) => r.status === 'notrun');
  if (notrun.length) line += ` Run${notrun.length > 1 ? 's' : ''} ${notrun.map((r) => r.run).join(', ')} ${notrun[0].reason}.`;
  if (st?.status === 'failed') line += ` **The stage itself failed** (it could not build or prepare what it measures): see target/bench-logs/*-${stage}.log.`;
  if (mine.length < Number(runsWanted) && st?.status !== 'skipped') line += ` ${Number(runsWanted) - mine.length} run(s) never started.`;
  return line + '\n\n';
};
for (const stage of [...order, ...[...stageStatus.keys()].filter((s) => !order.includes(s))]) {
  const rows = [...figures.entries()].filter(([, f]) => f.stage === stage);
  const st = stageStatus.get(stage);
  if (!st && !rows.length) continue;
  if (st?.status === 'skipped') { md += `## ${titles[stage] ?? stage}\n\nSkipped: what it measures does not exist yet.\n\n`; continue; }
  md += `## ${titles[stage] ?? stage}\n\n${runsLine(stage)}`;
  if (!rows.length) { md += 'No figures: no run of this stage completed.\n\n'; continue; }
  md += `| figure | median | min–max | n | target | | command |\n|---|---|---|---|---|---|---|\n`;
  for (const [name, f] of rows) {
    const m = median(f.values);
    const [t, mark] = verdict(name, m);
    if (mark) summary.push({ name, t, mark, m, unit: f.unit });
    const unit = f.unit === 'bytes' || f.unit === 'x' ? '' : ` ${f.unit}`;
    md += `| ${name} | ${fmt(m, f.unit)}${unit} | ${fmtRange(f.values, f.unit)} | ${f.values.length} | ${t} | ${mark} | \`${f.cmd}\` |\n`;
  }
  md += '\n';
}
// Targets whose figure no completed run produced, in a stage that ran: said so, not dropped.
const stageOf = (name) => (/^emulator_/.test(name) ? 'emulator' : /^edge_/.test(name) ? 'edge' : /^(web_|kipp_)/.test(name) ? 'web' : 'core');
const unmeasured = Object.entries(targets).filter(([name]) => !figures.has(name) && stageStatus.has(stageOf(name)));
if (summary.length || unmeasured.length) {
  md += `## Targets\n\n${summary.filter((s) => s.mark === 'pass').length} of ${summary.length + unmeasured.length} met${unmeasured.length ? ` (${unmeasured.length} not measured: no run of their stage completed)` : ''}.\n\n| target | median | |\n|---|---|---|\n`;
  for (const s of summary) md += `| ${s.t} (${s.name}) | ${fmt(s.m, s.unit)}${s.unit === 'bytes' || s.unit === 'x' ? '' : ' ' + s.unit} | ${s.mark} |\n`;
  for (const [name, t] of unmeasured) md += `| ${t.label} (${name}) | no result | **not measured** |\n`;
  md += '\n';
}
md += `![Ratios against the baselines and edge latencies, Rust vs TypeScript](${path.basename(svgOut)})\n`;

// ---- plot: ratios (median, min–max whiskers, 1.0× line) and edge latencies p50/p99 --------------
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
const W = 760, parts = [];
const ratioNames = [['edge_get_session_vs_ts', 'edge GET session vs TS'], ['edge_webhook_vs_ts', 'edge webhook vs TS'], ['edge_webhook_spread_vs_ts', 'webhook over 32 sessions vs TS'], ['edge_webhook_spread_cpu_vs_ts', 'webhook over 32 sessions: TS CPU / kipp CPU'], ['edge_get_session_cpu_vs_ts', 'GET: TS CPU / kipp CPU'], ['edge_webhook_cpu_vs_ts', 'webhook: TS CPU / kipp CPU'], ['edge_get_session_vs_ts_bare', 'GET vs TS without assets'], ['edge_webhook_vs_ts_bare', 'webhook vs TS without assets'], ['edge_get_session_vs_ts_minimal', 'GET vs minimal TS (no log)'], ['edge_webhook_vs_ts_minimal', 'webhook vs minimal TS'], ['kipp_vs_ajv', 'kipp wasm vs ajv'], ['kipp_vs_zod', 'kipp wasm vs zod']].filter(([n]) => figures.has(n));
let y = 30;
parts.push(`<text x="20" y="${y}" font-size="15" font-weight="bold">Ratios against the baseline, same run (median, min–max of ${Math.max(0, ...[...figures.values()].map((f) => f.values.length))} runs)</text>`);
y += 15;
if (ratioNames.length) {
  const maxR = Math.max(1.2, ...ratioNames.flatMap(([n]) => figures.get(n).values)) * 1.1;
  const x0 = 190, xw = W - x0 - 40, sx = (v) => x0 + (v / maxR) * xw;
  for (const [n, label] of ratioNames) {
    const v = figures.get(n).values, m = median(v);
    y += 34;
    const colour = m >= 1 ? '#2f7d32' : '#c62828';
    parts.push(`<text x="${x0 - 10}" y="${y + 4}" font-size="12" text-anchor="end">${esc(label)}</text>`);
    parts.push(`<rect x="${x0}" y="${y - 11}" width="${(sx(m) - x0).toFixed(1)}" height="22" fill="${colour}" opacity="0.75"/>`);
    parts.push(`<line x1="${sx(Math.min(...v)).toFixed(1)}" x2="${sx(Math.max(...v)).toFixed(1)}" y1="${y}" y2="${y}" stroke="#222" stroke-width="2"/>`);
    for (const e of [Math.min(...v), Math.max(...v)]) parts.push(`<line x1="${sx(e).toFixed(1)}" x2="${sx(e).toFixed(1)}" y1="${y - 6}" y2="${y + 6}" stroke="#222" stroke-width="2"/>`);
    parts.push(`<text x="${(sx(Math.max(...v)) + 6).toFixed(1)}" y="${y + 4}" font-size="12">${m.toFixed(2)}×</text>`);
  }
  const one = sx(1);
  parts.push(`<line x1="${one}" x2="${one}" y1="${y - 34 * ratioNames.length - 15}" y2="${y + 18}" stroke="#555" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${one + 3}" y="${y + 30}" font-size="11" fill="#555">1.0× = baseline</text>`);
  y += 40;
}
const lat = [['get_session', 'GET session'], ['webhook', 'webhook verify+apply'], ['webhook_spread', 'webhook over 32 sessions']].filter(([k]) => figures.has(`edge_rust_${k}_p50`) && figures.has(`edge_ts_${k}_p50`));
if (lat.length) {
  y += 25;
  parts.push(`<text x="20" y="${y}" font-size="15" font-weight="bold">Edge latency at 32 clients, ms (median of runs; whisker = min–max)</text>`);
  y += 10;
  const series = [];
  for (const [k, label] of lat) for (const p of ['p50', 'p99']) for (const impl of ['rust', 'ts']) series.push({ label: `${label} ${p}`, impl, v: figures.get(`edge_${impl}_${k}_${p}`).values });
  const maxL = Math.max(...series.flatMap((s) => s.v)) * 1.1;
  const x0 = 190, xw = W - x0 - 60, sx = (v) => x0 + (v / maxL) * xw;
  for (let i = 0; i < series.length; i++) {
    const s = series[i], m = median(s.v);
    y += i % 2 === 0 ? 30 : 18;
    if (i % 2 === 0) parts.push(`<text x="${x0 - 10}" y="${y + 10}" font-size="12" text-anchor="end">${esc(s.label)}</text>`);
    parts.push(`<rect x="${x0}" y="${y - 7}" width="${(sx(m) - x0).toFixed(1)}" height="14" fill="${s.impl === 'rust' ? '#b7410e' : '#3178c6'}"/>`);
    parts.push(`<line x1="${sx(Math.min(...s.v)).toFixed(1)}" x2="${sx(Math.max(...s.v)).toFixed(1)}" y1="${y}" y2="${y}" stroke="#222"/>`);
    parts.push(`<text x="${(sx(Math.max(...s.v)) + 6).toFixed(1)}" y="${y + 4}" font-size="11">${s.impl === 'rust' ? 'Rust' : 'TS'} ${m.toFixed(1)}</text>`);
  }
  y += 30;
  parts.push(`<rect x="190" y="${y - 10}" width="12" height="12" fill="#b7410e"/><text x="207" y="${y}" font-size="12">Rust worker (workers-rs → wasm)</text>`);
  parts.push(`<rect x="420" y="${y - 10}" width="12" height="12" fill="#3178c6"/><text x="437" y="${y}" font-size="12">TypeScript baseline (bench/ts-worker)</text>`);
  y += 10;
}
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y + 20}" viewBox="0 0 ${W} ${y + 20}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
fs.writeFileSync(svgOut, svg);
fs.writeFileSync(out, md);
NODE

if [ ${#STAGES_SKIPPED[@]} -gt 0 ] || [ ${#STAGES_FAILED[@]} -gt 0 ] || [ "$RUNS_FAILED" -gt 0 ]; then
  {
    echo
    [ ${#STAGES_SKIPPED[@]} -eq 0 ] || echo "Skipped (not built yet): ${STAGES_SKIPPED[*]}."
    [ ${#STAGES_FAILED[@]} -eq 0 ] || echo "**Stages that FAILED**: ${STAGES_FAILED[*]} (see target/bench-logs/)."
    [ "$RUNS_FAILED" -eq 0 ] || echo "**$RUNS_FAILED run(s) failed or did not start** and are left out of the figures; each is named under its stage above."
  } >>"$OUT"
fi
stage_summary
if [ "$RUNS_FAILED" -gt 0 ]; then
  echo "failed or not started runs:"
  awk -F'\t' '$3 != "ok" { printf "  %s run %s (after %s s): %s\n", $1, $2, $4, $5 }' "$RUNS_FILE"
fi
echo "total time: $(( $(date +%s) - T0 ))s; wrote ${OUT#"$KIPP_ROOT"/} and ${SVG#"$KIPP_ROOT"/} ($(grep -c '^| [a-z]' "$OUT" || true) rows)"
exit "$rc"
