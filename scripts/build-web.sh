#!/usr/bin/env bash
# scripts/build-web.sh — build the browser package (crates/web) into pkg/ (npm name kipp-web).
#
#   scripts/build-web.sh            # release build + wasm-bindgen --target web + wasm-opt -Oz
#   KIPP_WEB_NO_OPT=1 scripts/build-web.sh   # skip wasm-opt and JS minification (faster, larger)
#
# Output: pkg/kipp_web.js, pkg/kipp_web_bg.wasm, pkg/kipp_web.d.ts, pkg/snippets/…, and the
# committed pkg/package.json + pkg/README.md (their version is set from the workspace here).
# Prints the sizes (raw and gzip -9) at the end.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$KIPP_ROOT"

OUT="$KIPP_ROOT/pkg"
TARGET_DIR="${CARGO_TARGET_DIR:-$KIPP_ROOT/target}"
WASM_IN="$TARGET_DIR/wasm32-unknown-unknown/release/kipp_web.wasm"

say() { printf 'build-web: %s\n' "$*"; }

cargo build --release --target wasm32-unknown-unknown -p kipp-web

want="$(kipp_wasm_bindgen_version)"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')"
[ "$have" = "$want" ] || { say "wasm-bindgen $have found, Cargo.lock wants $want (run make setup)"; exit 1; }

# Fresh generated files; package.json and README.md are ours and stay.
mkdir -p "$OUT"
rm -rf "$OUT/snippets" "$OUT"/kipp_web*.js "$OUT"/kipp_web*.wasm "$OUT"/kipp_web*.d.ts
wasm-bindgen --target web --out-dir "$OUT" --out-name kipp_web "$WASM_IN"

if [ -z "${KIPP_WEB_NO_OPT:-}" ]; then
  WASM_OPT="${WASM_OPT_BIN:-$KIPP_ROOT/node_modules/.bin/wasm-opt}"
  [ -x "$WASM_OPT" ] || { say "wasm-opt not found at $WASM_OPT (npm ci installs binaryen; never use Debian's)"; exit 1; }
  # --converge repeats -Oz until nothing shrinks; no debug info or producers section ships.
  # --one-caller-inline-max-function-size=0: functions with one caller stay functions. More
  # bytes raw (+4 %), but -3.4 KB gzip (-6 %): small functions with low local indices repeat
  # and compress far better than one big inlined body. No measurable change in speed.
  "$WASM_OPT" -Oz --converge --one-caller-inline-max-function-size=0 --strip-debug --strip-producers --strip-target-features --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-reference-types --enable-multivalue --enable-mutable-globals \
    "$OUT/kipp_web_bg.wasm" -o "$OUT/kipp_web_bg.wasm.opt"
  mv "$OUT/kipp_web_bg.wasm.opt" "$OUT/kipp_web_bg.wasm"
fi

# Short names for the wasm module's own imports and exports (wasm-bindgen names them like
# `__wbg_makeKippError_24f749f7cebab97c`, and each name is in both the .wasm and the glue, where
# its hash does not compress): renamed to `a`, `b`, … in the .wasm's import and export sections
# and, by exact name, in kipp_web.js. `memory` keeps its name (InitOutput.memory is public API).
if [ -z "${KIPP_WEB_NO_OPT:-}" ]; then
  node --input-type=module - "$KIPP_ROOT/scripts/lib/wasm-short-names.mjs" "$OUT/kipp_web_bg.wasm" "$OUT/kipp_web.js" <<'NODE'
