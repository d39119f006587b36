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
  ( exec setsid node tests/web/test-server.mjs "$port" >"$LOG_DIR/test-server.out" 2>&1 ) &
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

stage_pack_web() {
  [ -f pkg/kipp_web.js ] || scripts/build-web.sh
  node --test tests/web/pack.test.mjs
}

stage_e2e_web() {
  [ -d crates/edge ] && [ -d crates/cli ] || { skip "edge worker or emulator missing"; return; }
  [ -f pkg/kipp_web.js ] || scripts/build-web.sh
  node --test --test-concurrency=1 tests/web/e2e.test.mjs
}
