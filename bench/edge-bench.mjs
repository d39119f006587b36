// Edge worker benchmark: prints `BENCH <name> <value> <unit>` lines (see bench/edge-bench.sh).
// Rust worker and the TypeScript baseline (bench/ts-worker: once deployed as kipp is, with
// Workers Assets in front, and once bare) run in the same workerd version (wrangler dev --local)
// against the same emulator, on loopback, 32 concurrent clients.
//
// Every run starts from nothing: startStack() makes a new temporary folder with a private copy
// of the built worker, a new emulator, a new `wrangler dev` and a new --persist-to state; each
// TypeScript baseline gets its own new wrangler dev and state in that folder. Nothing is shared
// between runs; the folder is removed at the end of a run that succeeded (kept, with its logs,
// when it failed).
//
// Bounded: every phase has a time limit, every request a timeout, the whole run a deadline
// (KIPP_BENCH_DEADLINE_SECS, default 150: under the 180 s per-run limit of scripts/bench.sh), and
// if either wrangler dev exits while the run is going, the run stops at once. A failure prints
// one line `BENCH_FAILED <reason>` (plus the end of the worker logs), stops exactly the process
// groups this run started, and exits 1.
// SIGTERM/SIGINT do the same (scripts/bench.sh's per-run limit sends SIGTERM).
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack, cart, device, signWebhook, sleep, subscribe, eventually, ROOT } from '../tests/edge/harness.mjs';
import { busiestWorkerdMs, workerdCpuMs, workerdRssMiB } from './proc.mjs';
import { seedSession, startTsBaseline } from './ts-baseline.mjs';

const DURATION_MS = Number(process.env.KIPP_BENCH_SECS ?? 5) * 1000;
const DEADLINE_MS = Number(process.env.KIPP_BENCH_DEADLINE_SECS ?? 150) * 1000;
const REQUEST_TIMEOUT_MS = 10_000;
const PUSHES = 20;
const PUSH_TIMEOUT_MS = Number(process.env.KIPP_BENCH_PUSH_TIMEOUT_MS ?? 5000);
const CONC = 32;
const T0 = performance.now();
const out = (name, value, unit) => console.log(`BENCH ${name} ${value} ${unit}`);
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0; };
const secs = () => ((performance.now() - T0) / 1000).toFixed(0);

// ---- failing clearly, stopping only what this run started -----------------------------------
let st;            // the harness stack (emulator + Rust worker), once started
let starting;      // startStack()'s promise while it runs
let tsWorkers = []; // the TypeScript baselines' wrangler devs (own process groups)
let tsLogs = [];
let currentPhase = 'start';
let stopping = false;
let failed = false;
let cleaning;

function tail(file, n = 12) {
  try { return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).slice(-n); } catch { return []; }
}

async function stopGroup(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try { process.kill(-child.pid, 'SIGTERM'); } catch { return; }
  if (await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)])) {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    await Promise.race([exited, sleep(2000)]);
  }
}

function cleanup() {
  cleaning ??= (async () => {
    stopping = true;
    // Stopped while the harness was still starting: wait (bounded) for it, to stop what it started.
    if (!st && starting) st = await Promise.race([starting.catch(() => undefined), sleep(20000)]);
    for (const t of tsWorkers) await stopGroup(t);
    if (st) await st.stop();
    if (st && !failed) rmSync(st.dir, { recursive: true, force: true });
  })();
  return cleaning;
}

async function fail(reason) {
  if (failed) return;
  failed = true;
  console.error(`BENCH_FAILED ${String(reason).split('\n')[0]} (phase "${currentPhase}", ${secs()} s into the run)`);
  for (const l of String(reason).split('\n').slice(1, 12)) console.error(`  ${l}`);
  if (st) {
    for (const [name, file] of [['Rust worker (wrangler dev)', st.logs.worker], ...tsLogs.map((f) => [`TypeScript baseline (wrangler dev, ${path.basename(f)})`, f])]) {
      const lines = tail(file);
      if (lines.length) { console.error(`  last lines of the ${name} log ${file}:`); for (const l of lines) console.error(`    ${l.slice(0, 300)}`); }
    }
    console.error(`  logs kept in ${st.dir}`);
  }
  await Promise.race([cleanup(), sleep(25000)]);
  process.exit(1);
}

