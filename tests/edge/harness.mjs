// Test harness for the edge worker: starts the real emulator (`kipp emulator`) and the real
// worker (`wrangler dev --local`, prebuilt bundle) on free loopback ports, each in its own
// process group, with a temporary .dev.vars; stops exactly those groups.
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, createWriteStream, readFileSync, existsSync, cpSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep };

const b64url = (buf) => Buffer.from(buf).toString('base64url');

export function secrets() {
  return {
    apiKey: 'kco_test_api_' + randomBytes(18).toString('hex'),
    merchantId: 'DM' + String(10000000 + Math.floor(Math.random() * 8999999)),
    webhookSecret: 'whsec_' + randomBytes(32).toString('base64'),
    tokenKey: randomBytes(32).toString('base64'),
  };
}

/** Mints a kipp1 token in JS (an independent implementation of docs/contracts.md). */
export function mintToken(tokenKey, { role = 'clerk', loc, ttl = 3600, iat, jti } = {}) {
  const now = iat ?? Math.floor(Date.now() / 1000);
  const claims = { jti: jti ?? b64url(randomBytes(16)), role, ...(loc ? { loc } : {}), iat: now, exp: now + ttl };
  const signed = 'kipp1.' + b64url(JSON.stringify(claims));
  const mac = createHmac('sha256', Buffer.from(tokenKey, 'base64')).update(signed).digest();
  return { token: signed + '.' + b64url(mac), claims };
}

/** Signs a webhook body with a whsec_ secret (Standard Webhooks). */
export function signWebhook(secret, id, ts, body) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const sig = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${sig}`, 'content-type': 'application/json' };
}

/**
 * Delivers a signed webhook to the worker as Kustom does: a 5xx without `x-request-id` is wrangler
 * dev's proxy answering for a connection it lost to the worker, not the worker (every answer of
 * the worker carries one; docs/decisions.md § Soak and benchmarks, "The same loss without an
 * exit"), and Kustom redelivers after a 5xx; so does this, twice at most. Returns the Response.
 */
export async function deliverWebhook(stack, id, body) {
  const send = () => fetch(`${stack.worker}/webhooks/kustom`, { method: 'POST', headers: signWebhook(stack.s.webhookSecret, id, Math.floor(Date.now() / 1000), body), body });
  let r = await send();
  for (let retry = 0; retry < 2 && r.status >= 500 && !r.headers.get('x-request-id'); retry++) {
    await r.arrayBuffer();
    await sleep(500);
    r = await send();
  }
  return r;
}

/**
 * The command that runs `wrangler dev`: scripts/lib/wrangler-dev.mjs, the same wrangler without
 * the DevTools inspector (which doubles the cost of every console line; see that file), or the
 * plain `wrangler dev` command when KIPP_WRANGLER_INSPECTOR=1. Returns [cmd, prefixArgs].
 */
export function wranglerDev() {
  return process.env.KIPP_WRANGLER_INSPECTOR === '1'
    ? [path.join(ROOT, 'node_modules/.bin/wrangler'), []]
    : [process.execPath, [path.join(ROOT, 'scripts/lib/wrangler-dev.mjs')]];
}

function groupSpawn(cmd, args, opts, logFile) {
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(cmd, args, { ...opts, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  return child;
}

async function stopGroup(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try { process.kill(-child.pid, 'SIGTERM'); } catch { return; }
  const t = await Promise.race([exited.then(() => 'exit'), sleep(graceMs).then(() => 'timeout')]);
  if (t === 'timeout') { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } await exited; }
}

async function waitFor(fn, timeoutMs, what) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < timeoutMs) {
    try { if (await fn()) return; } catch (e) { last = e; }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}: ${last ?? ''}`);
}

/** The `kipp` binary: $KIPP_BIN, else the most recently built of target/{debug,release}/kipp (a
 * stale release build must not win over the debug build `make test` just made). */
