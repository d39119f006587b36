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
# -O3 (rustc already built for size: here -O3 comes out ~0.5 KB gzip *smaller* than -Oz, and
# its inlining of small functions means fewer wasm calls per request; docs/decisions.md § Edge
# worker, "Speed pass (session 5)"), without inlining functions that have a single caller
# (binaryen inlines those at any size by default, which copies big async state machines into
# their callers and costs ~19 KB gzip here; see § Edge worker, size); then drop the debug name,
# producers and target_features sections (none is used at run time). The --enable-* set is the
# one worker-build passes.
# KIPP_EDGE_KEEP_NAMES=1 keeps the function names and the long import/export names (a build for
# CPU profiles, bench/edge-profile.mjs; not for deploying).
keep_names="${KIPP_EDGE_KEEP_NAMES:-}"
names_flag=--strip-debug
[ -z "$keep_names" ] || names_flag=--debuginfo
"$WASM_OPT_BIN" crates/edge/build/index_bg.wasm -O3 --one-caller-inline-max-function-size=10 \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
  --enable-multivalue --enable-reference-types --enable-exception-handling \
  "$names_flag" --strip-producers --strip-target-features \
  -o crates/edge/build/index_bg.wasm
# Short names for the module's own imports and exports: wasm-bindgen names them like
# `__wbg_getWebSockets_557696c97fc4ec99`, and each name is in both index_bg.wasm and index.js,
# where its hash does not compress (~5 KB gzip). Imports of `./index_bg.js` become `a`.`a`, `b`,
# …; an export is renamed only when the glue reads it solely as `<exports object>.<name>` and
# the name has an `_` (`fetch`, `init`, `memory` keep theirs). The glue is checked afterwards:
# every export it reads must exist under its new name.
[ -n "$keep_names" ] || node --input-type=module - "$KIPP_ROOT/scripts/lib/wasm-short-names.mjs" crates/edge/build/index_bg.wasm crates/edge/build/index.js <<'NODE'
import fs from 'node:fs';
const [lib, wasmFile, jsFile] = process.argv.slice(2);
const { shortNames } = await import(lib);
let js = fs.readFileSync(jsFile, 'utf8');
const count = (re) => (js.match(re) ?? []).length;
const esc = (s) => s.replace(/[$]/g, '\\$');
// The exports object of the glue: `<x>=<y>.exports` (esbuild-minified by worker-build).
const vars = new Set([...js.matchAll(/([\w$]+)=[\w$]+\.exports\b/g)].map((m) => m[1]));
if (vars.size !== 1 || count(/\.exports\b/g) !== count(/[\w$]+=[\w$]+\.exports\b/g)) throw new Error('glue: exports object not found');
const X = [...vars][0];
// Only names no other object in the glue has (`fetch`, `init`, `memory` keep theirs).
const keepExport = (field) => !field.includes('_')
  || count(new RegExp(`\\.${esc(field)}\\b`, 'g')) !== count(new RegExp(`(?<![\\w$])${esc(X)}\\.${esc(field)}\\b`, 'g'));