process.on('SIGTERM', () => fail('stopped by SIGTERM'));
process.on('SIGINT', () => fail('stopped by SIGINT'));
process.on('unhandledRejection', (e) => fail(`unhandled rejection: ${e?.stack ?? e}`));
setTimeout(() => fail(`the whole run took longer than its deadline of ${DEADLINE_MS / 1000} s (KIPP_BENCH_DEADLINE_SECS)`), DEADLINE_MS).unref();

// A wrangler dev that exits while the run is going ends the run (instead of every later request
// failing or waiting).
function watch(child, name) {
  child.once('exit', (code, signal) => {
    if (!stopping) fail(`the ${name}'s wrangler dev exited (code ${code}, signal ${signal})`);
  });
}

// phase(name, limitMs, fn): runs fn; if it has not finished within limitMs the run fails.
async function phase(name, limitMs, fn) {
  currentPhase = name;
  const timer = setTimeout(() => fail(`${name}: not finished within ${limitMs / 1000} s`), limitMs);
  try { return await fn(); } finally { clearTimeout(timer); }
}

// fetch with a timeout covering the body as well.
async function timedFetch(url, init = {}, ms = REQUEST_TIMEOUT_MS) {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
  const text = await r.text();
  return { status: r.status, text };
}

// A promise, or a clear error after ms.
function within(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms / 1000} s`)), ms); })])
    .finally(() => clearTimeout(timer));
}

// ---- load -----------------------------------------------------------------------------------
// One timed burst of CONC clients; returns the latencies (ms) of 200 answers, the number of
// other answers and failed requests (timeouts, refused connections), and the wall time (s).
async function burst(ms, makeReq, counter) {
  const lat = [];
  let errors = 0;
  // What the failures were (a status and the answer's code, or the client's error), for the log.
  const kinds = new Map();
  const kind = (k) => kinds.set(k, (kinds.get(k) ?? 0) + 1);
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(Array.from({ length: CONC }, async (_, client) => {
    while (performance.now() < end) {
      const { url, init } = makeReq(counter.n++, client);
      const s = performance.now();
      try {
        const r = await timedFetch(url, init);
        if (r.status === 200) lat.push(performance.now() - s);
        else { errors++; kind(`${r.status} ${/"(?:code|result)":"([^"]*)"/.exec(r.text ?? '')?.[1] ?? JSON.stringify((r.text ?? '').slice(0, 120))}`); }
      } catch (e) {
        errors++;
        kind(`${e.name}: ${e.cause?.code ?? e.message}`.slice(0, 120));
        await sleep(50);
      }
    }
  }));
  return { lat, errors, kinds, secs: (performance.now() - t0) / 1000 };
}

// Workers measured in alternating rounds after a warm-up (so all run optimized wasm/JS, and a
// change in machine load hits them alike). Returns [rps, CPU µs per request of the worker's own
// workerd] per worker: wrangler dev runs two workerd processes, a proxy and the one running the
// worker (and its Durable Objects); the busiest of the two during a burst is the latter. That
// CPU is what the worker's code costs, without the load generator, wrangler's proxy and logging,
// or the emulator, which every worker shares and which dilute the throughput ratio.
async function compare(name, targets) {
  const ROUNDS = 4;
  const counters = targets.map(() => ({ n: 0 }));
  for (const [i, t] of targets.entries()) await burst(1500, t.makeReq, counters[i]); // warm-up
  const acc = targets.map(() => ({ lat: [], errors: 0, kinds: new Map(), secs: 0, cpuMs: 0 }));
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order, so that no worker always follows the same one (the previous burst's
    // log lines are still being written out by its wrangler when the next burst starts) and
    // each takes every place once in ROUNDS = targets rounds.
    const order = targets.map((_, k) => (k + r) % targets.length).map((i) => [i, targets[i]]);
    for (const [i, t] of order) {
      const before = workerdCpuMs(t.pgid);
      const b = await burst(DURATION_MS / ROUNDS, t.makeReq, counters[i]);
      const after = workerdCpuMs(t.pgid);
      acc[i].cpuMs += busiestWorkerdMs(before, after);
      acc[i].lat.push(...b.lat); acc[i].errors += b.errors; acc[i].secs += b.secs;
      for (const [k, v] of b.kinds) acc[i].kinds.set(k, (acc[i].kinds.get(k) ?? 0) + v);
    }
  }
  for (const [i, t] of targets.entries()) {
    const { lat, errors } = acc[i];
    if (lat.length === 0) throw new Error(`${name}: the ${t.label} worker answered no request with 200 (${errors} failed)`);
    if (errors > lat.length / 10) throw new Error(`${name}: the ${t.label} worker failed ${errors} of ${errors + lat.length} requests`);
  }
  return targets.map((t, i) => {
    const { lat, errors, secs: s, cpuMs } = acc[i];
    const n = `edge_${t.label}_${name}`;
    const cpuUs = (1000 * cpuMs) / (lat.length + errors);
    out(`${n}_rps`, (lat.length / s).toFixed(0), 'req/s');
    out(`${n}_p50`, pct(lat, 50).toFixed(1), 'ms');
    out(`${n}_p99`, pct(lat, 99).toFixed(1), 'ms');
    out(`${n}_worker_cpu`, cpuUs.toFixed(0), 'µs/req');
    if (errors) {
      out(`${n}_errors`, errors, 'responses');
      console.error(`${n}: answers not 200: ${[...acc[i].kinds].map(([k, v]) => `${v}× ${k}`).join('; ')}`);
      // What kipp's stack logged about them (its request lines say which route answered 5xx, and
      // a failure outside kipp's handlers shows as the runtime's own line).
      if (t.label === 'rust') {
        const lines = st.readLogs().split('\n').filter((l) => /"status":5\d\d|uncaught|panicked|exception|error/i.test(l));
        if (lines.length) console.error(lines.slice(-20).join('\n'));
      }
    }
    return [lat.length / s, cpuUs];
  });
}

