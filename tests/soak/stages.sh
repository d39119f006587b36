# shellcheck shell=bash
# tests/soak/stages.sh — the soak's stage for scripts/test.sh (sourced there; appended to STAGES).
#   soak   tests/soak/soak.mjs for SOAK_SECONDS (30 here; `make soak` runs 300) against the real
#          stack with ~20 % upstream faults and duplicated/reordered/paused webhooks; prints the
#          ledger and `# pass N` / `# fail N`. 8 POS clients; the memory checks compare against a
#          kipp-free probe worker in the same run (docs/decisions.md § Soak and benchmarks).
#          Runs after test-edge, which builds the worker.

[[ " ${STAGES[*]} " == *" soak "* ]] || STAGES+=(soak)

stage_soak() {
  [ -f wrangler.toml ] || { skip "no wrangler.toml yet"; return; }
  cargo build -p kipp-cli --bin kipp
  [ -f crates/edge/build/index.js ] || scripts/edge-build.sh
  SOAK_SECONDS="${KIPP_TEST_SOAK_SECONDS:-30}" SOAK_CLIENTS="${KIPP_TEST_SOAK_CLIENTS:-8}" SOAK_DRAIN_SECONDS="${SOAK_DRAIN_SECONDS:-90}" node tests/soak/soak.mjs
}