const { wasm, imports, exports: exps } = shortNames(fs.readFileSync(wasmFile), { module: './index_bg.js', keepExport });
if (count(/"\.\/index_bg\.js":/g) !== 1) throw new Error('glue: import module key not found once');
js = js.replace('"./index_bg.js":', 'a:');
for (const [from, to] of imports) {
  const re = new RegExp(`(?<=[{,])${esc(from)}:`, 'g');
  if (count(re) !== 1) throw new Error(`glue: import ${from} not found once`);
  js = js.replace(re, `${to}:`);
}
for (const [from, to] of exps) {
  if (from === to) continue;
  js = js.replace(new RegExp(`(?<![\\w$])${esc(X)}\\.${esc(from)}\\b`, 'g'), `${X}.${to}`);
}
// Every export the glue reads must exist under its new name. (Import keys the .wasm no longer
// imports — wasm-opt dropped them after wasm-bindgen wrote the glue — are left as they are.)
const names = new Set(exps.values());
for (const m of js.matchAll(new RegExp(`(?<![\\w$.])${esc(X)}\\.([\\w$]+)`, 'g'))) {
  if (!names.has(m[1])) throw new Error(`glue: reads export ${m[1]}, which the .wasm does not have`);
}
fs.writeFileSync(wasmFile, wasm);
fs.writeFileSync(jsFile, js);
console.error(`short names: ${imports.size} imports, ${[...exps].filter(([a, b]) => a !== b).length} of ${exps.size} exports`);
NODE
# wasm-bindgen-futures wakes its tasks with the global `queueMicrotask` when there is one, else
# with `then` on a resolved promise (js-sys futures/queue.rs). workerd's `queueMicrotask` costs
# ~10 µs a call here (it wraps every callback to carry the async context), where `then` costs
# ~1 µs, and a webhook delivery wakes ~5 tasks (docs/decisions.md § Edge worker, "Speed pass
# (session 7)"). The glue's check for `queueMicrotask` answers "none", so the queue takes its
# own promise path. Both run the task as a microtask; only the cost differs.
node --input-type=module - crates/edge/build/index.js <<'NODE'
import fs from 'node:fs';
const [jsFile] = process.argv.slice(2);
let js = fs.readFileSync(jsFile, 'utf8');
const probes = [...js.matchAll(/([\w$]+):function\((\w)\)\{return \2\.queueMicrotask\}/g)];
if (probes.length !== 1) throw new Error(`glue: one queueMicrotask probe expected, found ${probes.length}`);
js = js.replace(probes[0][0], `${probes[0][1]}:function(){}`);
fs.writeFileSync(jsFile, js);
NODE
# RPC into the Durable Objects (the session object's `kippGet`/`kippWebhook`): workerd only
# exposes RPC on classes deriving from DurableObject, and worker-build (0.8.7) gives them that
# prototype only in its emscripten mode; here it exports each class wrapped in a Proxy of its
# reinitialization hooks. The classes of wrangler.toml's bindings get DurableObject's prototype
# as worker-build's emscripten shim does it (the Proxy forwards both calls to the class).
node --input-type=module - wrangler.toml crates/edge/build/index.js <<'NODE'
import fs from 'node:fs';
const [toml, jsFile] = process.argv.slice(2);
let js = fs.readFileSync(jsFile, 'utf8');
const classes = [...fs.readFileSync(toml, 'utf8').matchAll(/^class_name\s*=\s*"(\w+)"/gm)].map((m) => m[1]);
const exp = js.match(/export\{[^}]*\}/g);
if (!exp || exp.length !== 1) throw new Error('glue: one export list expected');
const locals = classes.map((c) => {
  const m = exp[0].match(new RegExp(`([\\w$]+) as ${c}\\b`));
  if (!m) throw new Error(`glue: class ${c} (wrangler.toml) is not exported`);
  return m[1];
});
if (js.includes('__kippDurableObject')) throw new Error('glue: already patched');
js = `import{DurableObject as __kippDurableObject}from"cloudflare:workers";${js}`.replace(exp[0],
  `for(const c of[${locals.join(',')}]){Object.setPrototypeOf(c.prototype,__kippDurableObject.prototype);Object.setPrototypeOf(c,__kippDurableObject)}${exp[0]}`);
fs.writeFileSync(jsFile, js);
NODE
# The POS needs the browser package at /pkg/: built here too when missing or stale.
# shellcheck source=scripts/lib/web-pkg.sh
source "$KIPP_ROOT/scripts/lib/web-pkg.sh"
build_web_if_stale
rm -rf target/site && mkdir -p target/site/pkg
[ -d www ] && cp -R www/. target/site/
[ -d pkg ] && cp -R pkg/. target/site/pkg/
# Never publish anything but the browser files.
find target/site -name '.dev.vars' -delete
echo "edge-build: crates/edge/build/index_bg.wasm $(wc -c <crates/edge/build/index_bg.wasm) B, site in target/site" >&2