// Signed `ipp.session.created` deliveries (the usual hint: Kustom's session is as the worker
// has it): for the one session in `sids`, or each client for its own (see "webhook_spread").
function webhookReq(base, sids) {
  return (i, client) => {
    const sid = sids[client % sids.length];
    const id = `kevt_bench${String(i).padStart(16, '0')}${Math.floor(Math.random() * 1e6)}`.slice(0, 27);
    const body = JSON.stringify({ id, merchant_id: st.s.merchantId, timestamp: new Date().toISOString(), type: 'ipp.session.created', data: { session_id: sid, order_id: null, failure_reason: null } });
    return { url: `${base}/webhooks/kustom`, init: { method: 'POST', headers: signWebhook(st.s.webhookSecret, id, Math.floor(Date.now() / 1000), body), body } };
  };
}

// st.call with a timeout.
const call = (method, p, opts) => within(st.call(method, p, opts), REQUEST_TIMEOUT_MS, `${method} ${p}`);

async function main() {
  out('edge_loadavg_start', os.loadavg()[0].toFixed(2), 'load');
  // (the harness bounds its own waits: emulator 30 s, worker 60 s)
  // The revocation cache at its production default (the tests' harness shortens it to 1 s); the
  // TypeScript baseline caches its revocation list for the same 5 s.
  starting = startStack({ vars: { KIPP_RECONCILE_AFTER_SECS: '3600', KIPP_REVOCATION_CACHE_SECS: '5' } });
  st = await phase('starting the emulator and the Rust worker', 120_000, () => starting);
  if (stopping) { await st.stop(); return; }
  watch(st.children.worker, 'Rust worker');
  const created = await phase('first device and session', 30_000, async () => {
    const d = await within(device(st, 'Bench till'), REQUEST_TIMEOUT_MS, 'creating a device');
    const c = await call('POST', '/ipp/v1/sessions', { body: cart(d.id) });
    if (c.status !== 200 && c.status !== 201) throw new Error(`creating a session: ${c.status} ${c.text.slice(0, 300)}`);
    return c;
  });
  const sid = created.body.session_id;
  const auth = { authorization: `Bearer ${st.clerk}` };
  out('edge_rust_workerd_rss_start', workerdRssMiB(st.children.worker.pid).toFixed(0), 'MiB');

  // The TypeScript baseline, same workerd, same emulator, its own fresh state: once deployed as
  // kipp is (Workers Assets in front, bench/ts-worker/wrangler.toml) and once bare
  // (wrangler.bare.toml, also serving the minimal routes).
  const startTs = (config, name) => phase(`starting the TypeScript baseline (${config})`, 90_000, () =>
    startTsBaseline(st, path.join(ROOT, 'bench/ts-worker', config), name, created.body, (child, logFile) => {
      tsLogs.push(logFile);
      tsWorkers.push(child);
      watch(child, `TypeScript baseline (${config})`);
    }));
  const tsDeployed = await startTs('wrangler.toml', 'ts');
  const tsBare = await startTs('wrangler.bare.toml', 'ts-bare');
  out('edge_ts_workerd_rss_start', workerdRssMiB(tsDeployed.child.pid).toFixed(0), 'MiB');

  // Four workers per route, in alternating rounds: Rust; "ts", the TypeScript baseline doing
  // what the route requires of kipp per request (one JSON log line, revocation check) and
  // deployed as kipp is (Workers Assets in front); "ts_bare", the same without assets; and
  // "ts_minimal", the bare worker's routes under /minimal/ without log line or revocation check
  // (the earliest baseline, kept so that nothing is hidden: see bench/ts-worker/index.ts).
  // Each compare: 4 × 1.5 s warm-up + 4 × DURATION_MS, each request ≤ 10 s.
  const loadLimit = 6000 + 4 * DURATION_MS + 30_000;
  const targets = (make) => [
    { label: 'rust', makeReq: make(st.worker), pgid: st.children.worker.pid },
    { label: 'ts', makeReq: make(tsDeployed.base), pgid: tsDeployed.child.pid },
    { label: 'ts_bare', makeReq: make(tsBare.base), pgid: tsBare.child.pid },
    { label: 'ts_minimal', makeReq: make(`${tsBare.base}/minimal`), pgid: tsBare.child.pid },
  ];
  const get = (base) => () => ({ url: `${base}/ipp/v1/sessions/${sid}`, init: { headers: auth } });
  const getRuns = await phase('GET session load', loadLimit, () => compare('get_session', targets(get)));
  const hookRuns = await phase('webhook load', loadLimit, () => compare('webhook', targets((base) => webhookReq(base, [sid]))));
  // The same deliveries spread over CONC sessions (each on its own device), so that a session
  // rarely has two deliveries at once. With one session, deliveries that arrive while its
  // re-read from Kustom runs share the next one (docs/edge.md § Webhook answers); here nearly
  // every delivery makes its own re-read, as in the TypeScript worker, so this measures what one
  // delivery costs.
  const spread = await phase(`${CONC} sessions for the spread webhook load`, 60_000 + CONC * REQUEST_TIMEOUT_MS, async () => {
    const sessions = [];
    for (let i = 0; i < CONC; i++) {
      const d = await within(device(st, `Spread ${i}`), REQUEST_TIMEOUT_MS, `spread ${i + 1}: creating a device`);
      const c = await call('POST', '/ipp/v1/sessions', { body: cart(d.id) });
      if (c.status !== 200 && c.status !== 201) throw new Error(`spread ${i + 1}: creating a session: ${c.status} ${c.text.slice(0, 300)}`);
      sessions.push(c.body);
    }
    for (const base of [tsDeployed.base, tsBare.base]) {
      for (const s of sessions) await seedSession(base, s);
    }
    return sessions.map((s) => s.session_id);
  });
  const spreadRuns = await phase('spread webhook load', loadLimit, () => compare('webhook_spread', targets((base) => webhookReq(base, spread))));
  const [rustGet, tsGet, tsBareGet, tsMinGet] = getRuns.map(([rps]) => rps);
  const [rustHook, tsHook, tsBareHook, tsMinHook] = hookRuns.map(([rps]) => rps);
  // The worker's CPU per request against the TypeScript worker deployed as kipp is, as a ratio
  // read like the throughput ones: TS's CPU / kipp's (≥ 1.0: kipp spends no more CPU a request).
  out('edge_get_session_cpu_vs_ts', (getRuns[1][1] / getRuns[0][1]).toFixed(2), 'x');
  out('edge_webhook_cpu_vs_ts', (hookRuns[1][1] / hookRuns[0][1]).toFixed(2), 'x');
  out('edge_get_session_vs_ts', (rustGet / tsGet).toFixed(2), 'x');
  out('edge_webhook_vs_ts', (rustHook / tsHook).toFixed(2), 'x');
  out('edge_webhook_spread_cpu_vs_ts', (spreadRuns[1][1] / spreadRuns[0][1]).toFixed(2), 'x');
  out('edge_webhook_spread_vs_ts', (spreadRuns[0][0] / spreadRuns[1][0]).toFixed(2), 'x');
  out('edge_get_session_vs_ts_bare', (rustGet / tsBareGet).toFixed(2), 'x');
  out('edge_webhook_vs_ts_bare', (rustHook / tsBareHook).toFixed(2), 'x');
  out('edge_get_session_vs_ts_minimal', (rustGet / tsMinGet).toFixed(2), 'x');
  out('edge_webhook_vs_ts_minimal', (rustHook / tsMinHook).toFixed(2), 'x');
  out('edge_ts_workerd_rss_end', workerdRssMiB(tsDeployed.child.pid).toFixed(0), 'MiB');

  // Webhook received → WebSocket message latency. A webhook the worker does not accept, or a
  // message that does not arrive within 5 s (KIPP_BENCH_PUSH_TIMEOUT_MS), fails the run: a lost
  // push is not a latency.
  const push = await phase(`webhook → WebSocket push (${PUSHES} sessions)`, 30_000 + PUSHES * PUSH_TIMEOUT_MS, async () => {
    const direct = async (m, p) => {
      const r = await timedFetch(st.emulator + p, { method: m, headers: { authorization: `Basic ${st.s.apiKey}`, 'x-merchant-id': st.s.merchantId } });
      if (r.status >= 300) throw new Error(`emulator ${m} ${p}: ${r.status} ${r.text.slice(0, 200)}`);
    };
    await within(st.control('POST', '/_emulator/webhooks', { paused: true }), REQUEST_TIMEOUT_MS, 'pausing the emulator\'s webhooks');
    const lat = [];
    for (let i = 0; i < PUSHES; i++) {
      const d = await within(device(st, `Push ${i}`), REQUEST_TIMEOUT_MS, `push ${i + 1}: creating a device`);
      const c = await call('POST', '/ipp/v1/sessions', { body: cart(d.id) });
      if (c.status !== 200 && c.status !== 201) throw new Error(`push ${i + 1}: creating a session: ${c.status} ${c.text.slice(0, 300)}`);
      const s = c.body;
      const sub = subscribe(st, s.session_id);
      try {
        await within(sub.opened, REQUEST_TIMEOUT_MS, `push ${i + 1}: opening the WebSocket`);
        await eventually(() => sub.messages.length >= 1, 5000, `push ${i + 1}: the first WebSocket message`);
        await direct('POST', `/ipp/v1/dev/sessions/${s.session_id}/simulate-tap?outcome=SUCCESS`);
        const id = `kevt_push${String(i).padStart(18, '0')}`;
        const body = JSON.stringify({ id, merchant_id: st.s.merchantId, timestamp: new Date().toISOString(), type: 'ipp.session.finalized', data: { session_id: s.session_id, order_id: null, failure_reason: null } });
        const got = new Promise((resolve) => sub.ws.addEventListener('message', (e) => { try { if (JSON.parse(e.data).state.status === 'FINALIZED') resolve(performance.now()); } catch { /* other message */ } }));
        const t0 = performance.now();
        const answer = timedFetch(`${st.worker}/webhooks/kustom`, { method: 'POST', headers: signWebhook(st.s.webhookSecret, id, Math.floor(Date.now() / 1000), body), body });
        const t1 = await within(got, PUSH_TIMEOUT_MS, `push ${i + 1} of ${PUSHES}: no FINALIZED message on the WebSocket after the webhook`).catch(async (e) => {
          const a = await answer.catch((err) => ({ status: `failed (${err.message})`, text: '' }));
          throw new Error(`${e.message} (the webhook was answered ${a.status} ${a.text.slice(0, 200)})`);
        });
        const a = await answer;
        if (a.status >= 300) throw new Error(`push ${i + 1}: the webhook was answered ${a.status} ${a.text.slice(0, 200)}`);
        lat.push(t1 - t0);
      } finally {
        try { sub.ws.close(); } catch { /* closed */ }
      }
      await sleep(20);
    }
    return lat;
  });
  out('edge_push_p50', pct(push, 50).toFixed(1), 'ms');
  out('edge_push_p99', pct(push, 99).toFixed(1), 'ms');
  out('edge_rust_workerd_rss_end', workerdRssMiB(st.children.worker.pid).toFixed(0), 'MiB');
  out('edge_loadavg_end', os.loadavg()[0].toFixed(2), 'load');
}

try {
  await main();
} catch (e) {
  await fail(e?.message ?? e);
}
if (!failed) {
  currentPhase = 'stopping';
  await Promise.race([cleanup(), sleep(20000)]);
  process.exit(0);
}