import fs from 'node:fs';
const [lib, wasmFile, jsFile] = process.argv.slice(2);
const { shortNames } = await import(lib);
const { wasm, imports, exports } = shortNames(fs.readFileSync(wasmFile), { module: './kipp_web_bg.js', keepExport: (f) => f === 'memory' });
let js = fs.readFileSync(jsFile, 'utf8');
const count = (re) => (js.match(re) ?? []).length;
if (count(/"\.\/kipp_web_bg\.js":/g) !== 1) throw new Error('glue: import module key not found once');
js = js.replace('"./kipp_web_bg.js":', '"a":');
for (const [from, to] of imports) {
  const re = new RegExp(`\\b${from}:`, 'g');
  if (count(re) !== 1) throw new Error(`glue: import ${from} not found once`);
  js = js.replace(re, `${to}:`);
}
for (const [from, to] of exports) {
  if (from === to) continue;
  js = js.replace(new RegExp(`\\bwasm\\.${from}\\b`, 'g'), `wasm.${to}`);
}
if (/wasm\.__w|__wbg_\w+_[0-9a-f]{16}/.test(js)) throw new Error('glue: a long wasm name is left');
fs.writeFileSync(wasmFile, wasm);
fs.writeFileSync(jsFile, js);
NODE
fi

# KippError, KippClient and WatchHandle are defined in the package's JS snippet; re-export them
# from the entry module so `import { KippClient } from "kipp-web"` works (wasm-bindgen does not
# re-export imports).
snippet="$(cd "$OUT" && find snippets -name kipp.js | head -n1)"
[ -n "$snippet" ] || { say "snippet kipp.js missing from pkg/snippets"; exit 1; }
printf '\nexport { KippError, KippClient, WatchHandle } from "./%s";\n' "$snippet" >>"$OUT/kipp_web.js"

# The JS glue and the snippet minified with esbuild (from `npm ci`): comments, whitespace and
# local names out (exported names stay). -40 % gzip on the JS; the readable source is
# crates/web/src/js/kipp.js, and the .d.ts carries the documentation.
if [ -z "${KIPP_WEB_NO_OPT:-}" ]; then
  ESBUILD="$KIPP_ROOT/node_modules/.bin/esbuild"
  [ -x "$ESBUILD" ] || { say "esbuild not found at $ESBUILD (run make setup)"; exit 1; }
  for f in "$OUT/kipp_web.js" "$OUT/$snippet"; do
    "$ESBUILD" "$f" --minify --format=esm --log-level=error --outfile="$f.min"
    mv "$f.min" "$f"
  done
fi

# Declarations: the raw wasm exports (typed `any` by wasm-bindgen) out of InitOutput, so no `any`
# is left in the public surface. The classes are declared by hand in crates/web/src/types.d.ts.
node -e '
  const fs = require("fs"); const f = process.argv[1]; let d = fs.readFileSync(f, "utf8");
  d = d.replace(/export interface InitOutput \{[\s\S]*?\n\}/, "export interface InitOutput {\n    readonly memory: WebAssembly.Memory;\n}");
  if (/\bany\b/.test(d.replace(/\/\*[\s\S]*?\*\//g, ""))) { console.error("build-web: `any` left in kipp_web.d.ts"); process.exit(1); }
  fs.writeFileSync(f, d);
' "$OUT/kipp_web.d.ts"

# Version from the workspace into the committed package.json template.
version="$(awk -F'"' '/^\[workspace.package\]/{p=1} p && /^version *=/{print $2; exit}' Cargo.toml)"
node -e '
  const fs = require("fs"); const f = process.argv[1]; const p = JSON.parse(fs.readFileSync(f, "utf8"));
  if (p.version !== process.argv[2]) { p.version = process.argv[2]; fs.writeFileSync(f, JSON.stringify(p, null, 2) + "\n"); }
' "$OUT/package.json" "$version"

size() { printf '%s %s' "$(wc -c <"$1" | tr -d ' ')" "$(gzip -9 -c "$1" | wc -c | tr -d ' ')"; }
read -r wr wg <<<"$(size "$OUT/kipp_web_bg.wasm")"
read -r jr jg <<<"$(size "$OUT/kipp_web.js")"
read -r sr sg <<<"$(size "$OUT/$snippet")"
say "kipp_web_bg.wasm  raw $wr  gzip $wg"
say "kipp_web.js       raw $jr  gzip $jg"
say "snippet kipp.js   raw $sr  gzip $sg"
say "total             raw $((wr + jr + sr))  gzip $((wg + jg + sg))  (target 46080 gzip; make test's budget is in tests/web/stages.sh)"
