// bench/edge-profile.mjs — where a request's time goes in the worker isolate: a V8 CPU profile
// of the Rust worker under the GET-session and webhook load of bench/edge-bench.mjs, summed by
// function (self time). A tool for speed work, not part of `make bench` or `make test`.
//
//   KIPP_EDGE_KEEP_NAMES=1 scripts/edge-build.sh   # a build whose wasm keeps its function names
//   KIPP_WRANGLER_INSPECTOR=1 node bench/edge-profile.mjs [get|webhook|spread] [seconds]
//   (spread: the webhooks round robin over 32 sessions, as edge-bench's webhook_spread)
//   scripts/edge-build.sh                          # back to the shipped build
//
// Needs the plain `wrangler dev` command (KIPP_WRANGLER_INSPECTOR=1): wrangler's inspector proxy
// is what exposes the worker's V8 inspector. It also doubles the cost of every console line (see
// scripts/lib/wrangler-dev.mjs), so compare profiles with each other, not with bench figures.
import { writeFileSync } from 'node:fs';
import { startStack, cart, device, signWebhook, sleep } from '../tests/edge/harness.mjs';

if (process.env.KIPP_WRANGLER_INSPECTOR !== '1') {
  console.error('edge-profile: run with KIPP_WRANGLER_INSPECTOR=1 (the inspector is needed)');
  process.exit(2);
}
const route = process.argv[2] ?? 'get';
const SECS = Number(process.argv[3] ?? 5);
const CONC = 32;
const st = await startStack({ vars: { KIPP_RECONCILE_AFTER_SECS: '3600', KIPP_REVOCATION_CACHE_SECS: '5' } });
try {
  const d = await device(st, 'Profile till');
  const c = await st.call('POST', '/ipp/v1/sessions', { body: cart(d.id) });
  const sid = c.body.session_id;
  // One open session per device (Kustom's rule), so 32 devices for 32 sessions.
  const sids = [sid];
  while (route === 'spread' && sids.length < CONC) {
    const dn = await device(st, `Profile till ${sids.length}`);
    sids.push((await st.call('POST', '/ipp/v1/sessions', { body: cart(dn.id) })).body.session_id);
  }
  const auth = { authorization: `Bearer ${st.clerk}` };
  let n = 0;
  const makeReq = route === 'get'
    ? () => ({ url: `${st.worker}/ipp/v1/sessions/${sid}`, init: { headers: auth } })
    : () => {
      const id = `kevt_prof${String(n++).padStart(18, '0')}`;
      const body = JSON.stringify({ id, merchant_id: st.s.merchantId, timestamp: new Date().toISOString(), type: 'ipp.session.created', data: { session_id: sids[n % sids.length], order_id: null, failure_reason: null } });
      return { url: `${st.worker}/webhooks/kustom`, init: { method: 'POST', headers: signWebhook(st.s.webhookSecret, id, Math.floor(Date.now() / 1000), body), body } };
    };
  const load = async (ms) => {
    const end = performance.now() + ms;
    let ok = 0;
    await Promise.all(Array.from({ length: CONC }, async () => {
      while (performance.now() < end) {
        const { url, init } = makeReq();
        const r = await fetch(url, init);
        await r.arrayBuffer();
        if (r.status === 200) ok++;
      }
    }));
    return ok;
  };
  await load(1500); // warm-up: optimized code in the profile

  // wrangler's inspector proxy (the one DevTools uses); it wants an allowed Origin.
  const targets = await (await fetch(`http://127.0.0.1:${st.inspectorPort}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? (() => { throw new Error('no inspector target'); })();
  const ws = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: 'http://localhost' } });
  await new Promise((r, j) => { ws.onopen = r; ws.onerror = j; });
  let seq = 0;
  const pending = new Map();
  ws.onmessage = (e) => { const m = JSON.parse(e.data); if (m.id && pending.has(m.id)) { pending.get(m.id)(m); pending.delete(m.id); } };
  const cdp = (method, params = {}) => new Promise((r) => { const id = ++seq; pending.set(id, r); ws.send(JSON.stringify({ id, method, params })); });
  await cdp('Profiler.enable');
  await cdp('Profiler.setSamplingInterval', { interval: 100 });
  await cdp('Profiler.start');
  const ok = await load(SECS * 1000);
  const { result } = await cdp('Profiler.stop');
  const profile = result.profile;
  // The worker's glue as the isolate runs it (wrangler's bundle), to read the profile's lines.
  const glue = profile.nodes.find((nd) => nd.callFrame.url.endsWith('index.js'));
  if (glue) {
    await cdp('Debugger.enable');
    const src = await cdp('Debugger.getScriptSource', { scriptId: glue.callFrame.scriptId });
    if (src.result?.scriptSource) writeFileSync('/tmp/kipp-index.js', src.result.scriptSource);
  }
  ws.close();
  writeFileSync(`/tmp/kipp-${route}.cpuprofile`, JSON.stringify(profile));

  // Self time per function from the samples.
  const byId = new Map(profile.nodes.map((nd) => [nd.id, nd]));
  const self = new Map();
  const dt = profile.timeDeltas;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const nd = byId.get(id);
    const f = nd.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url ? f.url.split('/').pop() : ''}`.trim();
    const t = dt[i + 1] ?? 0;
    self.set(key, (self.get(key) ?? 0) + t);
    total += t;
  });
  const idle = self.get('(idle)') ?? 0;
  console.log(`${route}: ${ok} requests answered 200 in ${SECS} s; profile ${(total / 1e3).toFixed(0)} ms, busy ${((total - idle) / 1e3).toFixed(0)} ms, ${((total - idle) / ok).toFixed(1)} µs busy per request`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 45)) {
    console.log(`${(v / ok).toFixed(1).padStart(7)} µs/req  ${((100 * v) / (total - idle)).toFixed(1).padStart(5)} %  ${k}`);
  }
  await sleep(100);
} finally {
  await st.stop();
}
