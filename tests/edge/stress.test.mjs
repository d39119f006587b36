// Heavier end-to-end scenarios: shuffled duplicate webhooks, upstream faults, restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, cart, device, deliverWebhook, eventually, sleep } from './harness.mjs';

let st;
before(async () => { st = await startStack(); }, { timeout: 120000 });
after(async () => { if (st) await st.stop(); });

async function stateOf(id) {
  const r = await st.call('GET', `/ipp/v1/sessions/${id}/events?wait=0`);
  assert.equal(r.status, 200, r.text);
  return r.body;
}

function shuffle(a) {
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [a[i], a[j]] = [a[j], a[i]]; }
  return a;
}

test('1,000 webhooks duplicated and shuffled: final states right, each transition applied once', { timeout: 300000 }, async () => {
  // Build real sessions in varied end states, with the emulator's own deliveries paused.
  await st.control('POST', '/_emulator/webhooks', { paused: true });
  try { await bulk(); } finally { await st.control('POST', '/_emulator/webhooks', { paused: false }); }
});

async function bulk() {
  const plans = ['SUCCESS', 'DECLINE_SUCCESS', 'CANCEL', 'OPEN', 'DECLINE'];
  const sessions = [];
  for (let i = 0; i < 10; i++) {
    const dev = await device(st, `Bulk ${i}`);
    const r = await st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id, 1000 + i) });
    assert.equal(r.status, 200, r.text);
    const id = r.body.session_id;
    const plan = plans[i % plans.length];
    const tap = (o) => st.control('POST', `/ipp/v1/dev/sessions/${id}/simulate-tap?outcome=${o}`);
    // Drive the emulator directly (Basic auth), so the worker learns only from webhooks.
    const direct = (m, p) => fetch(st.emulator + p, { method: m, headers: { authorization: `Basic ${st.s.apiKey}`, 'x-merchant-id': st.s.merchantId } });
    if (plan === 'SUCCESS') await direct('POST', `/ipp/v1/dev/sessions/${id}/simulate-tap?outcome=SUCCESS`);
    if (plan === 'DECLINE_SUCCESS') { await direct('POST', `/ipp/v1/dev/sessions/${id}/simulate-tap?outcome=LOST_CARD`); await direct('POST', `/ipp/v1/dev/sessions/${id}/simulate-tap?outcome=SUCCESS`); }
    if (plan === 'CANCEL') await direct('PUT', `/ipp/v1/sessions/${id}/cancel`);
    if (plan === 'DECLINE') await direct('POST', `/ipp/v1/dev/sessions/${id}/simulate-tap?outcome=DECLINED_GENERIC`);
    void tap;
    const expected = { SUCCESS: 'FINALIZED', DECLINE_SUCCESS: 'FINALIZED', CANCEL: 'CANCELLED', OPEN: 'CREATED', DECLINE: 'ACTIVE' }[plan];
    sessions.push({ id, plan, expected });
  }
  // The events each session went through, as Kustom would send them.
  const events = [];
  let n = 0;
  for (const s of sessions) {
    const types = { SUCCESS: ['ipp.session.created', 'ipp.session.activated', 'ipp.session.finalized'],
      DECLINE_SUCCESS: ['ipp.session.created', 'ipp.session.activated', 'ipp.payment.failed', 'ipp.session.finalized'],
      CANCEL: ['ipp.session.created', 'ipp.session.cancelled'], OPEN: ['ipp.session.created'],
      DECLINE: ['ipp.session.created', 'ipp.session.activated', 'ipp.payment.failed'] }[s.plan];
    for (const type of types) {
      n += 1;
      const id = `kevt_bulk${String(n).padStart(17, '0')}`;
      const body = JSON.stringify({ id, merchant_id: st.s.merchantId, timestamp: new Date(Date.now() + n).toISOString(), type,
        data: { session_id: s.id, order_id: null, failure_reason: type === 'ipp.payment.failed' ? 'declined' : null } });
      events.push({ id, body });
    }
  }
  // 1,000 deliveries: every event at least 38 times, in random order. (This used to keep only
  // the 14 deliveries left over after `splice(0, 1000)`, so some sessions got no webhook at all
  // and the test passed or failed by timing.)
  const deliveries = [];
  while (deliveries.length < 1000) deliveries.push(...events);
  const batch = shuffle(deliveries.slice(0, 1000));
  assert.equal(batch.length, 1000);
  assert.equal(new Set(batch.map((d) => d.id)).size, events.length, 'every event is delivered');
  let i = 0;
  const statuses = {};
  async function worker() {
    while (i < batch.length) {
      const d = batch[i++];
      const r = await deliverWebhook(st, d.id, d.body);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      await r.arrayBuffer();
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker));
  assert.deepEqual(Object.keys(statuses), ['200'], JSON.stringify(statuses));
  for (const s of sessions) {
    const m = await stateOf(s.id);
    assert.equal(m.state.status, s.expected, `${s.plan}`);
    // A failure that arrives after the session is known to be FINALIZED is absorbed (terminal).
    if (s.plan === 'DECLINE') assert.equal(m.state.failed_attempts, 1, `${s.plan}: one failure applied once`);
  }
}

