// Idempotency records have a lifetime: a finished create's key replays its session within
// KIPP_IDEMPOTENCY_RETENTION_SECS (default 24 h; 2 s here), and after that the record is purged
// (by the device's next create) so the key starts a new sale instead of being stored for ever.
// A session's object keeps its record KIPP_SESSION_RETENTION_SECS after the session's creation
// once it is over (default 30 days; 4 s here), then drops it: one object per sale would
// otherwise grow storage for ever.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, cart, device, sleep, eventually, deliverWebhook } from './harness.mjs';

let st;
before(async () => { st = await startStack({ vars: { KIPP_IDEMPOTENCY_RETENTION_SECS: '2', KIPP_SESSION_RETENTION_SECS: '4' } }); }, { timeout: 120000 });
after(async () => { if (st) await st.stop(); });

const create = (deviceId, key, amount) =>
  st.call('POST', '/ipp/v1/sessions', { body: cart(deviceId, amount), headers: { 'idempotency-key': key } });

test('a finished create is replayed within the retention and purged after it', async () => {
  const dev = await device(st, 'Retention till');
  const key = 'order-' + Math.random();
  const first = await create(dev.id, key, 1000);
  assert.equal(first.status, 200, first.text);
  const tap = await st.call('POST', `/ipp/v1/dev/sessions/${first.body.session_id}/simulate-tap?outcome=SUCCESS`);
  assert.equal(tap.status, 200, tap.text);

  // Within the retention: the same session, replayed.
  const again = await create(dev.id, key, 1000);
  assert.equal(again.status, 200, again.text);
  assert.equal(again.body.session_id, first.body.session_id);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');

  // After it: the device's next create purges the expired record...
  await sleep(3000);
  const other = await create(dev.id, 'other-' + Math.random(), 2000);
  assert.equal(other.status, 200, other.text);
  await st.call('PUT', `/ipp/v1/sessions/${other.body.session_id}/cancel`);

  // ...so the old key is a new sale: a new session, not the paid one replayed.
  const later = await create(dev.id, key, 1000);
  assert.equal(later.status, 200, later.text);
  assert.notEqual(later.body.session_id, first.body.session_id);
  assert.equal(later.body.status, 'CREATED');
  assert.equal(later.headers.get('idempotent-replayed'), null);
  await st.call('PUT', `/ipp/v1/sessions/${later.body.session_id}/cancel`);
});

test('a finished session\'s object drops its record after the retention, and Kustom answers for it', async () => {
  const dev = await device(st, 'Forgetful till');
  const s = await create(dev.id, 'forget-' + Math.random(), 1500);
  assert.equal(s.status, 200, s.text);
  const id = s.body.session_id;
  assert.equal((await st.call('PUT', `/ipp/v1/sessions/${id}/cancel`)).status, 200);
  // How the worker answered a GET of the session: from its object (no upstream call in the
  // request's log line) or from Kustom.
  const answeredBy = async () => {
    const before = st.readLogs().length;
    const g = await st.call('GET', `/ipp/v1/sessions/${id}`);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.body.status, 'CANCELLED');
    await eventually(() => st.readLogs().slice(before).includes('"route":"/ipp/v1/sessions/{session_id}"'), 5000, 'the log line');
    const line = st.readLogs().slice(before).split('\n').find((l) => l.includes('"route":"/ipp/v1/sessions/{session_id}"'));
    return line.includes('"upstream_attempts"') ? 'kustom' : 'object';
  };
  await eventually(async () => (await answeredBy()) === 'object', 5000, 'the cancel applied to the object');
  // Past the retention the alarm empties the object; the worker then reads Kustom.
  await eventually(async () => (await answeredBy()) === 'kustom', 15000, 'the record dropped');
});

test('the purge of an expired entry spares the newer sale a derived key holds, so its lost create is still adopted', async () => {
  // No Idempotency-Key: the key is derived from the token and the cart, and a finished create is
  // never replayed, so the same cart again is a new sale under the same key. Its index entry from
  // the first sale expires (2 s) while the second sale's create is still unresolved.
  const dev = await device(st, 'Derived key till');
  const body = cart(dev.id, 1234);
  const plain = () => st.call('POST', '/ipp/v1/sessions', { body });
  const first = await plain();
  assert.equal(first.status, 200, first.text);
  const firstId = first.body.session_id;
  // Webhooks held from here: the first sale's payment ones, and the second sale's `created`.
  await st.control('POST', '/_emulator/webhooks', { paused: true });
  let late;
  try {
    assert.equal((await st.call('POST', `/ipp/v1/dev/sessions/${firstId}/simulate-tap?outcome=SUCCESS`)).status, 200);
    // The second sale: created at Kustom, its answer lost (held past the worker's 2 s), and its
    // `created` webhook held back, so nothing resolves it yet.
    await st.control('POST', '/_emulator/faults', { answer_delay_ms: 2600, count: 1, path_prefix: '/ipp/v1/sessions' });
    const second = await plain();
    assert.notEqual(second.status, 200, 'the answer was lost');
    await sleep(2500); // the first sale's entry is past the retention now
    const retry = await plain(); // runs the purge first
    assert.notEqual(retry.status, 200, 'still unresolved');
    // A late webhook of the first sale, whose object has dropped its record by now (finalized,
    // past the 4 s session retention): a session the worker no longer knows, with the same cart,
    // on the same device, while the second sale waits for adoption. It is the device's current
    // session, a create's already, so it is not adopted, and the second sale stays adoptable.
    const id = 'kevt_late' + Date.now();
    const event = JSON.stringify({ id, merchant_id: st.s.merchantId, timestamp: new Date().toISOString(), type: 'ipp.session.finalized', data: { session_id: firstId, order_id: null, failure_reason: null } });
    late = await deliverWebhook(st, id, event);
  } finally {
    await st.control('DELETE', '/_emulator/faults');
    await st.control('POST', '/_emulator/webhooks', { paused: false });
  }
  assert.equal(late.status, 200);
  assert.equal((await late.json()).result, 'unknown_session', 'the first sale\'s late webhook');
  // The held webhooks arrive: the second sale is adopted by its key, so the worker follows it as
  // the device's open session (not asked again by the client: a derived key's finished create is
  // never replayed, so a retry after the adoption would be a third sale, refused as busy).
  let r;
  for (let i = 0; i < 30; i++) {
    r = await st.call('GET', `/kipp/v1/devices/${dev.id}/current-session`);
    if (r.status === 200) break;
    await sleep(500);
  }
  if (r.status !== 200) {
    // What happened to the held webhooks, and what the worker did with them.
    const deliveries = await st.control('GET', '/_emulator/deliveries?type=ipp.session.created');
    const lines = st.readLogs().split('\n').filter((l) => /webhooks|"level":"error"/.test(l));
    assert.fail(`the second sale was not adopted (${r.status})\n--- deliveries ---\n${JSON.stringify(deliveries).slice(-3000)}\n--- log ---\n${lines.slice(-40).join('\n')}`);
  }
  assert.notEqual(r.body.session_id, firstId);
  assert.equal(r.body.status, 'CREATED');
  await st.call('PUT', `/ipp/v1/sessions/${r.body.session_id}/cancel`);
});
