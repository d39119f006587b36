// Hardening of the edge worker. When Kustom refuses the worker's own API key, the POS must not read it as "your sign-in
// expired": the worker answers 502 upstream_auth_failed, never 401/403.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startStack, eventually, freePort } from './harness.mjs';

let st;
// The emulator accepts another key than the one the worker holds.
before(async () => { st = await startStack({ emulatorArgs: ['--api-key', 'kco_test_api_rotatedkey0000000000000000'] }); }, { timeout: 120000 });
after(async () => { if (st) await st.stop(); });

test('a key Kustom refuses becomes 502 upstream_auth_failed, and the clerk stays signed in', async () => {
  const r = await st.call('GET', '/ipp/v1/locations');
  assert.equal(r.status, 502, r.text);
  assert.equal(r.body.code, 'upstream_auth_failed');
  assert.equal(r.headers.get('content-type'), 'application/problem+json');
  assert.ok(!r.text.includes(st.s.apiKey), 'the key is not echoed');
  const me = await st.call('GET', '/kipp/v1/me');
  assert.equal(me.status, 200, me.text);
});

test('an oversized chunked body (no Content-Length) is refused with 413 before it is buffered whole', async () => {
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  let sent = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (sent >= 4 * 1024 * 1024) { controller.close(); return; }
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
  const r = await fetch(`${st.worker}/webhooks/kustom`, {
    method: 'POST', body, duplex: 'half',
    headers: { 'content-type': 'application/json', 'webhook-id': 'kevt_x', 'webhook-timestamp': '1', 'webhook-signature': 'v1,x' },
  }).catch((e) => ({ status: 'reset', e }));
  // The worker answers 413 (or closes the connection while the client is still sending).
  assert.ok(r.status === 413 || r.status === 'reset', `got ${r.status}`);
  // The client's half-sent connection is torn down; the worker itself keeps serving.
  await eventually(async () => (await st.call('GET', '/kipp/v1/me')).status === 200, 10000, 'the worker still serves');
});

test('a redirect from upstream is not followed: the API key goes to Kustom only, and a create is sent once', async () => {
  // A server that records what reaches it, and a "Kustom" that redirects every request there.
  const reached = [];
  const sinkPort = await freePort();
  const sink = createServer((req, res) => {
    reached.push({ method: req.method, url: req.url, authorization: req.headers.authorization ?? null });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"content":[],"total_elements":0,"total_pages":0,"page_number":0,"page_size":20,"first":true,"last":true}');
  });
  const redirector = createServer((req, res) => {
    res.writeHead(req.method === 'POST' ? 307 : 302, { location: `http://127.0.0.1:${sinkPort}${req.url}` }).end();
  });
  const redirectorPort = await freePort();
  await new Promise((r) => sink.listen(sinkPort, '127.0.0.1', r));
  await new Promise((r) => redirector.listen(redirectorPort, '127.0.0.1', r));
  const emulator = st.emulator;
  try {
    await st.stopWorker();
    st.emulator = `http://127.0.0.1:${redirectorPort}`;
    await st.startWorker();
    const list = await st.call('GET', '/ipp/v1/locations', { token: st.admin });
    assert.equal(list.status, 502, list.text);
    assert.equal(list.body.code, 'upstream_error');
    const create = await st.call('POST', '/ipp/v1/sessions', {
      body: { device_id: '00000000-0000-4000-8000-000000000001', order_amount: 100, purchase_currency: 'SEK', order_tax_amount: 0,
        order_items: [{ name: 'x', quantity: 1, unit_price: 100, total_amount: 100, tax_rate: 0, total_tax_amount: 0 }] },
    });
    assert.ok(create.status >= 500, create.text);
    assert.deepEqual(reached, [], 'nothing, and no Authorization header, reached the target of the redirect');
  } finally {
    await st.stopWorker();
    st.emulator = emulator;
    await st.startWorker();
    sink.close();
    redirector.close();
  }
});
