// Hardening of the edge worker. When Kustom refuses the worker's own API key, the POS must not read it as "your sign-in
// expired": the worker answers 502 upstream_auth_failed, never 401/403.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, eventually } from './harness.mjs';

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
