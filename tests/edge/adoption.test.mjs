// A create whose answer was lost is adopted from its session's `ipp.session.created` webhook
// (docs/decisions.md § "Idempotent session creation"). When Kustom cannot be read at that moment,
// the worker cannot tell whose the session is: it answers the delivery 503 so that Kustom
// redelivers it, and the retried create still gets its session. (It used to answer 200
// `unknown_session`, which ended the deliveries and left the key without its session.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, cart, device, eventually } from './harness.mjs';

let st;
before(async () => { st = await startStack(); }, { timeout: 120000 });
after(async () => { if (st) await st.stop(); });

const deliveriesOf = async (sid) => (await st.control('GET', `/_emulator/deliveries?session_id=${sid}&type=ipp.session.created`)).deliveries;

// Runs `lose()` with the emulator's webhooks held and the next create's answer coming after the
// worker's 2 s timeout (the session is created all the same), then `meanwhile(sid)` with the
// session's `created` webhook still held; releases the webhooks and returns the session id.
// `resendFault`: a fault rule for the worker's re-send of the create (the next call after it).
async function withLostCreate(lose, meanwhile = async () => {}, { resendFault, statuses = [409, 504] } = {}) {
  await st.control('POST', '/_emulator/webhooks', { paused: true });
  try {
    await st.control('POST', '/_emulator/faults', { latency_ms: 2500, path_prefix: '/ipp/v1/sessions' });
    if (resendFault) await st.control('POST', '/_emulator/faults', { ...resendFault, path_prefix: '/ipp/v1/sessions' });
    const lost = await lose();
    assert.ok(statuses.includes(lost.status), `${lost.status} ${lost.text}`);
    assert.ok(lost.headers.get('retry-after'));
    const held = await eventually(async () => {
      const d = (await st.control('GET', '/_emulator/deliveries?type=ipp.session.created')).deliveries.filter((x) => !x.delivered);
      return d.length === 1 && d;
    }, 10000, 'the held created webhook');
    await meanwhile(held[0].session_id);
    return held[0].session_id;
  } finally {
    await st.control('POST', '/_emulator/webhooks', { paused: false });
  }
}

test('a created webhook that arrives while Kustom cannot be read is redelivered, and the lost create gets its session', { timeout: 90000 }, async () => {
  const dev = await device(st, 'Adoption till');
  const key = `adopt-${Math.random()}`;
  const create = () => st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id), headers: { 'idempotency-key': key } });
  // The worker cannot know whether the create took effect, and the client is told to retry.
  // Every read of the session then fails while its webhook is first delivered (the worker tries
  // a GET up to 4 times).
  const sid = await withLostCreate(create, (id) => st.control('POST', '/_emulator/faults', { status: 503, count: 4, path_prefix: `/ipp/v1/sessions/${id}` }));
  // The first delivery is refused with 503 and a later one adopts the session.
  await eventually(async () => (await deliveriesOf(sid)).some((d) => d.delivered), 30000, 'the created webhook delivered');
  const [delivery] = await deliveriesOf(sid);
  assert.ok(delivery.attempts >= 2, JSON.stringify(delivery));
  // The retried create gets that session, replayed, and the device has no other.
  const again = await create();
  assert.equal(again.status, 200, again.text);
  assert.equal(again.body.session_id, sid);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  const cur = await st.call('GET', `/kipp/v1/devices/${dev.id}/current-session`);
  assert.equal(cur.body.session_id, sid);
  await st.call('PUT', `/ipp/v1/sessions/${sid}/cancel`);
});

test("another key's refused create on the same device does not stop the lost create's adoption", { timeout: 90000 }, async () => {
  const dev = await device(st, 'Two keys till');
  const lostKey = `lost-${Math.random()}`;
  const create = (key, amount) => st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id, amount), headers: { 'idempotency-key': key } });
  // A second sale on the same till while the first session is open: Kustom refuses it
  // (device_busy), a definite answer for that key, which used to clear the device's pending mark
  // in the registry although the first key was still waiting for adoption.
  const sid = await withLostCreate(() => create(lostKey, 1000), async () => {
    const other = await create(`other-${Math.random()}`, 2000);
    assert.equal(other.status, 409, other.text);
  });
  await eventually(async () => (await deliveriesOf(sid)).some((d) => d.delivered), 30000, 'the created webhook delivered');
  const again = await create(lostKey, 1000);
  assert.equal(again.status, 200, again.text);
  assert.equal(again.body.session_id, sid);
  await st.call('PUT', `/ipp/v1/sessions/${sid}/cancel`);
});

test('a re-send refused for its own sake (429) keeps the lost create adoptable', { timeout: 90000 }, async () => {
  const dev = await device(st, 'Throttled till');
  const key = `throttled-${Math.random()}`;
  const create = () => st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id), headers: { 'idempotency-key': key } });
  // Kustom rate-limits the worker's re-send. That says nothing about the first call, which did
  // open a session: the key used to be forgotten here, its session's webhooks then found no one
  // to adopt them, and the client's retries got device_busy until that session ended, then
  // opened a second sale.
  const sid = await withLostCreate(create, undefined, { resendFault: { status: 429, count: 1 }, statuses: [429] });
  await eventually(async () => (await deliveriesOf(sid)).some((d) => d.delivered), 30000, 'the created webhook delivered');
  const again = await create();
  assert.equal(again.status, 200, again.text);
  assert.equal(again.body.session_id, sid);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  await st.call('PUT', `/ipp/v1/sessions/${sid}/cancel`);
});
