// A session's webhook deliveries share their re-reads from Kustom, and each is still checked
// against a read that started after it arrived (docs/edge.md § Webhook answers, "Re-reads are
// shared, never stale"; crates/edge/src/coalesce.rs). The reconciliation alarm is pushed out of
// the way (it re-reads the session too, and would be counted with the deliveries' reads), and the
// emulator's own webhooks are held, so that only this file's deliveries reach the worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, cart, device, eventually, signWebhook, sleep } from './harness.mjs';

let st;
before(async () => {
  st = await startStack({ vars: { KIPP_RECONCILE_AFTER_SECS: '3600' } });
  await st.control('POST', '/_emulator/webhooks', { paused: true });
}, { timeout: 120000 });
after(async () => { if (st) await st.stop(); });

async function openSession(name) {
  const dev = await device(st, name);
  const r = await st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id) });
  assert.equal(r.status, 200, r.text);
  const sid = r.body.session_id;
  await eventually(async () => (await st.call('GET', `/ipp/v1/sessions/${sid}/events?wait=0`)).body?.state?.status === 'CREATED', 5000, 'the session known to the worker');
  return sid;
}

// A signed delivery of `type` for `sid`: { status, result, rid } of the worker's answer (`rid`:
// its x-request-id, which names its log line).
async function deliver(sid, type) {
  const id = `kevt_rr${type.split('.').pop()}${Math.random().toString(36).slice(2)}`;
  const body = JSON.stringify({ id, merchant_id: st.s.merchantId, timestamp: new Date().toISOString(), type, data: { session_id: sid, order_id: null, failure_reason: null } });
  const r = await fetch(`${st.worker}/webhooks/kustom`, { method: 'POST', headers: signWebhook(st.s.webhookSecret, id, Math.floor(Date.now() / 1000), body), body });
  const answer = await r.json();
  return { status: r.status, result: answer.result ?? answer.code, rid: r.headers.get('x-request-id') };
}

// The worker's log lines of these deliveries, once all of them are written.
async function logLinesOf(deliveries) {
  const rids = new Set(deliveries.map((d) => d.rid));
  let lines = [];
  await eventually(() => {
    lines = st.readLogs().split('\n').filter((l) => l.includes('"msg":"request"'))
      .map((l) => JSON.parse(l.slice(l.indexOf('{'), l.lastIndexOf('}') + 1))).filter((l) => rids.has(l.request_id));
    return lines.length === rids.size;
  }, 5000, `the log lines of ${rids.size} deliveries`);
  return lines;
}

// A delivery's log line reports the re-read it made (`upstream_attempts`) or the one it shared
// (`upstream_shared`, with that read's time and no attempts), so the attempts add up to the reads.
// (A delivery that reaches the object once the session is final makes no read and has neither.)
function assertLogCountsReads(lines, reads) {
  const made = lines.filter((l) => l.upstream_attempts !== undefined);
  const shared = lines.filter((l) => l.upstream_shared);
  assert.ok(made.length >= 1, JSON.stringify(lines));
  assert.ok(made.every((l) => l.upstream_attempts >= 1 && !l.upstream_shared && Number.isInteger(l.upstream_ms)), JSON.stringify(made));
  assert.ok(shared.every((l) => l.upstream_shared === true && Number.isInteger(l.upstream_ms)), JSON.stringify(shared));
  assert.equal(made.reduce((n, l) => n + l.upstream_attempts, 0), reads, JSON.stringify(lines));
}

// Straight to the emulator: the worker's dev route would also tell the session object.
async function tapAtKustom(sid) {
  const r = await fetch(`${st.emulator}/ipp/v1/dev/sessions/${sid}/simulate-tap?outcome=SUCCESS`, { method: 'POST', headers: { authorization: `Basic ${st.s.apiKey}`, 'x-merchant-id': st.s.merchantId } });
  assert.equal(r.status, 200, await r.text());
}

// Every read of the session's path is slowed by a fault whose count goes down by one per read.
async function countReads(sid, fault) {
  const COUNT = 1000;
  const prefix = `/ipp/v1/sessions/${sid}`;
  await st.control('POST', '/_emulator/faults', { ...fault, count: COUNT, path_prefix: prefix });
  return async () => COUNT - (await st.control('GET', '/_emulator/faults')).faults.find((f) => f.path_prefix === prefix).count;
}

test('a burst of deliveries for one session shares its re-reads, and a change is applied once', async () => {
  const sid = await openSession('Burst till');
  try {
    const reads = await countReads(sid, { latency_ms: 300 });
    const burst = (type) => Promise.all(Array.from({ length: 24 }, () => deliver(sid, type)));
    // 24 hints that change nothing: each answered after a read, the reads shared (the first
    // delivery's, one for those that arrived during it, give or take one for stragglers).
    // One read per delivery before: 24.
    const quiet = await burst('ipp.session.created');
    assert.deepEqual(quiet.filter((d) => d.status !== 200 || d.result !== 'unchanged'), []);
    const first = await reads();
    assert.ok(first >= 1 && first <= 4, `24 deliveries made ${first} reads of the session`);
    assertLogCountsReads(await logLinesOf(quiet), first);
    // The session ends at Kustom; 24 deliveries report it: applied once, found in place 23 times.
    await tapAtKustom(sid);
    const done = await burst('ipp.session.finalized');
    assert.deepEqual(done.filter((d) => d.status !== 200).map((d) => d.status), []);
    assert.equal(done.filter((d) => d.result === 'applied').length, 1, JSON.stringify(done));
    assert.equal(done.filter((d) => d.result === 'unchanged').length, 23, JSON.stringify(done));
    const more = (await reads()) - first;
    assert.ok(more >= 1 && more <= 4, `24 more deliveries made ${more} reads`);
    assertLogCountsReads(await logLinesOf(done), more);
    assert.equal((await st.call('GET', `/ipp/v1/sessions/${sid}`)).body.status, 'FINALIZED');
  } finally {
    await st.control('DELETE', '/_emulator/faults');
  }
});

test('a delivery that arrives while a re-read runs is not answered from that read', async () => {
  const sid = await openSession('Fresh till');
  try {
    // Kustom answers each read 800 ms late, with the session as it was when the read arrived.
    const reads = await countReads(sid, { answer_delay_ms: 800 });
    // A hint that changes nothing: its read starts now and will say CREATED.
    const early = deliver(sid, 'ipp.session.created');
    await sleep(250);
    // Meanwhile the session ends at Kustom, and its webhook arrives while that read still runs.
    await tapAtKustom(sid);
    const late = await deliver(sid, 'ipp.session.finalized');
    // The late delivery waited for a read of its own: taking the running read's answer would have
    // left the session open (`unchanged`) until Kustom's next delivery or the alarm.
    const first = await early;
    assert.deepEqual([first.status, first.result], [200, 'unchanged']);
    assert.deepEqual([late.status, late.result], [200, 'applied']);
    assert.equal(await reads(), 2);
    assertLogCountsReads(await logLinesOf([first, late]), 2);
    assert.equal((await st.call('GET', `/ipp/v1/sessions/${sid}`)).body.status, 'FINALIZED');
  } finally {
    await st.control('DELETE', '/_emulator/faults');
  }
});
