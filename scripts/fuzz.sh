#!/usr/bin/env bash
# scripts/fuzz.sh — run every cargo-fuzz target in fuzz/Cargo.toml for FUZZ_SECONDS each
# (`make fuzz`). Needs a nightly toolchain (`cargo +nightly`); installs cargo-fuzz when missing.
#
#   FUZZ_SECONDS=300 scripts/fuzz.sh                 # all targets, 5 minutes each
#   scripts/fuzz.sh webhook_verify                   # only these targets
#   FUZZ_ARGS="-jobs=2" scripts/fuzz.sh              # extra libFuzzer flags
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$KIPP_ROOT"

say() { printf 'fuzz: %s\n' "$*"; }

if [ ! -f fuzz/Cargo.toml ]; then
  say "no fuzz targets exist yet (fuzz/Cargo.toml is missing)"
  exit 0
fi

# Targets: the [[bin]] names in fuzz/Cargo.toml.
mapfile -t TARGETS < <(awk '/^\[\[bin\]\]/{b=1; next} /^\[/{b=0} b && /^name *=/{gsub(/"/,"",$3); print $3}' fuzz/Cargo.toml)
[ $# -gt 0 ] && TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || { say "fuzz/Cargo.toml lists no [[bin]] targets"; exit 0; }

# cargo fuzz needs nightly flags (-Zsanitizer). Use the nightly toolchain when the machine has
# one; otherwise the stable one with RUSTC_BOOTSTRAP=1 (no other toolchain can be fetched here).
if rustup run nightly rustc --version >/dev/null 2>&1; then
  TOOLCHAIN=(+nightly)
else
  say "no nightly toolchain: using stable with RUSTC_BOOTSTRAP=1"
  TOOLCHAIN=()
  export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked
fi

secs="${FUZZ_SECONDS:-60}"
failed=()
for t in "${TARGETS[@]}"; do
  say "== $t for ${secs}s"
  # shellcheck disable=SC2086
  if ! cargo "${TOOLCHAIN[@]}" fuzz run "$t" -- -max_total_time="$secs" ${FUZZ_ARGS:-}; then
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED: ${failed[*]} (crashes in fuzz/artifacts/)"
  exit 1
fi
say "all ${#TARGETS[@]} targets ran ${secs}s without a crash"
