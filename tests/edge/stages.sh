# shellcheck shell=bash
# tests/edge/stages.sh — the edge worker's stage for scripts/test.sh (sourced there).
#   test-edge   the built worker in `wrangler dev --local` against the real emulator, driven by
#               node --test (tests/edge/harness.mjs starts both in their own process groups on
#               free loopback ports with a temporary .dev.vars and stops exactly those groups)

stage_test_edge() {
  [ -f wrangler.toml ] || { skip "no wrangler.toml yet"; return; }
  cargo build -p kipp-cli --bin kipp
  KIPP_WORKER_SKIP_BUILD="${KIPP_WORKER_SKIP_BUILD:-}"
  [ -n "$KIPP_WORKER_SKIP_BUILD" ] || scripts/edge-build.sh
  node --test --test-concurrency=1 tests/edge/*.test.mjs
}
