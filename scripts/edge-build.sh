#!/usr/bin/env bash
# scripts/edge-build.sh — build the edge worker (worker-build --release, offline per
# /work/shared/toolchain.md) and assemble the static site: www/ at / and pkg/ at /pkg/ in
# target/site (the [assets] directory of wrangler.toml).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$KIPP_ROOT"
# worker-build's own wasm-opt step (-O, names kept) is skipped: one pass here optimizes for size
# and strips in one go.
(cd crates/edge && worker-build --release --no-opt) >&2
# -Oz without inlining functions that have a single caller (binaryen inlines those at any size
# by default, which copies big async state machines into their callers and costs ~19 KB gzip
# here; see docs/decisions.md § Edge worker, size); then drop the debug name section and the
# producers section. The --enable-* set is the one worker-build passes.
"$WASM_OPT_BIN" crates/edge/build/index_bg.wasm -Oz --one-caller-inline-max-function-size=10 \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
  --enable-multivalue --enable-reference-types --enable-exception-handling \
  --strip-debug --strip-producers -o crates/edge/build/index_bg.wasm
rm -rf target/site && mkdir -p target/site/pkg
[ -d www ] && cp -R www/. target/site/
[ -d pkg ] && cp -R pkg/. target/site/pkg/
# Never publish anything but the browser files.
find target/site -name '.dev.vars' -delete
ls -la crates/edge/build >&2
