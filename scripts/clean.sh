#!/usr/bin/env bash
# scripts/clean.sh — remove build output (`make clean`). `--all` (make distclean) also removes
# what `make setup` installed into the checkout: .tools/ (Node 22) and node_modules/.
# Never touches .dev.vars, tools installed outside the checkout, or Debian packages.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$KIPP_ROOT"
cargo clean
rm -rf build crates/edge/build .wrangler crates/edge/.wrangler fuzz/target \
  pkg/*.wasm pkg/*.js pkg/*.d.ts pkg/snippets
if [ "${1:-}" = "--all" ]; then
  rm -rf node_modules .tools
fi
echo "clean: done"
