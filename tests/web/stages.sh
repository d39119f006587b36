# shellcheck shell=bash
# tests/web/stages.sh — the browser package's stages for scripts/test.sh (sourced there).
#   web-build   scripts/build-web.sh (pkg/), then the size report
#   wasm-web    wasm-bindgen-test in headless Chromium against tests/web/test-server.mjs
#   tsc-web     strict `tsc --noEmit` of www/consumer.ts against pkg/kipp_web.d.ts
#   pack-web    `npm pack` of pkg/ installed into a scratch ESM app under target/ (Node)
#   e2e-web     Playwright (playwright-core + /usr/bin/chromium) against the real stack
# Browser choice lives in one place: tests/web/browsers.mjs (Playwright) and
# crates/web/webdriver.json (wasm-bindgen-test).

stage_web_build() {
  scripts/build-web.sh
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

stage_wasm_web() {
  [ -x /usr/bin/chromedriver ] || { skip "chromedriver missing (make setup installs chromium-driver)"; return; }
  # Tests run from the crate dir so wasm-bindgen-test-runner finds crates/web/webdriver.json.
  ( cd crates/web && _web_with_test_server cargo test --target wasm32-unknown-unknown -p kipp-web --test browser )
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
  trap stack_stop RETURN
  stack_start_emulator
  stack_start_worker --var "KUSTOM_API_BASE:http://$KIPP_EMULATOR_ADDR" \
    --var "ALLOWED_ORIGINS:http://$KIPP_WORKER_ADDR,http://localhost:$wport"
  stack_wait_http "http://$KIPP_EMULATOR_ADDR/_emulator/health" 120 emulator
  stack_wait_http "http://$KIPP_WORKER_ADDR/" 180 worker
  local admin expired
  admin="$("$KIPP_EMULATOR_BIN" token --role admin --dev-vars "$KIPP_DEV_VARS" | tail -n1)"
  expired="$("$KIPP_EMULATOR_BIN" token --role clerk --ttl 1s --dev-vars "$KIPP_DEV_VARS" | tail -n1)"
  KIPP_E2E_BASE="http://$KIPP_WORKER_ADDR" KIPP_E2E_ADMIN_TOKEN="$admin" KIPP_E2E_EXPIRED_TOKEN="$expired" \
    _web_node_test tests/web/e2e.test.mjs
}