test('emulator faults (30% 5xx/timeouts): no duplicate session, every call ends in success or a typed error', { timeout: 300000 }, async () => {
  await st.control('POST', '/_emulator/faults', { status: 503, ratio: 0.2, path_prefix: '/ipp/v1/sessions' });
  await st.control('POST', '/_emulator/faults', { latency_ms: 2500, ratio: 0.1, path_prefix: '/ipp/v1/sessions' });
  const devs = [];
  for (let i = 0; i < 6; i++) devs.push(await device(st, `Fault ${i}`));
  const results = [];
  for (const dev of devs) {
    const key = `fault-${dev.id}`;
    let session;
    for (let attempt = 0; attempt < 6 && !session; attempt++) {
      const r = await st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id), headers: { 'idempotency-key': key } });
      results.push(r.status);
      if (r.status === 200) session = r.body;
      else {
        assert.equal(r.headers.get('content-type'), 'application/problem+json', r.text);
        assert.ok(r.body.code && r.body.request_id, r.text);
        assert.ok([409, 502, 503, 504].includes(r.status), r.text);
      }
    }
    assert.ok(session, `no session for ${dev.id}: ${results.join(',')}`);
    // The same key keeps returning the first session.
    const again = await st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id), headers: { 'idempotency-key': key } });
    if (again.status === 200) assert.equal(again.body.session_id, session.session_id);
    dev.session = session;
  }
  await st.control('DELETE', '/_emulator/faults');
  // Kustom holds exactly one open session per device, and it is the one the worker returned.
  for (const dev of devs) {
    const cur = await st.call('GET', `/kipp/v1/devices/${dev.id}/current-session`);
    assert.equal(cur.status, 200, cur.text);
    assert.equal(cur.body.session_id, dev.session.session_id);
    const second = await st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id, 4242) });
    assert.equal(second.status, 409, 'device already holds the first session');
    await st.call('PUT', `/ipp/v1/sessions/${dev.session.session_id}/cancel`);
  }
});

