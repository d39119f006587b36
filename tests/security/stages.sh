# shellcheck shell=bash
# tests/security/stages.sh — the security stage for scripts/test.sh (sourced there; appended to
# STAGES). The controls of docs/threat-model.md that tests/edge does not already prove:
# subscriber and body limits, CORS, webhook floods, the clock, path tricks, tokens in logs.
# Same harness as tests/edge (real emulator + worker on free loopback ports).

[[ " ${STAGES[*]} " == *" security "* ]] || STAGES+=(security)

stage_security() {
  [ -f wrangler.toml ] || { skip "no wrangler.toml yet"; return; }
  cargo build -p kipp-cli --bin kipp
  [ -f crates/edge/build/index.js ] || scripts/edge-build.sh
  node --test --test-concurrency=1 tests/security/*.test.mjs
}
