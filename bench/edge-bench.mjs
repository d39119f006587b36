// Edge worker benchmark: prints `BENCH <name> <value> <unit>` lines (see bench/edge-bench.sh).
// Rust worker and the TypeScript baseline (bench/ts-worker) run in the same workerd version
// (wrangler dev --local) against the same emulator, on loopback, 32 concurrent clients.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack, cart, device, freePort, signWebhook, sleep, subscribe, eventually, ROOT } from '../tests/edge/harness.mjs';

const DURATION_MS = Number(process.env.KIPP_BENCH_SECS ?? 5) * 1000;
const CONC = 32;
const out = (name, value, unit) => console.log(`BENCH ${name} ${value} ${unit}`);
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0; };

// One timed burst of CONC clients; returns the latencies (ms) and the wall time (s).
async function burst(ms, makeReq, counter) {
  const lat = [];
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (performance.now() < end) {
      const { url, init } = makeReq(counter.n++);
      const s = performance.now();
      const r = await fetch(url, init);
      await r.arrayBuffer();
      if (r.status !== 200) errors++;
      lat.push(performance.now() - s);
    }
  }));
  return { lat, errors, secs: (performance.now() - t0) / 1000 };
}

// Rust and TypeScript workers measured in alternating rounds after a warm-up (so both run
// optimized wasm/JS, and a change in machine load hits both alike). Returns rps per worker.
async function compare(name, targets) {
  const ROUNDS = 4;
  const counters = targets.map(() => ({ n: 0 }));
  for (const [i, t] of targets.entries()) await burst(1500, t.makeReq, counters[i]); // warm-up
  const acc = targets.map(() => ({ lat: [], errors: 0, secs: 0 }));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, t] of targets.entries()) {
      const b = await burst(DURATION_MS / ROUNDS, t.makeReq, counters[i]);
      acc[i].lat.push(...b.lat); acc[i].errors += b.errors; acc[i].secs += b.secs;
    }
  }
  return targets.map((t, i) => {
    const { lat, errors, secs } = acc[i];
    const n = `edge_${t.label}_${name}`;
    out(`${n}_rps`, (lat.length / secs).toFixed(0), 'req/s');
    out(`${n}_p50`, pct(lat, 50).toFixed(1), 'ms');
    out(`${n}_p99`, pct(lat, 99).toFixed(1), 'ms');
    if (errors) out(`${n}_errors`, errors, 'responses');
    return lat.length / secs;
  });
}

function webhookReq(base, st, sid) {
  return (i) => {
    const id = `kevt_bench${String(i).padStart(16, '0')}${Math.floor(Math.random() * 1e6)}`.slice(0, 27);
    const body = JSON.stringify({ id, merchant_id: st.s.merchantId, timestamp: new Date().toISOString(), type: 'ipp.session.created', data: { session_id: sid, order_id: null, failure_reason: null } });
    return { url: `${base}/webhooks/kustom`, init: { method: 'POST', headers: signWebhook(st.s.webhookSecret, id, Math.floor(Date.now() / 1000), body), body } };
  };
}

