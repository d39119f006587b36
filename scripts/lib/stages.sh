# shellcheck shell=bash
# scripts/lib/stages.sh — a tiny stage runner shared by test.sh and bench.sh.
#
# A stage is a shell function named stage_<name>. A script lists its stages in order and calls
#   run_stages LOG_DIR name1 name2 ...
# Each stage gets a banner, its output is shown and tee'd to LOG_DIR/<NN>-<name>.log, it is
# timed, and the run stops at the first stage that fails. A stage that cannot run yet (its crate
# or file does not exist) calls `skip "why"` and returns; that is not a failure.
#
# After run_stages: STAGES_PASSED / STAGES_FAILED / STAGES_SKIPPED (arrays of names),
# STAGE_LOGS (log files written), STAGE_TIMES (name=seconds). It always returns 0: check
# ${#STAGES_FAILED[@]}. Call it as a plain command, never inside `if`, `||` or `&&`: bash
# ignores `set -e` in everything run from a condition, subshells included, so a failing
# command inside a stage would go unnoticed.

STAGE_SKIP_RC=77

# skip "reason" — use as `skip "no crates/edge yet"; return` inside a stage.
skip() { printf 'SKIP: %s\n' "$*"; return "$STAGE_SKIP_RC"; }

_stage_now() { date +%s.%N; }
_stage_secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

run_stages() {
  local log_dir="$1"; shift
  local total=$# i=0 name fn log t0 t1 rc
  STAGES_PASSED=(); STAGES_FAILED=(); STAGES_SKIPPED=(); STAGE_LOGS=(); STAGE_TIMES=()
  mkdir -p "$log_dir"
  for name in "$@"; do
    i=$((i + 1))
    fn="stage_${name//-/_}"
    if ! declare -F "$fn" >/dev/null; then
      printf '\n==> [%d/%d] %s: no such stage (function %s)\n' "$i" "$total" "$name" "$fn"
      STAGES_FAILED+=("$name"); return 0
    fi
    log="$log_dir/$(printf '%02d' "$i")-$name.log"
    printf '\n==> [%d/%d] %s\n' "$i" "$total" "$name"
    t0=$(_stage_now)
    # The stage runs in a subshell (pipeline) with errexit on, so any failing command fails it.
    set +e
    ( set -eo pipefail; "$fn" ) 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    t1=$(_stage_now)
    STAGE_LOGS+=("$log")
    STAGE_TIMES+=("$name=$(_stage_secs "$t0" "$t1")")
    if [ "$rc" -eq 0 ]; then
      printf '<== %s: ok (%ss)\n' "$name" "$(_stage_secs "$t0" "$t1")"
      STAGES_PASSED+=("$name")
    elif [ "$rc" -eq "$STAGE_SKIP_RC" ]; then
      printf '<== %s: skipped (%ss)\n' "$name" "$(_stage_secs "$t0" "$t1")"
      STAGES_SKIPPED+=("$name")
    else
      printf '<== %s: FAILED with exit code %d after %ss (log: %s)\n' "$name" "$rc" "$(_stage_secs "$t0" "$t1")" "$log"
      STAGES_FAILED+=("$name")
      return 0
    fi
  done
  return 0
}

# stage_summary — one line per stage with its time, for the end of a run.
stage_summary() {
  local entry name
  printf '\nstages:'
  for entry in "${STAGE_TIMES[@]}"; do
    name="${entry%%=*}"
    printf ' %s' "$name"
    if [[ " ${STAGES_FAILED[*]} " == *" $name "* ]]; then printf '(FAILED'
    elif [[ " ${STAGES_SKIPPED[*]} " == *" $name "* ]]; then printf '(skipped'
    else printf '(ok'; fi
    printf ' %ss)' "${entry#*=}"
  done
  printf '\n'
}
