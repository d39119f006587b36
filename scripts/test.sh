#!/usr/bin/env bash
# scripts/test.sh — every check kipp has, in order, stopping at the first failure (`make test`,
# and CI through .ci/run). `make test` runs scripts/setup.sh first; this script does not.
#
#   scripts/test.sh                 # all stages
#   scripts/test.sh fmt clippy      # only these stages (any order you give)
#   scripts/test.sh --list          # stage names
#
# To add a stage: write a function stage_<name> below, or in a tests/<part>/stages.sh file
# (every such file is sourced here), use `skip "why"` when its crate or file does not exist
# yet, and add <name> to STAGES where it belongs. Stages may use $LOG_DIR and $KIPP_ROOT; they
# run from the repo root in a subshell with `set -eo pipefail`. Output of each stage is shown
# and saved in target/test-logs/. The last line is "N passed, N failed": the sum of every
# `test result:` line cargo/wasm-bindgen-test printed, plus one failure for a stage that failed
# without a failing test (fmt, clippy, a build error).
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/lib/stages.sh
source "$KIPP_ROOT/scripts/lib/stages.sh"
cd "$KIPP_ROOT"

export CARGO_TERM_PROGRESS_WHEN=never
# Tests start the emulator from the debug build the host tests already made (no extra release build).
export KIPP_EMULATOR_PROFILE="${KIPP_EMULATOR_PROFILE-}"

# Crates that build for wasm32-unknown-unknown and get a wasm32 clippy pass.
read -r -a WASM_CRATES <<<"${KIPP_WASM_CRATES:-kipp-core kipp-web kipp-edge}"

STAGES=(
  fmt
  clippy
  clippy-wasm
  test-host
  test-wasm-core
  web-build
  wasm-web
  tsc-web
  pack-web
  e2e-web
  test-edge
)

stage_fmt() {
  cargo fmt --all --check
}

stage_clippy() {
  cargo clippy --workspace --all-targets -- -D warnings
}

stage_clippy_wasm() {
  local c
  for c in "${WASM_CRATES[@]}"; do
    echo "--- clippy $c (wasm32-unknown-unknown)"
    cargo clippy -p "$c" --target wasm32-unknown-unknown --all-targets -- -D warnings
  done
}

stage_test_host() {
  cargo test --workspace --no-fail-fast   # all test binaries, so the counts are complete
}

# kipp-core's wasm tests, run by wasm-bindgen-test-runner in Node 22 (no run_in_browser).
stage_test_wasm_core() {
  [ -f crates/core/tests/wasm.rs ] || { skip "crates/core/tests/wasm.rs does not exist yet"; return; }
  cargo test -p kipp-core --target wasm32-unknown-unknown --test wasm
}

# Stage functions that live beside their part's tests: tests/web/stages.sh (web-build,
# wasm-web, tsc-web, pack-web, e2e-web), and any other tests/<part>/stages.sh.
for f in "$KIPP_ROOT"/tests/*/stages.sh; do
  # shellcheck source=/dev/null
  [ -f "$f" ] && source "$f"
done

# ---------------------------------------------------------------------------------------------
if [ "${1:-}" = "--list" ]; then printf '%s\n' "${STAGES[@]}"; exit 0; fi
[ $# -gt 0 ] && STAGES=("$@")

LOG_DIR="${KIPP_TEST_LOG_DIR:-$KIPP_ROOT/target/test-logs}"
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log

T0=$(date +%s)
run_stages "$LOG_DIR" "${STAGES[@]}"   # plain call: see scripts/lib/stages.sh
rc=0; [ ${#STAGES_FAILED[@]} -eq 0 ] || rc=1

# Sum the test counts over all logs: cargo's / wasm-bindgen-test's "test result: ok. X passed;
# Y failed" lines and node --test's closing "# pass X" / "# fail Y" (tap) or "ℹ pass X" (spec).
# A failed stage without a failing test (fmt, clippy, a build error) counts as 1 failure.
count_log() {
  awk '
    /test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed/ {
      for (i = 1; i <= NF; i++) { if ($i ~ /^passed;/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) }
      n++; next
    }
    /^(# |ℹ )pass [0-9]+$/ { p += $NF; n++; next }
    /^(# |ℹ )fail [0-9]+$/ { f += $NF; next }
    END { print p+0, f+0, n+0 }' "$1"
}
passed=0; failed=0; saw_results=0
for log in "${STAGE_LOGS[@]}"; do
  read -r p f n < <(count_log "$log")
  passed=$((passed + p)); failed=$((failed + f)); saw_results=$((saw_results + n))
  name="$(basename "$log" .log)"; name="${name#*-}"
  if [[ " ${STAGES_FAILED[*]} " == *" $name "* ]] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
done
# A run of only non-test stages (e.g. `make lint`) counts stages instead.
[ "$saw_results" -eq 0 ] && passed=${#STAGES_PASSED[@]}

stage_summary
echo "total time: $(( $(date +%s) - T0 ))s; logs in ${LOG_DIR#"$KIPP_ROOT"/}"
[ ${#STAGES_FAILED[@]} -gt 0 ] && echo "FAILED at stage: ${STAGES_FAILED[0]}"
echo "$passed passed, $failed failed"
exit "$rc"
