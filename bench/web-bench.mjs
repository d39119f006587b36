// make bench (scripts/bench.sh stage "web"): kipp-web's size, and validation speed of a 50-line cart in
// headless Chromium — kipp-core (wasm) validateSession vs ajv compiled from the OpenAPI
// CreateSessionRequest schema vs a zod schema, same page, same JSON. Prints BENCH lines.
import { createServer } from 'node:http';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, extname } from 'node:path';
import { launch } from '../tests/web/browsers.mjs';

const root = new URL('../', import.meta.url).pathname;
const pkg = join(root, 'pkg');
const out = join(root, 'target/web-bench');
mkdirSync(out, { recursive: true });

// ---- sizes -------------------------------------------------------------------------------
const snippet = execFileSync('find', [join(pkg, 'snippets'), '-name', 'kipp.js'], { encoding: 'utf8' }).trim();
// `gzip -9`, as the table says and as scripts/build-web.sh and tests/web/stages.sh measure (node's
// zlib at level 9 comes out ~1 % larger on the wasm).
const size = (f) => [readFileSync(f).length, execFileSync('gzip', ['-9', '-c', f]).length];
const [wr, wg] = size(join(pkg, 'kipp_web_bg.wasm'));
const [jr, jg] = size(join(pkg, 'kipp_web.js'));
const [sr, sg] = size(snippet);
console.log(`BENCH web_wasm_raw ${wr} bytes`);
console.log(`BENCH web_wasm_gzip ${wg} bytes`);
console.log(`BENCH web_glue_js_raw ${jr + sr} bytes`);
console.log(`BENCH web_glue_js_gzip ${jg + sg} bytes`);
console.log(`BENCH web_total_gzip ${wg + jg + sg} bytes`);

// ---- schema + bundle ---------------------------------------------------------------------
const schema = JSON.parse(execFileSync('python3', ['-c', `
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
schemas = doc["components"]["schemas"]
def resolve(s):
    if isinstance(s, dict):
        if "$ref" in s: return resolve(schemas[s["$ref"].split("/")[-1]])
        return {k: resolve(v) for k, v in s.items() if k not in ("example", "examples", "nullable", "xml")}
    if isinstance(s, list): return [resolve(x) for x in s]
    return s
print(json.dumps(resolve(schemas["CreateSessionRequest"])))
`, join(root, 'docs/kustom-ipp.openapi.yaml')], { encoding: 'utf8' }));
execFileSync(join(root, 'node_modules/.bin/esbuild'), [join(root, 'bench/web-bench-page.js'), '--bundle', '--format=esm', `--outfile=${join(out, 'bench.js')}`, '--log-level=warning']);
writeFileSync(join(out, 'index.html'), '<!doctype html><meta charset="utf-8"><title>bench</title>');

const items = Array.from({ length: 50 }, (_, i) => ({ type: 'physical', reference: `SKU-${i}`, name: `Item ${i}`, quantity: 2, unit_price: 12500, total_amount: 25000, tax_rate: 2500, total_tax_amount: 5000 }));
const cart = { device_id: '3f0c8a52-7c1e-4b7a-9a43-0d2f6b1e9c11', order_amount: 25000 * 50, purchase_currency: 'SEK', order_tax_amount: 5000 * 50, merchant_reference1: 'bench', order_items: items };

const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
const server = createServer((req, res) => {
  const p = new URL(req.url, 'http://x').pathname;
  const file = p.startsWith('/pkg/') ? join(pkg, p.slice(5)) : join(out, p === '/' ? 'index.html' : p.slice(1));
  try { const b = readFileSync(file); res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }); res.end(b); } catch { res.writeHead(404); res.end(); }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  const r = await page.evaluate(async ({ schema, cart, ms }) => {
    const kipp = await import('/pkg/kipp_web.js');
    await kipp.default();
    const { run } = await import('/bench.js');
    return run(kipp, schema, cart, ms);
  }, { schema, cart, ms: Number(process.env.KIPP_BENCH_MS ?? 2000) });
  if (r.checks.kipp !== 0 || r.checks.ajv !== true || r.checks.zod !== true) throw new Error(`validators disagree: ${JSON.stringify(r.checks)}`);
  console.log(`BENCH validate_50_lines_kipp_wasm ${Math.round(r.kippOps)} ops/s`);
  console.log(`BENCH validate_50_lines_ajv ${Math.round(r.ajvOps)} ops/s`);
  console.log(`BENCH validate_50_lines_zod ${Math.round(r.zodOps)} ops/s`);
  console.log(`BENCH kipp_vs_ajv ${(r.kippOps / r.ajvOps).toFixed(2)} x`);
  console.log(`BENCH kipp_vs_zod ${(r.kippOps / r.zodOps).toFixed(2)} x`);
  console.log(`BENCH stringify_50_lines_floor ${Math.round(r.stringifyOps)} ops/s`);
  console.log(`BENCH stringify_floor_vs_ajv ${(r.stringifyOps / r.ajvOps).toFixed(3)} x`);
} finally {
  await browser.close();
  server.close();
}
