// Security controls of the edge worker that tests/edge/ does not already prove (see
// docs/threat-model.md): subscriber limits, body limits, CORS, webhook floods, clock skew, path
// tricks and POS tokens in logs. Same harness as tests/edge: the real emulator and the real worker
// (`wrangler dev --local`) on free loopback ports in their own process groups.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startStack, cart, device, signWebhook, mintToken, sleep } from '../edge/harness.mjs';

const ORIGIN = 'https://pos.example';
let st;
before(async () => { st = await startStack({ vars: { ALLOWED_ORIGINS: ORIGIN } }); }, { timeout: 120000 });
after(async () => { if (st) await st.stop(); });

async function session() {
  const dev = await device(st, 'Sec till');
  const r = await st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id) });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** A raw WebSocket upgrade: resolves to {status, socket} (socket kept open on 101). */
function upgrade(sessionId, token) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: st.wPort, path: `/ipp/v1/sessions/${sessionId}/events?token=${encodeURIComponent(token)}`,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': Buffer.from(String(Math.random())).toString('base64') } });
    req.on('upgrade', (res, socket) => resolve({ status: res.statusCode, socket }));
    req.on('response', (res) => { res.resume(); resolve({ status: res.statusCode }); });
    req.on('error', reject);
    req.end();
  });
}

/** Sends raw bytes and returns what came back within ms. */
function raw(bytes, ms = 1500) {
  return new Promise((resolve) => {
    const s = net.connect(st.wPort, '127.0.0.1', () => s.write(bytes));
    let out = '';
    s.on('data', (d) => { out += d.toString('latin1'); });
    s.on('error', () => {});
    setTimeout(() => { s.destroy(); resolve(out); }, ms);
  });
}

test('WebSocket flood: at most 8 subscribers per token and 64 per session (429 beyond)', { timeout: 120000 }, async () => {
  const s = await session();
  const open = [];
  try {
    for (let i = 0; i < 8; i++) {
      const r = await upgrade(s.session_id, st.clerk);
      assert.equal(r.status, 101, `subscriber ${i + 1} of one token`);
      open.push(r.socket);
    }
    assert.equal((await upgrade(s.session_id, st.clerk)).status, 429, 'a 9th socket for the same token');
    // Other tokens until the session holds 64.
    for (let i = 8; i < 64; i++) {
      const r = await upgrade(s.session_id, st.token({ role: 'clerk' }));
      assert.equal(r.status, 101, `subscriber ${i + 1} of the session`);
      open.push(r.socket);
    }
    assert.equal((await upgrade(s.session_id, st.token({ role: 'clerk' }))).status, 429, 'a 65th socket on the session');
  } finally {
    for (const sock of open) sock.destroy();
    await st.call('PUT', `/ipp/v1/sessions/${s.session_id}/cancel`);
  }
});

test('long-poll flood: at most 64 waiters per session (429 beyond)', { timeout: 60000 }, async () => {
  const s = await session();
  const url = `${st.worker}/ipp/v1/sessions/${s.session_id}/events?after=CREATED&wait=8`;
  const tokens = Array.from({ length: 9 }, () => ({ authorization: `Bearer ${st.token({ role: 'clerk' })}` }));
  // 64 waiters from 8 tokens (8 each, the per-token cap).
  const waiters = Array.from({ length: 64 }, (_, i) => fetch(url, { headers: tokens[i % 8] }).then((r) => r.status));
  await sleep(2500);
  const extra = await fetch(url, { headers: tokens[8] });
  assert.equal(extra.status, 429, 'a 65th waiter, from a token of its own');
  assert.deepEqual([...new Set(await Promise.all(waiters))], [200]);
  await st.call('PUT', `/ipp/v1/sessions/${s.session_id}/cancel`);
});

