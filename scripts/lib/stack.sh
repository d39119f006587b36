# shellcheck shell=bash
# scripts/lib/stack.sh — start and stop the local kipp stack (emulator + edge worker) from a
# script: `make dev`, end-to-end tests, benchmarks. Source scripts/env.sh first.
#
#   source scripts/env.sh; source scripts/lib/stack.sh
#   trap stack_stop EXIT
#   stack_start_emulator            # kipp emulator on $KIPP_EMULATOR_ADDR (127.0.0.1:8788)
#   stack_start_worker              # wrangler dev on $KIPP_WORKER_ADDR (127.0.0.1:8787)
#   stack_wait_http "http://$KIPP_EMULATOR_ADDR/_emulator/health" 120
#
# Every process is started with setsid in a process group of its own; stack_stop signals
# exactly the groups this shell started (TERM, then KILL after a grace period) and nothing else.
# Logs go to $KIPP_STACK_LOG_DIR (target/stack-logs by default).

: "${KIPP_ROOT:?source scripts/env.sh before scripts/lib/stack.sh}"
export KIPP_EMULATOR_ADDR="${KIPP_EMULATOR_ADDR:-127.0.0.1:8788}"
export KIPP_WORKER_ADDR="${KIPP_WORKER_ADDR:-127.0.0.1:8787}"
export KIPP_DEV_VARS="${KIPP_DEV_VARS:-$KIPP_ROOT/.dev.vars}"
KIPP_STACK_LOG_DIR="${KIPP_STACK_LOG_DIR:-$KIPP_ROOT/target/stack-logs}"
KIPP_EMULATOR_PROFILE="${KIPP_EMULATOR_PROFILE---profile native}"   # cargo profile flag; empty = debug (tests reuse the test build)

STACK_PGIDS=()    # process groups started by this shell
STACK_NAMES=()    # their names, same order

_stack_say() { printf 'stack: %s\n' "$*" >&2; }

