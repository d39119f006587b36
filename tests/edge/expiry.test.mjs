// Kustom sends no webhook when a session expires, so the worker re-reads a session just after its
// lifetime runs out (KIPP_SESSION_TTL_SECS, which the emulator reads from the same .dev.vars):
// a screen sees EXPIRED about a second after the expiry, not at the next reconciliation gap (up
// to 5 min later). Here the regular re-reads are an hour away, so only the expiry read can tell.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, cart, device, subscribe } from './harness.mjs';

const TTL_SECS = 4;
let st;
before(async () => {
  st = await startStack({ vars: { KIPP_SESSION_TTL_SECS: String(TTL_SECS), KIPP_RECONCILE_AFTER_SECS: '3600' } });
}, { timeout: 120000 });
after(async () => { if (st) await st.stop(); });

test('a session that runs out of time is pushed as EXPIRED with no webhook and no regular re-read due', { timeout: 60000 }, async () => {
  const dev = await device(st, 'Expiring till');
  const r = await st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id) });
  assert.equal(r.status, 200, r.text);
  const sid = r.body.session_id;
  const sub = subscribe(st, sid);
  await sub.opened;
  // The emulator's lifetime is the worker's: it expires the session after TTL_SECS.
  const close = await sub.closed;
  assert.equal(close.code, 1000, 'the socket closes on the terminal state');
  assert.deepEqual(sub.messages.map((m) => m.state.status), ['CREATED', 'EXPIRED']);
  const get = await st.call('GET', `/ipp/v1/sessions/${sid}`);
  assert.equal(get.body.status, 'EXPIRED');
  // Kustom documents no webhook for an expiry, and the emulator sends none: the read did it.
  const { deliveries } = await st.control('GET', `/_emulator/deliveries?session_id=${sid}`);
  assert.deepEqual([...new Set(deliveries.map((d) => d.type))], ['ipp.session.created']);
});
