# shellcheck shell=bash
# tests/web/stages.sh — the browser package's stages for scripts/test.sh (sourced there).
#   web-build   scripts/build-web.sh (pkg/), then the size report and the gzip size budget
#   wasm-web    wasm-bindgen-test against tests/web/test-server.mjs, once per engine: headless
#               Chromium (chromedriver) and headless Firefox ESR (geckodriver)
#   tsc-web     strict `tsc --noEmit` of www/consumer.ts against pkg/kipp_web.d.ts
#   pack-web    `npm pack` of pkg/ installed into a scratch ESM app under target/ (Node)
#   e2e-web     Playwright (playwright-core + /usr/bin/chromium) against the real stack; Chromium
#               only (Playwright's own Firefox build cannot be installed here)
# Browser choice lives in one place: tests/web/browsers.mjs (Playwright, and WASM_WEB_ENGINES
# below for wasm-bindgen-test) and crates/web/webdriver.json (both engines' capabilities).

stage_web_build() {
  scripts/build-web.sh
  _web_size_budget
}

# Size budget of pkg/: wasm + JS glue + snippet, gzip -9 (as build-web.sh prints them). About
# 5 % above the size reached (docs/decisions.md, "Browser package"; and under the 45 KB target), so a regression fails
# `make test`; lower it whenever the package shrinks. KIPP_WEB_GZIP_BUDGET overrides it.
_web_size_budget() {
  local budget="${KIPP_WEB_GZIP_BUDGET:-46000}" total=0 f snippet
  snippet="$(find "$KIPP_ROOT/pkg/snippets" -name kipp.js 2>/dev/null | head -n1)"
  for f in "$KIPP_ROOT/pkg/kipp_web_bg.wasm" "$KIPP_ROOT/pkg/kipp_web.js" "$snippet"; do
    [ -f "$f" ] || { echo "size budget: ${f:-pkg/snippets/…/kipp.js} missing"; return 1; }
    total=$((total + $(gzip -9 -c "$f" | wc -c)))
  done
  if [ "$total" -gt "$budget" ]; then
    echo "test result: FAILED. 0 passed; 1 failed (pkg/ is $total bytes gzip, over the budget of $budget)"
    return 1
  fi
  echo "test result: ok. 1 passed; 0 failed (pkg/ is $total bytes gzip, budget $budget)"
}

# Runs "$@" with the canned test server up (its own process group, stopped afterwards).
_web_with_test_server() {
  local port="${KIPP_TEST_SERVER_PORT:-18790}" pgid rc=0 i
  ( exec setsid node "$KIPP_ROOT/tests/web/test-server.mjs" "$port" >"${LOG_DIR:-$KIPP_ROOT/target}/test-server.out" 2>&1 ) &
  pgid=$!
  for i in $(seq 1 50); do
    curl -fsS "http://127.0.0.1:$port/_test/log" >/dev/null 2>&1 && break
    sleep 0.1
  done
  KIPP_TEST_SERVER="http://127.0.0.1:$port" "$@" || rc=$?
  kill -- "-$pgid" 2>/dev/null || kill "$pgid" 2>/dev/null || true
  wait "$pgid" 2>/dev/null || true
  return "$rc"
}

# The engines wasm-web runs the same suite in (KIPP_WASM_WEB_ENGINES="chromium" narrows it).
read -r -a WASM_WEB_ENGINES <<<"${KIPP_WASM_WEB_ENGINES:-chromium firefox}"

# _web_wasm_engine ENGINE — the browser suite in one engine. wasm-bindgen-test-runner picks
# GECKODRIVER whenever it is set, else CHROMEDRIVER, so each run sets exactly one of them.
# No `cargo -q`: it would pass --quiet on to the runner, which rejects it.
_web_wasm_engine() {
  local driver
  case "$1" in
    chromium) driver="${CHROMEDRIVER:-/usr/bin/chromedriver}"
      [ -x "$driver" ] || { echo "chromedriver missing at $driver (make setup installs chromium-driver)"; return 1; }
      [ -x /usr/bin/chromium ] || { echo "chromium missing (make setup installs it)"; return 1; }
      set -- env -u GECKODRIVER CHROMEDRIVER="$driver" ;;
    firefox) driver="${KIPP_GECKODRIVER_BIN:-$KIPP_CARGO_BIN/geckodriver}"
      [ -x "$driver" ] || { echo "geckodriver missing at $driver (make setup installs it from crates.io)"; return 1; }
      [ -x /usr/bin/firefox-esr ] || { echo "firefox-esr missing (make setup installs it)"; return 1; }
      set -- env -u CHROMEDRIVER GECKODRIVER="$driver" ;;
    *) echo "unknown engine $1 (known: chromium firefox)"; return 1 ;;
  esac
  # From the crate dir so wasm-bindgen-test-runner finds crates/web/webdriver.json. The runner
  # gives the whole suite WASM_BINDGEN_TEST_TIMEOUT seconds (default 20, which the live-event
  # tests' waits came close to): a limit for a hung run, not a timing check.
  set -- "$@" WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
  ( cd "$KIPP_ROOT/crates/web" && _web_with_test_server "$@" \
      cargo test --target wasm32-unknown-unknown -p kipp-web --test browser )
}