test('oversized bodies are refused with 413 (Content-Length and chunked), nothing forwarded', { timeout: 60000 }, async () => {
  const big = JSON.stringify({ pad: 'x'.repeat(600 * 1024) });
  assert.equal((await st.call('POST', '/ipp/v1/sessions', { body: big })).status, 413);
  const hook = 'x'.repeat(300 * 1024);
  const hr = await fetch(`${st.worker}/webhooks/kustom`, { method: 'POST', headers: signWebhook(st.s.webhookSecret, 'kevt_big00000000000000000001', Math.floor(Date.now() / 1000), hook), body: hook });
  assert.equal(hr.status, 413);
  assert.equal((await st.call('POST', '/kipp/v1/tokens', { token: st.admin, body: JSON.stringify({ role: 'clerk', pad: 'x'.repeat(5000) }) })).status, 413);
  // Chunked (no Content-Length): the size is checked on what was read.
  const chunked = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: st.wPort, path: '/ipp/v1/sessions', method: 'POST',
      headers: { authorization: `Bearer ${st.clerk}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => { res.resume(); resolve(res.statusCode); });
    req.on('error', reject);
    for (let i = 0; i < 10; i++) req.write('x'.repeat(64 * 1024));
    req.end();
  });
  assert.equal(chunked, 413);
});

test('conflicting Content-Length and Transfer-Encoding do not smuggle a second request past the worker', async () => {
  // A chunked body that ends at once, then bytes that would be a second request if Content-Length won.
  const smuggled = 'GET /ipp/v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ' + st.admin + '\r\n\r\n';
  const out = await raw(`POST /webhooks/kustom HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${5 + smuggled.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`);
  const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  assert.ok(statuses.length >= 1, `no answer: ${out.slice(0, 200)}`);
  assert.ok(statuses[0] >= 400 && statuses[0] < 500, `first answer ${statuses[0]}`);
  // Either the parser refused the message (one answer) or it used the chunked framing and the
  // trailing bytes were a separate, normally authenticated request: never a webhook body.
  assert.ok(!out.includes('"result":'), 'a webhook acknowledgement');
});

test('CORS: only the configured origin is reflected; no credentials; other origins get nothing', async () => {
  const pre = (origin) => fetch(`${st.worker}/ipp/v1/sessions`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
  const ok = await pre(ORIGIN);
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get('access-control-allow-origin'), ORIGIN);
  assert.match(ok.headers.get('access-control-allow-headers'), /authorization/);
  assert.equal(ok.headers.get('access-control-allow-credentials'), null);
  const evil = await pre('https://evil.example');
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  assert.equal(evil.headers.get('access-control-allow-methods'), null);
  const get = (origin) => fetch(`${st.worker}/kipp/v1/me`, { headers: { origin, authorization: `Bearer ${st.clerk}` } });
  assert.equal((await get(ORIGIN)).headers.get('access-control-allow-origin'), ORIGIN);
  const e = await get('https://evil.example');
  assert.equal(e.headers.get('access-control-allow-origin'), null);
  assert.equal((await get('null')).headers.get('access-control-allow-origin'), null);
  assert.equal((await get(ORIGIN + '.evil.example')).headers.get('access-control-allow-origin'), null);
});

test('webhook flood: forged deliveries change nothing; signed deliveries for unknown sessions cost no upstream call', { timeout: 120000 }, async () => {
  const s = await session();
  // Any upstream read of the flooded (unknown) session ids would consume this rule's count. (The
  // prefix leaves out the reconciliation reads of real open sessions.)
  await st.control('POST', '/_emulator/faults', { status: 503, count: 100000, path_prefix: '/ipp/v1/sessions/11111111-2222-4333-8444-' });
  try {
    const now = Math.floor(Date.now() / 1000);
    const other = 'whsec_' + Buffer.alloc(32, 3).toString('base64');
    const statuses = {};
    const send = async (i) => {
      const forged = i % 2 === 0;
      const sid = forged ? s.session_id : `11111111-2222-4333-8444-${String(i).padStart(12, '0')}`;
      const id = `kevt_flood${String(i).padStart(17, '0')}`;
      const body = JSON.stringify({ id, merchant_id: st.s.merchantId, timestamp: new Date().toISOString(), type: 'ipp.session.cancelled', data: { session_id: sid, order_id: null, failure_reason: null } });
      const r = await fetch(`${st.worker}/webhooks/kustom`, { method: 'POST', headers: signWebhook(forged ? other : st.s.webhookSecret, id, now, body), body });
      const j = await r.json();
      const k = `${r.status} ${j.result ?? j.code}`;
      statuses[k] = (statuses[k] ?? 0) + 1;
    };
    let i = 0;
    await Promise.all(Array.from({ length: 16 }, async () => { while (i < 400) await send(i++); }));
    assert.deepEqual(statuses, { '401 webhook_signature_invalid': 200, '200 unknown_session': 200 });
    const faults = await st.control('GET', '/_emulator/faults');
    const rule = (faults.faults ?? faults).find((f) => f.status === 503);
    assert.equal(rule.remaining ?? rule.count, 100000, `upstream calls were made: ${JSON.stringify(rule)}`);
    assert.equal((await st.call('GET', `/ipp/v1/sessions/${s.session_id}/events?wait=0`)).body.state.status, 'CREATED');
  } finally {
    await st.control('DELETE', '/_emulator/faults');
    await st.call('PUT', `/ipp/v1/sessions/${s.session_id}/cancel`);
  }
});

test('clock: webhooks too far in the future and tokens issued in the future are refused', async () => {
  const s = await session();
  const id = 'kevt_future000000000000001';
  const body = JSON.stringify({ id, merchant_id: st.s.merchantId, timestamp: new Date().toISOString(), type: 'ipp.session.cancelled', data: { session_id: s.session_id, order_id: null, failure_reason: null } });
  const r = await fetch(`${st.worker}/webhooks/kustom`, { method: 'POST', headers: signWebhook(st.s.webhookSecret, id, Math.floor(Date.now() / 1000) + 3600, body), body });
  assert.equal(r.status, 400);
  assert.match((await r.json()).code, /timestamp/);
  const future = mintToken(st.s.tokenKey, { iat: Math.floor(Date.now() / 1000) + 600, ttl: 3600 }).token;
  assert.equal((await st.call('GET', '/kipp/v1/me', { token: future })).status, 401);
  // Inside the tolerance (60 s of skew for tokens) still works.
  const skewed = mintToken(st.s.tokenKey, { iat: Math.floor(Date.now() / 1000) + 30, ttl: 3600 }).token;
  assert.equal((await st.call('GET', '/kipp/v1/me', { token: skewed })).status, 200);
  // The emulator's clock moving forward does not make its (real-time) webhook timestamps stale.
  // (10 minutes: beyond the 300 s webhook tolerance, inside the 15-minute session lifetime.)
  await st.control('POST', '/_emulator/clock/advance', { seconds: 600 });
  assert.equal((await st.call('PUT', `/ipp/v1/sessions/${s.session_id}/cancel`)).status, 200);
  const d = await (async () => { for (let i = 0; i < 50; i++) { const x = await st.control('GET', `/_emulator/deliveries?session_id=${s.session_id}&type=ipp.session.cancelled`); if (x.deliveries?.some((e) => e.delivered)) return x; await sleep(200); } return null; })();
  assert.ok(d, 'the cancelled webhook was accepted by the worker after a clock advance');
  await st.control('POST', '/_emulator/reset');
});

test('not an open proxy: encoded traversal and foreign hosts never reach anything but the allow-list', async () => {
  const dev = await device(st, 'Proxy till');
  for (const p of ['/ipp/v1/%2e%2e/_emulator/reset', '/ipp/v1/devices/..%2f..%2f_emulator%2freset', '/ipp/v1/sessions/%2F%2Fevil.example', '/ipp/v1//devices', '/ipp/v2/devices']) {
    const out = await raw(`POST ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${st.admin}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`, 1500);
    const status = Number(/HTTP\/1\.1 (\d{3})/.exec(out)?.[1]);
    assert.ok(status >= 400 && status < 500, `${p} → ${status}`);
  }
  // (An absolute-form target with a foreign Host is answered by wrangler dev's own proxy layer,
  // not the worker — 500 there; see docs/threat-model.md, gaps.)
  // The emulator's state was not reset by any of it.
  assert.equal((await st.call('GET', `/ipp/v1/devices/${dev.id}`, { token: st.admin })).status, 200);
});

test('POS tokens and secrets are not written to the worker log (the WebSocket ?token= included)', async () => {
  const token = st.token({ role: 'clerk' });
  const s = await session();
  const r = await upgrade(s.session_id, token);
  assert.equal(r.status, 101);
  r.socket.destroy();
  await st.call('GET', '/kipp/v1/me', { token });
  await st.call('PUT', `/ipp/v1/sessions/${s.session_id}/cancel`);
  await sleep(500);
  const logs = st.readLogs();
  const sig = token.split('.')[2];
  const lines = logs.split('\n').filter((l) => l.includes(sig));
  assert.deepEqual(lines.map((l) => l.slice(0, 160)), [], 'the token appears in the log');
  for (const n of [st.s.apiKey, st.s.webhookSecret, st.s.tokenKey]) assert.ok(!logs.includes(n));
});
