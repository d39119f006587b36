# scripts/lib/web-pkg.sh — sourced by scripts/dev.sh and scripts/edge-build.sh.
#
# The worker serves pkg/ at /pkg/ (edge-build.sh copies it into the assets), and the POS cannot
# load without it. The built files are not committed: build them when missing or older than the
# sources they come from, so that `make dev` and a deploy (`scripts/edge-build.sh && wrangler
# deploy`) never ship a POS without its package, or with a stale one.
build_web_if_stale() {
  [ -d crates/web ] && [ -x scripts/build-web.sh ] || return 0
  local built=pkg/kipp_web_bg.wasm
  if [ -f "$built" ] && [ -f pkg/kipp_web.js ] \
    && [ -z "$(find crates/web crates/core Cargo.lock -newer "$built" -type f -print -quit 2>/dev/null)" ]; then
    return 0
  fi
  echo "building the browser package (scripts/build-web.sh)…" >&2
  scripts/build-web.sh >&2
  [ -f pkg/kipp_web.js ] && [ -f "$built" ] || { echo "scripts/build-web.sh left no pkg/kipp_web.js" >&2; return 1; }
}