out('edge_loadavg_start', os.loadavg()[0].toFixed(2), 'load');
const st = await startStack({ vars: { KIPP_RECONCILE_AFTER_SECS: '3600' } });
let ts;
try {
  const dev = await device(st, 'Bench till');
  const created = await st.call('POST', '/ipp/v1/sessions', { body: cart(dev.id) });
  const sid = created.body.session_id;
  const auth = { authorization: `Bearer ${st.clerk}` };

  // The TypeScript baseline, same workerd, same emulator.
  const port = await freePort();
  const vars = ['KIPP_TOKEN_KEY', 'KUSTOM_WEBHOOK_SECRETS', 'KUSTOM_API_KEY', 'KUSTOM_MERCHANT_ID'];
  const values = { KIPP_TOKEN_KEY: st.s.tokenKey, KUSTOM_WEBHOOK_SECRETS: st.s.webhookSecret, KUSTOM_API_KEY: st.s.apiKey, KUSTOM_MERCHANT_ID: st.s.merchantId };
  const envFile = path.join(st.dir, 'ts.dev.vars');
  writeFileSync(envFile, vars.map((k) => `${k}=${values[k]}`).join('\n') + `\nKUSTOM_API_BASE=${st.emulator}\n`);
  ts = spawn(path.join(ROOT, 'node_modules/.bin/wrangler'), ['dev', '--config', path.join(ROOT, 'bench/ts-worker/wrangler.toml'), '--local', '--ip', '127.0.0.1',
    '--port', String(port), '--inspector-port', String(await freePort()), '--show-interactive-dev-session=false', '--env-file', envFile,
    '--persist-to', path.join(st.dir, 'ts-state')], { detached: true, stdio: 'ignore', env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', DO_NOT_TRACK: '1' } });
  const tsBase = `http://127.0.0.1:${port}`;
  await eventually(async () => { try { return (await fetch(`${tsBase}/nope`)).status === 404; } catch { return false; } }, 60000, 'ts worker');
  await fetch(`${tsBase}/seed/${sid}`, { method: 'POST', body: JSON.stringify(created.body) });
  const get = (base) => () => ({ url: `${base}/ipp/v1/sessions/${sid}`, init: { headers: auth } });
  const [rustGet, tsGet] = await compare('get_session', [{ label: 'rust', makeReq: get(st.worker) }, { label: 'ts', makeReq: get(tsBase) }]);
  const [rustHook, tsHook] = await compare('webhook', [{ label: 'rust', makeReq: webhookReq(st.worker, st, sid) }, { label: 'ts', makeReq: webhookReq(tsBase, st, sid) }]);
  out('edge_get_session_vs_ts', (rustGet / tsGet).toFixed(2), 'x');
  out('edge_webhook_vs_ts', (rustHook / tsHook).toFixed(2), 'x');

  // Webhook received → WebSocket message latency.
  const direct = (m, p) => fetch(st.emulator + p, { method: m, headers: { authorization: `Basic ${st.s.apiKey}`, 'x-merchant-id': st.s.merchantId } });
  await st.control('POST', '/_emulator/webhooks', { paused: true });
  const push = [];
  for (let i = 0; i < 20; i++) {
    const d = await device(st, `Push ${i}`);
    const s = (await st.call('POST', '/ipp/v1/sessions', { body: cart(d.id) })).body;
    const sub = subscribe(st, s.session_id);
    await sub.opened;
    await eventually(() => sub.messages.length >= 1, 5000, 'first message');
    await direct('POST', `/ipp/v1/dev/sessions/${s.session_id}/simulate-tap?outcome=SUCCESS`);
    const id = `kevt_push${String(i).padStart(18, '0')}`;
    const body = JSON.stringify({ id, merchant_id: st.s.merchantId, timestamp: new Date().toISOString(), type: 'ipp.session.finalized', data: { session_id: s.session_id, order_id: null, failure_reason: null } });
    const got = new Promise((resolve) => sub.ws.addEventListener('message', (e) => { if (JSON.parse(e.data).state.status === 'FINALIZED') resolve(performance.now()); }));
    const t0 = performance.now();
    fetch(`${st.worker}/webhooks/kustom`, { method: 'POST', headers: signWebhook(st.s.webhookSecret, id, Math.floor(Date.now() / 1000), body), body });
    push.push((await got) - t0);
    sub.ws.close();
    await sleep(20);
  }
  out('edge_push_p50', pct(push, 50).toFixed(1), 'ms');
  out('edge_push_p99', pct(push, 99).toFixed(1), 'ms');
  out('edge_loadavg_end', os.loadavg()[0].toFixed(2), 'load');
} finally {
  if (ts) { try { process.kill(-ts.pid, 'SIGTERM'); } catch { /* gone */ } await sleep(500); try { process.kill(-ts.pid, 'SIGKILL'); } catch { /* gone */ } }
  await st.stop();
}
