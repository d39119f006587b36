// scripts/lib/wasm-short-names.mjs — renames a wasm-bindgen module's own imports and exports to
// short names (`a`, `b`, …). wasm-bindgen names them like `__wbg_getWebSockets_557696c97fc4ec99`,
// and each name is in both the .wasm and the JS glue, where its hash does not compress. This file
// rewrites only the .wasm's import (2) and export (7) sections and returns the renames; the build
// script that calls it rewrites its own glue (scripts/build-web.sh, scripts/edge-build.sh), whose
// shapes differ.
//
//   const { wasm, imports, exports } = shortNames(bytes, { module: './index_bg.js', keepExport });
//   imports: Map(old field → new field) of the imports from `module` (which itself becomes `a`);
//   exports: Map(old name → new name) of every export (unchanged when keepExport(name) is true).

const short = (n) => { let t = ''; do { t = String.fromCharCode(97 + (n % 26)) + t; n = Math.floor(n / 26) - 1; } while (n >= 0); return t; };
const leb = (n) => { const o = []; do { let x = n % 128; n = Math.floor(n / 128); if (n) x |= 0x80; o.push(x); } while (n); return Buffer.from(o); };
const enc = (t) => Buffer.concat([leb(Buffer.byteLength(t)), Buffer.from(t)]);

export function shortNames(b, { module, keepExport }) {
  let p = 8;
  let next = 0;
  const u = () => { let r = 0, s = 0, x; do { x = b[p++]; r += (x & 0x7f) * 2 ** s; s += 7; } while (x & 0x80); return r; };
  const name = () => { const n = u(); const t = b.toString('utf8', p, p + n); p += n; return t; };
  const imports = new Map(), exports = new Map();
  const out = [b.subarray(0, 8)];
  while (p < b.length) {
    const id = b[p++]; const len = u(); const start = p, end = p + len;
    if (id !== 2 && id !== 7) { out.push(Buffer.from([id]), leb(len), b.subarray(start, end)); p = end; continue; }
    const n = u(); const parts = [leb(n)];
    for (let i = 0; i < n; i++) {
      if (id === 2) {
        const mod = name(); const field = name(); const descStart = p; const kind = b[p++];
        if (kind === 0) u();                                                   // func: type index
        else if (kind === 1) { p++; const f = b[p++]; u(); if (f & 1) u(); }    // table: reftype + limits
        else if (kind === 2) { const f = b[p++]; u(); if (f & 1) u(); }         // memory: limits
        else if (kind === 3) p += 2;                                            // global: valtype + mut
        else if (kind === 4) { p++; u(); }                                      // tag: attribute + type
        else throw new Error(`import kind ${kind}`);
        let m = mod, f = field;
        if (mod === module) { m = 'a'; f = imports.get(field) ?? short(next++); imports.set(field, f); }
        parts.push(enc(m), enc(f), b.subarray(descStart, p));
      } else {
        const field = name(); const descStart = p; p++; u();
        const f = keepExport(field) ? field : short(next++);
        exports.set(field, f);
        parts.push(enc(f), b.subarray(descStart, p));
      }
    }
    if (p !== end) throw new Error('unexpected section layout');
    const body = Buffer.concat(parts);
    out.push(Buffer.from([id]), leb(body.length), body);
  }
  return { wasm: Buffer.concat(out), imports, exports };
}
