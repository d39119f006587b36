#!/usr/bin/env bash
# scripts/soak.sh — `make soak`: the stack (emulator + edge worker, free loopback ports, own
# process groups, temporary .dev.vars — tests/edge/harness.mjs) under a realistic mix with upstream
# faults and webhook chaos for SOAK_SECONDS (default 300), then a ledger with assertions
# (tests/soak/soak.mjs). Stops by itself; exit code 1 when an assertion failed.
#
#   make soak                       # 5 minutes
#   SOAK_SECONDS=30 scripts/soak.sh # the short version (also the `soak` stage of make test)
#   SOAK_CLIENTS=32 scripts/soak.sh # more POS clients (default 16)
# KIPP_WORKER_SKIP_BUILD=1 reuses the current worker build (crates/edge/build).
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$KIPP_ROOT"
export SOAK_SECONDS="${SOAK_SECONDS:-300}"
[ -f wrangler.toml ] || { echo "no wrangler.toml: no worker to soak" >&2; exit 1; }
cargo build -p kipp-cli --bin kipp
[ -n "${KIPP_WORKER_SKIP_BUILD:-}" ] || scripts/edge-build.sh
exec node tests/soak/soak.mjs
