// `npm pack` of pkg/, installed into a scratch plain-ESM app under target/, which calls
// validateSession and formatAmount in Node (wasm initialised from the file's bytes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const app = join(root, 'target/pack-consumer');

test('npm pack of pkg/ installs and works in a plain ESM app', () => {
  rmSync(app, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  const out = execFileSync('npm', ['pack', join(root, 'pkg'), '--pack-destination', app, '--json'], { encoding: 'utf8' });
  const [info] = JSON.parse(out);
  const files = info.files.map((f) => f.path).sort();
  for (const f of ['kipp_web.js', 'kipp_web.d.ts', 'kipp_web_bg.wasm', 'package.json', 'README.md']) assert.ok(files.includes(f), `${f} packed`);
  assert.ok(files.some((f) => f.startsWith('snippets/') && f.endsWith('kipp.js')), 'snippet packed');
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const tgz = readdirSync(app).find((f) => f.endsWith('.tgz'));
  execFileSync('npm', ['install', '--no-save', '--offline', '--no-audit', '--no-fund', `./${tgz}`], { cwd: app, stdio: 'pipe' });
  writeFileSync(join(app, 'main.js'), `
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { initSync, validateSession, formatAmount, KippError, KippClient } from 'kipp-web';
const require = createRequire(import.meta.url);
let uninit = null;
try { new KippClient({ baseUrl: 'http://127.0.0.1:9' }); } catch (e) { uninit = e instanceof KippError ? e.code : 'wrong type: ' + e; }
initSync({ module: readFileSync(require.resolve('kipp-web/kipp_web_bg.wasm')) });
const ok = { device_id: '3f0c8a52-7c1e-4b7a-9a43-0d2f6b1e9c11', order_amount: 25000, purchase_currency: 'SEK', order_tax_amount: 5000,
  order_items: [{ name: 'Mug', quantity: 2, unit_price: 12500, total_amount: 25000, tax_rate: 2500, total_tax_amount: 5000 }] };
let thrown = null;
try { formatAmount(1, 'NOPE'); } catch (e) { thrown = e instanceof KippError && e instanceof Error ? e.code : 'wrong type'; }
console.log(JSON.stringify({ ok: validateSession(ok), bad: validateSession({ ...ok, order_amount: 1 }), sek: formatAmount(12900, 'SEK', 'sv-SE'), usd: formatAmount(199, 'USD', 'en-US'), thrown, uninit }));
`);
  const res = JSON.parse(execFileSync(process.execPath, ['main.js'], { cwd: app, encoding: 'utf8' }));
  assert.deepEqual(res.ok, []);
  assert.equal(res.bad[0].path, 'order_amount');
  assert.equal(res.bad[0].code, 'mismatch');
  assert.equal(res.sek, '129,00\u00a0kr');
  assert.equal(res.usd, '$1.99');
  assert.equal(res.thrown, 'validation_failed');
  assert.equal(res.uninit, 'not_initialized', 'new KippClient() before init is a KippError');
});
