#!/usr/bin/env bash
# scripts/edge-build.sh — build the edge worker (worker-build --release, offline per
# /work/shared/toolchain.md) and assemble the static site: www/ at / and pkg/ at /pkg/ in
# target/site (the [assets] directory of wrangler.toml).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$KIPP_ROOT"
(cd crates/edge && worker-build --release) >&2
# Drop the debug name section (~240 KB raw, ~60 KB gzip); target_features is no longer needed
# once wasm-bindgen has run.
"$WASM_OPT_BIN" crates/edge/build/index_bg.wasm --strip-debug --strip-producers -o crates/edge/build/index_bg.wasm
rm -rf target/site && mkdir -p target/site/pkg
[ -d www ] && cp -R www/. target/site/
[ -d pkg ] && cp -R pkg/. target/site/pkg/
# Never publish anything but the browser files.
find target/site -name '.dev.vars' -delete
ls -la crates/edge/build >&2
