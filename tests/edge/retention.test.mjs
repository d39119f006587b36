// Idempotency records have a lifetime: a finished create's key replays its session within
// KIPP_IDEMPOTENCY_RETENTION_SECS (default 24 h; 2 s here), and after that the record is purged
// (by the device's next create) so the key starts a new sale instead of being stored for ever.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, cart, device, sleep } from './harness.mjs';

let st;
before(async () => { st = await startStack({ vars: { KIPP_IDEMPOTENCY_RETENTION_SECS: '2' } }); }, { timeout: 120000 });
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
