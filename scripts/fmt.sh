#!/usr/bin/env bash
# scripts/fmt.sh — format everything that has a formatter (`make fmt`). `make lint` checks.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$KIPP_ROOT"
cargo fmt --all
[ -f fuzz/Cargo.toml ] && cargo fmt --manifest-path fuzz/Cargo.toml --all
echo "fmt: done"