# stack_spawn NAME DIR CMD... — run CMD in DIR in a new session/process group, output to
# $KIPP_STACK_LOG_DIR/NAME.log. Records the group id; prints nothing on stdout.
stack_spawn() {
  local name="$1" dir="$2"; shift 2
  local log="$KIPP_STACK_LOG_DIR/$name.log" pidfile i pgid=""
  mkdir -p "$KIPP_STACK_LOG_DIR"
  pidfile="$(mktemp "${TMPDIR:-/tmp}/kipp-stack-$name.XXXXXX")"
  # The inner bash is the session (and group) leader whatever setsid had to do to get there;
  # it writes its own pid, which is the group id, then becomes CMD.
  ( cd "$dir" && exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" ) \
    >"$log" 2>&1 </dev/null &
  for i in $(seq 1 100); do
    [ -s "$pidfile" ] && { pgid="$(cat "$pidfile")"; break; }
    sleep 0.05
  done
  rm -f "$pidfile"
  [ -n "$pgid" ] || { _stack_say "could not start $name (see $log)"; return 1; }
  STACK_PGIDS+=("$pgid"); STACK_NAMES+=("$name")
  _stack_say "$name started (process group $pgid, log ${log#"$KIPP_ROOT"/})"
}

# stack_alive NAME — is the named group still running?
stack_alive() {
  local i
  for i in "${!STACK_NAMES[@]}"; do
    [ "${STACK_NAMES[$i]}" = "$1" ] && kill -0 -- "-${STACK_PGIDS[$i]}" 2>/dev/null && return 0
  done
  return 1
}

# stack_load_dev_vars — export the KEY=VALUE lines of .dev.vars into this shell (for scripts
# that need the key or secrets themselves, e.g. to call the emulator with Basic auth).
stack_load_dev_vars() {
  [ -f "$KIPP_DEV_VARS" ] || { _stack_say "$KIPP_DEV_VARS missing (make dev creates it)"; return 1; }
  local line key val
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    key="${line%%=*}"; val="${line#*=}"
    val="${val%\"}"; val="${val#\"}"
    [[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] && export "$key=$val"
  done <"$KIPP_DEV_VARS"
}

# stack_free_port — an unused loopback TCP port.
stack_free_port() {
  # node: installed by `make setup` (python3 is not, and is not on every machine).
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# stack_start_emulator [extra args] — the Kustom API emulator (`kipp emulator`, crate kipp-cli),
# configured from .dev.vars (--dev-vars). Builds it first in the foreground (so build errors
# show and the readiness wait does not include compiling), then runs the binary; sets
# KIPP_EMULATOR_BIN to it.
stack_start_emulator() {
  [ -d "$KIPP_ROOT/crates/cli" ] || { _stack_say "crates/cli does not exist yet: no emulator"; return 1; }
  _stack_say "building kipp-cli ($KIPP_EMULATOR_PROFILE)…"
  # shellcheck disable=SC2086
  (cd "$KIPP_ROOT" && cargo build $KIPP_EMULATOR_PROFILE -p kipp-cli --bin kipp) || return 1
  local dir=debug
  case "$KIPP_EMULATOR_PROFILE" in --release) dir=release ;; "--profile "*) dir="${KIPP_EMULATOR_PROFILE#--profile }" ;; esac
  local bin="${CARGO_TARGET_DIR:-$KIPP_ROOT/target}/$dir/kipp"
  local args=(emulator --listen "$KIPP_EMULATOR_ADDR")
  [ -f "$KIPP_DEV_VARS" ] && args+=(--dev-vars "$KIPP_DEV_VARS")
  export KIPP_EMULATOR_BIN="$bin"
  stack_spawn emulator "$KIPP_ROOT" "$bin" "${args[@]}" "$@"
}

# stack_wrangler_config — path of the worker's wrangler config (repo root, else crates/edge).
stack_wrangler_config() {
  local c
  for c in "$KIPP_ROOT/wrangler.toml" "$KIPP_ROOT/crates/edge/wrangler.toml"; do
    [ -f "$c" ] && { printf '%s\n' "$c"; return 0; }
  done
  return 1
}

# stack_start_worker [extra wrangler args] — the edge worker under `wrangler dev --local`.
# Builds it first with scripts/edge-build.sh when that exists (KIPP_WORKER_NO_BUILD=1 skips
# it), then runs wrangler from the config's folder, so the .dev.vars beside the config is
# read; a .dev.vars elsewhere is passed with --env-file. Offline per toolchain.md (env.sh).
stack_start_worker() {
  local config dir
  config="$(stack_wrangler_config)" || { _stack_say "no wrangler.toml yet (repo root or crates/edge): no worker"; return 1; }
  dir="$(dirname "$config")"
  if [ -x "$KIPP_ROOT/scripts/edge-build.sh" ] && [ -z "${KIPP_WORKER_NO_BUILD:-}" ]; then
    _stack_say "building the worker (scripts/edge-build.sh)…"
    "$KIPP_ROOT/scripts/edge-build.sh" || return 1
  fi
  local inspector; inspector="$(stack_free_port)"
  local args=(dev --config "$config" --local --ip "${KIPP_WORKER_ADDR%:*}" --port "${KIPP_WORKER_ADDR##*:}"
    --inspector-port "$inspector" --show-interactive-dev-session=false)
  if [ -f "$KIPP_DEV_VARS" ] && [ "$(dirname "$KIPP_DEV_VARS")" != "$dir" ]; then
    args+=(--env-file "$KIPP_DEV_VARS")
  fi
  # scripts/lib/wrangler-dev.mjs: the same `wrangler dev` without the DevTools inspector, which
  # doubles the cost of every console line (the worker logs one per request); the lines still
  # reach the log through workerd's stdout. KIPP_WRANGLER_INSPECTOR=1: the plain command (DevTools).
  local cmd=(node "$KIPP_ROOT/scripts/lib/wrangler-dev.mjs")
  [ "${KIPP_WRANGLER_INSPECTOR:-}" = 1 ] && cmd=("$KIPP_ROOT/node_modules/.bin/wrangler")
  stack_spawn worker "$dir" "${cmd[@]}" "${args[@]}" "$@"
}

# stack_wait_http URL [TIMEOUT_S=120] [NAME] [STATUS] — wait until URL answers STATUS (any HTTP
# status when not given); fail early if the process group NAME (when given) has died. With a
# STATUS, another server already on the port (answering something else) is not taken for ours.
stack_wait_http() {
  local url="$1" timeout="${2:-120}" name="${3:-}" want="${4:-}" t0 code
  t0=$(date +%s)
  while :; do
    code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" 2>/dev/null || true)"
    if [ -n "$code" ] && [ "$code" != 000 ] && { [ -z "$want" ] || [ "$code" = "$want" ]; }; then
      _stack_say "$url answered $code after $(( $(date +%s) - t0 ))s"; return 0
    fi
    if [ -n "$name" ] && ! stack_alive "$name"; then
      _stack_say "$name exited before $url answered; last lines of its log:"
      tail -n 20 "$KIPP_STACK_LOG_DIR/$name.log" >&2 || true
      return 1
    fi
    if [ $(( $(date +%s) - t0 )) -ge "$timeout" ]; then
      _stack_say "timed out after ${timeout}s waiting for $url"; return 1
    fi
    sleep 0.2
  done
}

# stack_stop — TERM every group this shell started, KILL what is left after 5 s.
stack_stop() {
  local i pgid
  [ ${#STACK_PGIDS[@]} -eq 0 ] && return 0
  for i in "${!STACK_PGIDS[@]}"; do
    pgid="${STACK_PGIDS[$i]}"
    kill -0 -- "-$pgid" 2>/dev/null && { _stack_say "stopping ${STACK_NAMES[$i]} (group $pgid)"; kill -TERM -- "-$pgid" 2>/dev/null || true; }
  done
  for _ in $(seq 1 50); do
    local alive=0
    for pgid in "${STACK_PGIDS[@]}"; do kill -0 -- "-$pgid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pgid in "${STACK_PGIDS[@]}"; do kill -0 -- "-$pgid" 2>/dev/null && kill -KILL -- "-$pgid" 2>/dev/null || true; done
  STACK_PGIDS=(); STACK_NAMES=()
}