export function kippBin() {
  if (process.env.KIPP_BIN) return process.env.KIPP_BIN;
  const built = ['target/release/kipp', 'target/debug/kipp'].map((p) => path.join(ROOT, p)).filter(existsSync);
  if (built.length === 0) throw new Error('kipp binary not built (cargo build -p kipp-cli)');
  return built.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

/** Starts emulator + worker. Returns a stack object with helpers; call stack.stop(). */
export async function startStack({ vars = {}, emulatorArgs = [] } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'kipp-edge-test-'));
  const s = secrets();
  const [ePort, wPort] = [await freePort(), await freePort()];
  const devVars = {
    KUSTOM_API_KEY: s.apiKey,
    KUSTOM_MERCHANT_ID: s.merchantId,
    KUSTOM_WEBHOOK_SECRETS: s.webhookSecret,
    KIPP_TOKEN_KEY: s.tokenKey,
    KUSTOM_WEBHOOK_URL: `http://127.0.0.1:${wPort}/webhooks/kustom`,
    KIPP_RECONCILE_AFTER_SECS: '1',
    KIPP_UPSTREAM_TIMEOUT_MS: '2000',
    KIPP_REVOCATION_CACHE_SECS: '1',
    ...vars,
  };
  const varsFile = path.join(dir, '.dev.vars');
  // A private copy of the built worker and site, so a rebuild elsewhere cannot reload it mid-test.
  // KIPP_EDGE_BUILD_DIR: run another build of the worker (e.g. an instrumented copy).
  cpSync(process.env.KIPP_EDGE_BUILD_DIR ?? path.join(ROOT, 'crates/edge/build'), path.join(dir, 'build'), { recursive: true });
  cpSync(path.join(ROOT, 'target/site'), path.join(dir, 'site'), { recursive: true });
  const toml = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8')
    .replace(/^main = .*$/m, `main = "${path.join(dir, 'build/index.js')}"`)
    .replace(/^directory = .*$/m, `directory = "${path.join(dir, 'site')}"`);
  writeFileSync(path.join(dir, 'wrangler.toml'), toml);
  writeFileSync(varsFile, Object.entries(devVars).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const stack = {
    dir, s, ePort, wPort, varsFile,
    emulator: `http://127.0.0.1:${ePort}`,
    worker: `http://127.0.0.1:${wPort}`,
    logs: { emulator: path.join(dir, 'emulator.log'), worker: path.join(dir, 'worker.log') },
    // wrangler's own debug log (WRANGLER_LOG_PATH), kept apart from `logs` (it is wrangler's, not
    // the worker's output): the soak reads its proxy errors there.
    debugLog: path.join(dir, 'wrangler-debug.log'),
    children: {},
  };
  stack.startEmulator = async () => {
    stack.children.emulator = groupSpawn(kippBin(), ['emulator', '--listen', `127.0.0.1:${ePort}`, '--dev-vars', varsFile,
      '--webhook-retry', '200ms,400ms,800ms,1s,2s,2s', '--webhook-timeout', '5s', ...emulatorArgs], { cwd: dir }, stack.logs.emulator);
    await waitFor(async () => (await fetch(`${stack.emulator}/_emulator/health`)).ok, 30000, 'emulator');
  };
  stack.startWorker = async () => {
    const inspector = await freePort();
    stack.inspectorPort = inspector; // used only with KIPP_WRANGLER_INSPECTOR=1 (profiling)
    const [cmd, pre] = wranglerDev();
    stack.children.worker = groupSpawn(cmd, [...pre, 'dev', '--config', path.join(dir, 'wrangler.toml'),
      '--local', '--ip', '127.0.0.1', '--port', String(wPort), '--inspector-port', String(inspector),
      '--show-interactive-dev-session=false', '--env-file', varsFile, '--persist-to', path.join(dir, 'state'),
      '--var', `KUSTOM_API_BASE:${stack.emulator}`, '--log-level', 'log'],
    { cwd: dir, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false', WRANGLER_HIDE_BANNER: 'true', CLOUDFLARE_CF_FETCH_ENABLED: 'false', DO_NOT_TRACK: '1', WRANGLER_LOG_PATH: stack.debugLog } },
    stack.logs.worker);
    await waitFor(async () => (await fetch(`${stack.worker}/kipp/v1/me`)).status === 401, 60000, 'worker');
  };
  stack.stopWorker = () => stopGroup(stack.children.worker);
  stack.stop = async () => { await stopGroup(stack.children.worker); await stopGroup(stack.children.emulator); };
  stack.token = (o) => mintToken(s.tokenKey, o).token;
  stack.admin = stack.token({ role: 'admin' });
  stack.clerk = stack.token({ role: 'clerk' });
  /** fetch against the worker with a token; returns {status, headers, body(json|text)} */
  stack.call = async (method, p, { token = stack.clerk, body, headers = {} } = {}) => {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const r = await fetch(stack.worker + p, { method, headers: h, body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)) });
    const text = await r.text();
    let json; try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: r.status, headers: r.headers, body: json, text };
  };
  stack.control = async (method, p, body) => {
    const r = await fetch(stack.emulator + p, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const t = await r.text();
    try { return JSON.parse(t); } catch { return t; }
  };
  stack.readLogs = () => Object.values(stack.logs).filter(existsSync).map((f) => readFileSync(f, 'utf8')).join('\n');
  try {
    await stack.startEmulator();
    await stack.startWorker();
  } catch (e) {
    await stack.stop();
    throw new Error(`${e.message}\n--- logs ---\n${stack.readLogs().slice(-4000)}`);
  }
  return stack;
}

/** A cart for one device. */
export function cart(deviceId, amount = 1000, ref) {
  const tax = Math.round((amount * 2500) / 12500);
  return {
    device_id: deviceId, order_amount: amount, purchase_currency: 'SEK', order_tax_amount: tax,
    ...(ref ? { merchant_reference1: ref } : {}),
    order_items: [{ name: 'Tea', quantity: 1, unit_price: amount, total_amount: amount, tax_rate: 2500, total_tax_amount: tax }],
  };
}

/** Creates a simulated device through the worker (admin token). */
export async function device(stack, name = 'Till', location_id) {
  const r = await stack.call('POST', '/ipp/v1/dev/devices', { token: stack.admin, body: { name, ...(location_id ? { location_id } : {}) } });
  if (r.status !== 201) throw new Error(`device: ${r.status} ${r.text}`);
  return r.body;
}

/** Waits until fn() returns a truthy value. */
export async function eventually(fn, timeoutMs = 15000, what = 'condition') {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < timeoutMs) {
    last = await fn();
    if (last) return last;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Opens a WebSocket subscriber and collects messages (JSON) and other texts until close. */
export function subscribe(stack, sessionId, token = stack.clerk) {
  const url = `ws://127.0.0.1:${stack.wPort}/ipp/v1/sessions/${sessionId}/events?token=${encodeURIComponent(token)}`;
  const ws = new WebSocket(url);
  const messages = [];
  const texts = [];
  const closed = new Promise((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code })));
  const opened = new Promise((resolve, reject) => { ws.addEventListener('open', resolve); ws.addEventListener('error', reject); });
  ws.addEventListener('message', (e) => {
    try {
      messages.push(JSON.parse(e.data));
    } catch {
      texts.push(e.data);
    }
  });
  return { ws, messages, texts, closed, opened };
}
