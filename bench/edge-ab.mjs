// bench/edge-ab.mjs — A/B of edge worker builds for speed work: where a request's CPU goes, by
// process, for two or more builds of the Rust worker and/or TypeScript baselines side by side.
// A tool, not part of `make bench` or `make test` (docs/decisions.md § Edge worker, "Speed pass
// (session 5)").
//
//   node bench/edge-ab.mjs get|webhook|spread <target> <target> …
//     <target>: a worker build folder (a copy of crates/edge/build, e.g. made by
//               `scripts/edge-build.sh && cp -r crates/edge/build /tmp/build-x`), or a wrangler
//               config of a TypeScript worker (…/wrangler.toml, e.g. bench/ts-worker's own).
//   ROUNDS (default 6) rounds of one BURST_MS (default 1500) burst of 32 clients per target, in
//   alternating order after a warm-up burst each; VERBOSE=1 prints every burst. COPIES (default
//   2) runs each target that many times, each copy its own stack or wrangler dev, and prints each
//   copy and their mean (see below for why one copy is not enough). `spread`: the webhook
//   deliveries with each of the 32 clients sending for its own session (make bench's
//   `webhook_spread`), so that nearly every delivery makes its own re-read.
//
// Prints per target: req/s, and CPU ms per request answered 200 of (a) its own wrangler dev
// process group (wrangler's node, the proxy workerd, the worker's workerd), (b) the busiest
// workerd of that group, the one running the worker, and (c) the whole machine (/proc/stat).
// (b) is the figure a change to the worker moves; (a) and (c) show what the rest of the stack
// adds. Two copies of the same build differ by up to ±5 % in req/s and ±4 % in (b) here (2
// cores), and the difference persists over rounds (each copy is its own stack): compare targets
// measured together, and only by the mean of their copies.
//
// Each Rust build gets its own emulator and wrangler dev (tests/edge/harness.mjs startStack,
// KIPP_EDGE_BUILD_DIR); TypeScript workers share the first stack's emulator and are seeded with
// its session. Every process group started here is stopped at the end.
import path from 'node:path';
import { startStack, cart, device, signWebhook, sleep } from '../tests/edge/harness.mjs';
import { busiestWorkerdMs, groupProcesses, machineCpuMs, workerdCpuMs } from './proc.mjs';
import { seedSession, startTsBaseline } from './ts-baseline.mjs';

const [route, ...specs] = process.argv.slice(2);
if (!['get', 'webhook', 'spread'].includes(route) || specs.length === 0) {
  console.error('usage: node bench/edge-ab.mjs get|webhook|spread <build folder | wrangler.toml> …');
  process.exit(2);
}
const ROUNDS = Number(process.env.ROUNDS ?? 6);
const BURST_MS = Number(process.env.BURST_MS ?? 1500);
const COPIES = Math.max(1, Number(process.env.COPIES ?? 2));
const groupCpuMs = (pgid) => groupProcesses(pgid).reduce((sum, p) => sum + p.cpuMs, 0);