test('restart of wrangler dev with persisted state: nothing lost', { timeout: 180000 }, async () => {
  const dev = await device(st, 'Restart till');
  const r = await st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id), headers: { 'idempotency-key': 'restart-1' } });
  assert.equal(r.status, 200, r.text);
  const id = r.body.session_id;
  await st.call('POST', `/ipp/v1/dev/sessions/${id}/simulate-tap?outcome=INSUFFICIENT_FUNDS`);
  await eventually(async () => (await stateOf(id)).state.failed_attempts === 1, 10000, 'failure');
  const minted = await st.call('POST', '/kipp/v1/tokens', { token: st.admin, body: { role: 'clerk' } });
  await st.call('POST', '/kipp/v1/tokens/revoke', { token: st.admin, body: { jti: minted.body.jti } });
  // Processed webhook ids (stored apart from the record, one per key) survive the restart: more
  // deliveries than the ring holds, then the newest ones replayed after the restart.
  const hook = (n) => {
    const hid = `kevt_restart${String(n).padStart(15, '0')}`;
    const body = JSON.stringify({ id: hid, merchant_id: st.s.merchantId, timestamp: new Date().toISOString(), type: 'ipp.session.created', data: { session_id: id, order_id: null, failure_reason: null } });
    return deliverWebhook(st, hid, body).then(async (x) => ({ status: x.status, body: await x.json() }));
  };
  for (let i = 0; i < 300; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => hook(i + j)));
  assert.equal((await hook(299)).body.result, 'duplicate');
  await st.stopWorker();
  await st.startWorker();
  for (const n of [299, 250, 100]) {
    const replay = await hook(n);
    assert.equal(replay.status, 200);
    assert.equal(replay.body.result, 'duplicate', `delivery ${n} replayed after the restart`);
  }
  const m = await stateOf(id);
  assert.equal(m.state.status, 'ACTIVE');
  assert.equal(m.state.failed_attempts, 1);
  assert.equal(m.state.failure_reason, 'insufficient_funds');
  const again = await st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id), headers: { 'idempotency-key': 'restart-1' } });
  assert.equal(again.body.session_id, id);
  assert.equal((await st.call('GET', '/kipp/v1/me', { token: minted.body.token })).status, 401);
  await st.call('POST', `/ipp/v1/dev/sessions/${id}/simulate-tap?outcome=SUCCESS`);
  await eventually(async () => (await stateOf(id)).state.status === 'FINALIZED', 10000, 'finalized after restart');
});

// Kustom's own view: the sessions the emulator created for one merchant_reference1 (read through
// its created-webhook log and its API with the worker's key).
async function upstreamByRef(ref) {
  const log = await st.control('GET', '/_emulator/deliveries?type=ipp.session.created');
  const ids = [...new Set((log.deliveries ?? []).map((d) => d.session_id).filter(Boolean))];
  const found = [];
  for (const id of ids) {
    const r = await fetch(`${st.emulator}/ipp/v1/sessions/${id}`, { headers: { authorization: `Basic ${st.s.apiKey}`, 'x-merchant-id': st.s.merchantId } });
    const s = r.status === 200 ? await r.json() : null;
    if (s?.merchant_reference1 === ref) found.push(s);
  }
  return found;
}

test('a create cut off by a worker restart is adopted on retry: one upstream session for the key', { timeout: 180000 }, async () => {
  const dev = await device(st, 'Cut-off till');
  const ref = `cutoff-${Date.now()}`;
  const body = cart(dev.id, 4321, ref);
  // Kustom takes the create but answers only after the worker is gone; its webhooks wait.
  await st.control('POST', '/_emulator/webhooks', { paused: true });
  await st.control('POST', '/_emulator/faults', { latency_ms: 3000, count: 1, path_prefix: '/ipp/v1/sessions' });
  const first = st.call('POST', '/ipp/v1/sessions', { body, headers: { 'idempotency-key': ref } }).catch(() => null);
  await sleep(1000);
  await st.stopWorker();
  await first;
  await st.startWorker();
  // The emulator finishes the create although the worker that sent it is gone.
  await eventually(async () => (await upstreamByRef(ref)).length === 1, 10000, 'the first create reached Kustom');
  // The retry finds its key pending with no attempt in flight: ambiguous. The created webhook,
  // let through once the retry is under way, is adopted into it.
  const unpause = sleep(500).then(() => st.control('POST', '/_emulator/webhooks', { paused: false }));
  let again;
  for (let i = 0; i < 20 && again?.status !== 200; i++) {
    again = await st.call('POST', '/ipp/v1/sessions', { body, headers: { 'idempotency-key': ref } });
    if (again.status !== 200) await sleep(Number(again.headers.get('retry-after') ?? 1) * 1000);
  }
  await unpause;
  assert.equal(again.status, 200, again.text);
  await eventually(async () => (await upstreamByRef(ref)).length > 0, 10000, 'the created webhook was delivered');
  const up = await upstreamByRef(ref);
  assert.equal(up.length, 1, `one upstream session for the key, got ${up.map((s) => s.session_id).join(', ')}`);
  assert.equal(again.body.session_id, up[0].session_id);
});