# Every engine runs even when an earlier one failed; the stage fails if any did and says which.
stage_wasm_web() {
  local engine rc out p failed=() summary=()
  for engine in "${WASM_WEB_ENGINES[@]}"; do
    echo "--- wasm-web in $engine"
    out="$(mktemp)"; rc=0
    _web_wasm_engine "$engine" 2>&1 | tee "$out" || rc=$?
    p="$(sed -nE 's/.*test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 passed, \2 failed/p' "$out" | tail -n1)"
    rm -f "$out"
    if [ "$rc" -eq 0 ]; then summary+=("$engine ok (${p:-no tests})")
    else summary+=("$engine FAILED (${p:-no test result}, exit $rc)"); failed+=("$engine"); fi
    echo "--- wasm-web in $engine: ${summary[-1]#"$engine "}"
  done
  echo "wasm-web engines: $(IFS=';'; echo "${summary[*]}" | sed 's/;/; /g')"
  if [ ${#failed[@]} -gt 0 ]; then echo "wasm-web FAILED in: ${failed[*]}"; return 1; fi
}

stage_tsc_web() {
  [ -f pkg/kipp_web.d.ts ] || scripts/build-web.sh
  tsc -p www/tsconfig.json
  echo "test result: ok. 1 passed; 0 failed (tsc --noEmit www/consumer.ts)"
}

# node --test, then a cargo-style "test result:" line so scripts/test.sh counts the tests.
_web_node_test() {
  local out rc=0 p f
  out="$(mktemp)"
  node --test --test-concurrency=1 "$@" 2>&1 | tee "$out" || rc=$?
  p="$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$out" | tail -n1)"; f="$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$out" | tail -n1)"
  rm -f "$out"
  echo "test result: $([ "$rc" = 0 ] && echo ok || echo FAILED). ${p:-0} passed; ${f:-0} failed (node --test $*)"
  return "$rc"
}

stage_pack_web() {
  [ -f pkg/kipp_web.js ] || scripts/build-web.sh
  _web_node_test tests/web/pack.test.mjs
}

stage_e2e_web() {
  [ -d crates/edge ] && [ -d crates/cli ] || { skip "edge worker or emulator missing"; return; }
  [ -f pkg/kipp_web.js ] || scripts/build-web.sh
  ( _web_e2e )
}

# e2e-web needs the real stack on ports of its own (so a `make dev` elsewhere is not disturbed),
# a .dev.vars of its own under target/e2e, and tokens from `kipp token`.
_web_e2e() {
  local dir="$KIPP_ROOT/target/e2e" wport eport
  # shellcheck source=scripts/lib/stack.sh
  source "$KIPP_ROOT/scripts/lib/stack.sh"
  wport="${KIPP_E2E_WORKER_PORT:-$(stack_free_port)}"
  eport="${KIPP_E2E_EMULATOR_PORT:-$(stack_free_port)}"
  mkdir -p "$dir"
  umask 077
  cat >"$dir/.dev.vars" <<VARS
KUSTOM_API_KEY=kco_test_api_$(head -c 24 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 32)
KUSTOM_MERCHANT_ID=DM$(printf '%08d' $((RANDOM * RANDOM % 100000000)))
KUSTOM_WEBHOOK_URL=http://127.0.0.1:$wport/webhooks/kustom
KUSTOM_WEBHOOK_SECRETS=whsec_$(head -c 32 /dev/urandom | base64 -w0)
KIPP_TOKEN_KEY=$(head -c 32 /dev/urandom | base64 -w0)
VARS
  export KIPP_DEV_VARS="$dir/.dev.vars" KIPP_EMULATOR_ADDR="127.0.0.1:$eport" KIPP_WORKER_ADDR="127.0.0.1:$wport"
  export KIPP_STACK_LOG_DIR="$dir/logs"
  # EXIT, not RETURN: this runs in its own subshell, and a failing test ends it through errexit,
  # which skipped a RETURN trap and left the stack running.
  trap stack_stop EXIT
  stack_start_emulator
  stack_start_worker --var "KUSTOM_API_BASE:http://$KIPP_EMULATOR_ADDR" \
    --var "ALLOWED_ORIGINS:http://$KIPP_WORKER_ADDR,http://localhost:$wport"
  stack_wait_http "http://$KIPP_EMULATOR_ADDR/_emulator/health" 120 emulator
  stack_wait_http "http://$KIPP_WORKER_ADDR/" 180 worker
  local admin expired
  admin="$("$KIPP_EMULATOR_BIN" token --role admin --dev-vars "$KIPP_DEV_VARS" | tail -n1)"
  expired="$("$KIPP_EMULATOR_BIN" token --role clerk --ttl 1s --dev-vars "$KIPP_DEV_VARS" | tail -n1)"
  KIPP_E2E_BASE="http://$KIPP_WORKER_ADDR" KIPP_E2E_ADMIN_TOKEN="$admin" KIPP_E2E_EXPIRED_TOKEN="$expired" \
    KIPP_E2E_EMULATOR="http://$KIPP_EMULATOR_ADDR" KIPP_E2E_API_KEY="$(sed -n 's/^KUSTOM_API_KEY=//p' "$KIPP_DEV_VARS")" \
    _web_node_test tests/web/e2e.test.mjs
}