const stacks = [];
const tsWorkers = [];
try {
  const targets = [];
  for (const spec of specs.flatMap((t) => Array(COPIES).fill(t))) {
    if (!spec.endsWith('.toml')) {
      process.env.KIPP_EDGE_BUILD_DIR = path.resolve(spec);
      const st = await startStack({ vars: { KIPP_RECONCILE_AFTER_SECS: '3600', KIPP_REVOCATION_CACHE_SECS: '5' } });
      stacks.push(st);
      const sessions = [];
      for (let i = 0; i < (route === 'spread' ? 32 : 1); i++) {
        const d = await device(st, `A/B till ${i}`);
        const c = await st.call('POST', '/ipp/v1/sessions', { body: cart(d.id) });
        if (c.status !== 200 && c.status !== 201) throw new Error(`${spec}: creating a session: ${c.status} ${c.text.slice(0, 200)}`);
        sessions.push(c.body);
      }
      targets.push({ spec, base: st.worker, st, sids: sessions.map((x) => x.session_id), sessions, pgid: st.children.worker.pid });
      continue;
    }
    const first = targets.find((t) => t.sessions);
    if (!first) throw new Error('the first target must be a Rust build (its stack serves the TypeScript workers too)');
    const { st } = first;
    const { base, child } = await startTsBaseline(st, spec, `ts${tsWorkers.length}`, first.sessions[0], (c) => tsWorkers.push(c));
    for (const x of first.sessions.slice(1)) await seedSession(base, x);
    targets.push({ spec, base, st, sids: first.sids, pgid: child.pid });
  }

  let n = 0;
  // What the answers that were not 200 were (a status, or the client's error), for the summary.
  const notOk = new Map();
  const tally = (what) => notOk.set(what, (notOk.get(what) ?? 0) + 1);
  // A request of client `client` (0–31) to target `t`.
  const makeReq = (t) => (route === 'get'
    ? () => [`${t.base}/ipp/v1/sessions/${t.sids[0]}`, { headers: { authorization: `Bearer ${t.st.clerk}` } }]
    : (client) => {
      const id = `kevt_ab${String(n++).padStart(20, '0')}`;
      const sid = t.sids[client % t.sids.length];
      const body = JSON.stringify({ id, merchant_id: t.st.s.merchantId, timestamp: new Date().toISOString(), type: 'ipp.session.created', data: { session_id: sid, order_id: null, failure_reason: null } });
      return [`${t.base}/webhooks/kustom`, { method: 'POST', headers: signWebhook(t.st.s.webhookSecret, id, Math.floor(Date.now() / 1000), body), body }];
    });
  const reqs = targets.map(makeReq);

  async function burst(i) {
    const p0 = groupProcesses(targets[i].pgid);
    const g0 = { all: groupCpuMs(targets[i].pgid), workerd: workerdCpuMs(targets[i].pgid) };
    const m0 = machineCpuMs();
    const t0 = performance.now();
    let ok = 0;
    let other = 0;
    await Promise.all(Array.from({ length: 32 }, async (_, client) => {
      while (performance.now() - t0 < BURST_MS) {
        const [url, init] = reqs[i](client);
        try {
          const r = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
          const text = await r.text();
          if (r.status === 200) ok++; else { other++; tally(`${r.status} ${r.headers.get('content-type') ?? ''} ${text.slice(0, 160)}`); }
        } catch (e) { other++; tally(`${e.name}: ${e.cause?.code ?? e.message}`); await sleep(50); }
      }
    }));
    const secs = (performance.now() - t0) / 1000;
    const g1 = { all: groupCpuMs(targets[i].pgid), workerd: workerdCpuMs(targets[i].pgid) };
    // The group's other processes: wrangler's node (the log lines) and the proxy workerd.
    const before = Object.fromEntries(p0.map((p) => [p.pid, p.cpuMs]));
    const deltas = groupProcesses(targets[i].pgid).map((p) => ({ comm: p.comm, ms: p.cpuMs - (before[p.pid] ?? 0) }));
    const nodeMs = deltas.filter((d) => d.comm !== 'workerd').reduce((sum, d) => sum + d.ms, 0);
    const workerd = busiestWorkerdMs(g0.workerd, g1.workerd);
    const proxyMs = deltas.filter((d) => d.comm === 'workerd').reduce((sum, d) => sum + d.ms, 0) - workerd;
    return { ok, other, secs, group: g1.all - g0.all, workerd, node: nodeMs, proxy: proxyMs, machine: machineCpuMs() - m0 };
  }

  for (let i = 0; i < targets.length; i++) await burst(i); // warm-up
  const acc = targets.map(() => ({ ok: 0, other: 0, secs: 0, group: 0, workerd: 0, node: 0, proxy: 0, machine: 0 }));
  for (let r = 0; r < ROUNDS; r++) {
    const order = targets.map((_, i) => i);
    if (r % 2) order.reverse();
    for (const i of order) {
      const b = await burst(i);
      if (process.env.VERBOSE) console.log(`round ${r} ${targets[i].spec}: ${(b.ok / b.secs).toFixed(0)} req/s, worker's workerd ${(1000 * b.workerd / Math.max(1, b.ok)).toFixed(0)} µs/req`);
      for (const k of Object.keys(acc[i])) acc[i][k] += b[k];
    }
  }
  const per = (ms, ok) => `${(1000 * ms / Math.max(1, ok)).toFixed(0)} µs`;
  for (const [i, t] of targets.entries()) {
    const a = acc[i];
    console.log(`${route} ${t.spec}: ${(a.ok / a.secs).toFixed(0)} req/s; CPU per request: group ${per(a.group, a.ok)} (worker's workerd ${per(a.workerd, a.ok)}, proxy workerd ${per(a.proxy, a.ok)}, node ${per(a.node, a.ok)}), machine ${per(a.machine, a.ok)}${a.other ? `; ${a.other} answers not 200` : ''}`);
  }
  if (notOk.size) {
    console.log(`answers not 200, all targets: ${[...notOk].map(([k, v]) => `${v}× ${k}`).join('; ')}`);
    // What the Rust stacks logged about it.
    for (const st of stacks) {
      const lines = st.readLogs().split('\n').filter((l) => /error|uncaught|panic|exception/i.test(l) && !/"status":200/.test(l));
      if (lines.length) console.log(`${st.worker} logged:\n${lines.slice(-15).join('\n')}`);
    }
  }
  if (COPIES > 1) {
    // The mean of each target's copies (targets[i] is copy i % COPIES of specs[i / COPIES]).
    for (const [k, spec] of specs.entries()) {
      const copies = acc.slice(k * COPIES, (k + 1) * COPIES);
      const mean = (f) => copies.reduce((sum, a) => sum + f(a), 0) / COPIES;
      console.log(`${route} ${spec} (mean of ${COPIES}): ${mean((a) => a.ok / a.secs).toFixed(0)} req/s; worker's workerd ${mean((a) => (1000 * a.workerd) / Math.max(1, a.ok)).toFixed(0)} µs per request`);
    }
  }
} finally {
  // Each TypeScript worker's group: SIGTERM, then SIGKILL after 3 s.
  await Promise.all(tsWorkers.map(async (c) => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    try { process.kill(-c.pid, 'SIGTERM'); } catch { return; }
    if (await Promise.race([exited.then(() => false), sleep(3000).then(() => true)])) {
      try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }));
  for (const st of stacks) await st.stop();
}
