# shellcheck shell=bash
# tests/edge/stages.sh — the edge worker's stage for scripts/test.sh (sourced there).
#   test-edge   the built worker in `wrangler dev --local` against the real emulator, driven by
#               node --test (tests/edge/harness.mjs starts both in their own process groups on
#               free loopback ports with a temporary .dev.vars and stops exactly those groups)
#   edge-size   the built worker's index_bg.wasm, gzip -9, must stay within the size budget
#               (run by test-edge right after the build, so `make test` fails on a regression)

# Bytes, gzip -9 of crates/edge/build/index_bg.wasm as scripts/edge-build.sh leaves it: the
# size reached in docs/decisions.md § Edge worker (size pass 3: 185,766; 190,768 with session 3's speed pass,
# WebSocket expiry and idempotency lifetime) plus ~1 %; raised by 1,000 in session 8 for the shared
# webhook re-reads (crates/edge/src/coalesce.rs, +1.4 KB; § "Speed pass (session 8)"); by 300 in
# session 9 for the `upstream_shared` log marker (+345 B; § "Webhooks and live state"), and by 3,000
# for the key object (an Idempotency-Key bound to its first device, +3.2 KB; § "Idempotent session
# creation"); by 700 in session 10 for retried cancels and deletes answered as done, the
# long-poll's `after=<status>:<attempts>` and four fixes in the device and session objects
# (+753 B after −471 B from byte-wise string searches; § "Upstream calls", § "Idempotent session
# creation"; the whole bundle is then ~204,770 B gzip of the 204,800 target: the next feature
# needs a size pass first); lowered to 194,100 in session 11, when kipp_core::base64 replaced the
# base64 crate (−3,661 B: 193,966; § "Size and speed"), then raised to 196,900 for the review fixes of
# session 11 (+2,514 B: revocation of minted tokens with their minter, the WebSocket heartbeat,
# per-token long-poll cap, Retry-After on a refused create, acknowledging events kipp cannot read,
# emptying a finished session's object after its retention; docs/decisions.md § Idempotent session
# creation and § Webhooks and live state, "Session 11"; 196,480 B, the bundle ~203,800 B of the
# 204,800 target); raised to 197,300 in session 12 for the fixes of a user walkthrough (+1,730 B:
# the create's 422 `unknown_device`, 415 for bodies that are not JSON, `Allow` on 405,
# `WWW-Authenticate` on 401, field errors in words; docs/decisions.md § Routes and scope, § Core,
# "Session 12") after −1,235 B from non-generic halves of generic helpers (build_request, decode
# errors) and the scoped location list passed on undecoded (197,036 B, the bundle 204,436 B of the
# 204,800 target); raised to 197,400 in session 16 for two fixes of a review of idempotent
# creation (+243 B: an adoption prefers a create whose answer was lost over one still with Kustom,
# and a delivery asks its object again after the adoption check; docs/decisions.md § Idempotent
# session creation, "Session 16"; 197,314 B, the bundle 204,661 B of the 204,800 target); raised to
# 198,750 in session 17 (+1,375 B: a session answer kipp cannot read whole is read for its id,
# status, device, amount and reference, never taken for a lost create, and adopted by them; a
# record keeps its cart through such a read; the purge spares a newer sale's record; plain http
# to Kustom only on loopback; docs/decisions.md § Idempotent session creation, "Session 17"),
# paid for by `minify = true` in wrangler.toml (the bundle's JS 7,382 → 5,902 B gzip; 198,689 B,
# the bundle 204,636 B of the 204,800 target); raised to 198,800 in session 18 (+84 B: a token
# whose signed lifetime is over 31 days is refused, as `mint` refuses to sign one; docs/decisions.md
# § Tokens; 198,773 B, the bundle ~204,720 B of the 204,800 target). Lower it when the bundle
# shrinks; raise it only with a reason written there.
KIPP_EDGE_GZIP_BUDGET="${KIPP_EDGE_GZIP_BUDGET:-198800}"
# The issue's target for the whole deployed bundle (wasm + JS, gzip, as `wrangler deploy
# --dry-run --outdir` writes them): checked by edge_deploy_dry_run.
KIPP_EDGE_BUNDLE_TARGET=204800

stage_edge_size() {
  local wasm=crates/edge/build/index_bg.wasm
  [ -f "$wasm" ] || scripts/edge-build.sh
  local raw gz
  raw=$(wc -c <"$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  echo "edge worker wasm: $raw bytes raw, $gz bytes gzip -9 (budget $KIPP_EDGE_GZIP_BUDGET)"
  if [ "$gz" -gt "$KIPP_EDGE_GZIP_BUDGET" ]; then
    echo "edge worker wasm is over its gzip budget by $((gz - KIPP_EDGE_GZIP_BUDGET)) bytes" >&2
    return 1
  fi
}

stage_test_edge() {
  [ -f wrangler.toml ] || { skip "no wrangler.toml yet"; return; }
  cargo build -p kipp-cli --bin kipp
  KIPP_WORKER_SKIP_BUILD="${KIPP_WORKER_SKIP_BUILD:-}"
  [ -n "$KIPP_WORKER_SKIP_BUILD" ] || scripts/edge-build.sh
  stage_edge_size
  edge_deploy_dry_run
  node --test --test-concurrency=1 tests/edge/*.test.mjs
}

# `wrangler deploy --dry-run` of the built worker, as configured for `make dev` and for
# production (`--env production`, which must point at Kustom, never at the local emulator).
edge_deploy_dry_run() {
  local out="$KIPP_ROOT/target/edge-deploy-check" log
  rm -rf "$out"
  log=$(timeout 120 wrangler deploy --dry-run --outdir "$out/dev" 2>&1) \
    || { echo "$log" >&2; echo "test result: FAILED. 0 passed; 1 failed (wrangler deploy --dry-run)"; return 1; }
  log=$(timeout 120 wrangler deploy --dry-run --env production --outdir "$out/production" 2>&1) \
    || { echo "$log" >&2; echo "test result: FAILED. 1 passed; 1 failed (wrangler deploy --dry-run --env production)"; return 1; }
  if ! grep -q 'KUSTOM_API_BASE ("https://api.kustom.co")' <<<"$log" || ! grep -q 'SESSIONS (SessionObject)' <<<"$log"; then
    echo "$log" >&2
    echo "test result: FAILED. 1 passed; 1 failed (--env production lacks Kustom's base or the session objects)"
    return 1
  fi
  local bundle=0 f
  for f in "$out/production"/*.wasm "$out/production"/*.js; do bundle=$((bundle + $(gzip -9 -c "$f" | wc -c))); done
  echo "deployed bundle: $bundle bytes gzip -9 (target $KIPP_EDGE_BUNDLE_TARGET)"
  if [ "$bundle" -gt "$KIPP_EDGE_BUNDLE_TARGET" ]; then
    echo "test result: FAILED. 2 passed; 1 failed (the bundle is over the ${KIPP_EDGE_BUNDLE_TARGET} B target)"
    return 1
  fi
  echo "test result: ok. 3 passed; 0 failed (wrangler deploy --dry-run, default and --env production; bundle size)"
}
