// Lists the biggest functions of a wasm module by body size (uses its name section).
// node tests/web/wasm-sizes.mjs <file.wasm> [N]
import { readFileSync } from 'node:fs';
const buf = readFileSync(process.argv[2]);
const top = Number(process.argv[3] ?? 40);
let p = 8;
const u = () => { let r = 0, s = 0, b; do { b = buf[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
const str = () => { const n = u(); const t = buf.toString('utf8', p, p + n); p += n; return t; };
let imports = 0; const bodies = []; const names = new Map(); const sections = [];
while (p < buf.length) {
  const id = buf[p++]; const len = u(); const end = p + len; let name = String(id);
  if (id === 0) { name = str(); if (name === 'name') { while (p < end) { const sub = buf[p++]; const sl = u(); const se = p + sl; if (sub === 1) { const n = u(); for (let i = 0; i < n; i++) { const idx = u(); names.set(idx, str()); } } p = se; } } }
  else if (id === 2) { const n = u(); for (let i = 0; i < n; i++) { str(); str(); const k = buf[p++]; if (k === 0) { u(); imports++; } else if (k === 1) { p++; const f = buf[p++]; u(); if (f & 1) u(); } else if (k === 2) { const f = buf[p++]; u(); if (f & 1) u(); } else if (k === 3) { p += 2; } else { p++; u(); } } }
  else if (id === 10) { const n = u(); for (let i = 0; i < n; i++) { const sz = u(); bodies.push(sz); p += sz; } }
  sections.push([name, len]); p = end;
}
console.log('sections:', sections.map(([n, l]) => `${n}:${l}`).join(' '));
const rows = bodies.map((sz, i) => [sz, names.get(i + imports) ?? `f${i + imports}`]).sort((a, b) => b[0] - a[0]);
const total = bodies.reduce((a, b) => a + b, 0);
console.log('functions', bodies.length, 'code bytes', total);
for (const [sz, n] of rows.slice(0, top)) console.log(String(sz).padStart(7), n.slice(0, 150));
