// The soak's runtime yardstick: how much workerd itself (under `wrangler dev`, the same binary and
// flags as the kipp worker) keeps per Durable Object, measured with the kipp-free worker next to
// this file. The soak runs it after its own run with as many objects as it created sessions, so
// the kipp worker's growth per session can be read against the runtime's own growth per object on
// the same machine, in the same run.
//
//   node tests/soak/probe/probe.mjs 500 12  # stand-alone: 500 objects × 12 requests; prints KiB per object and per request
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, readdirSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sleep, wranglerDev, ROOT } from '../../edge/harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The processes of process group `pgid`: { pid, comm, rss (bytes, VmRSS) }. */
export function groupProcs(pgid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) !== pgid) continue;
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      out.push({ pid: Number(d), comm, rss });
    } catch { /* gone */ }
  }
  return out;
}

/** Sum of VmRSS of the `workerd` processes in process group `pgid`, in bytes. */
export function workerdRss(pgid) {
  return groupProcs(pgid).filter((p) => p.comm.startsWith('workerd')).reduce((a, p) => a + p.rss, 0);
}

/** One object's life as in the soak: store + alarm + a WebSocket that gets a state and a close. */
async function oneObject(base, wsBase, name) {
  const ws = new WebSocket(`${wsBase}/?object=${name}`);
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('open timeout')), 10000);
    ws.addEventListener('message', () => { clearTimeout(t); resolve(); }, { once: true });
    ws.addEventListener('error', (e) => { clearTimeout(t); reject(e); }, { once: true });
  });
  ws.send('end');
  // The client closes after 3 s at most, like a soak subscriber (workerd's close can take ~10 s).
  await Promise.race([new Promise((r) => ws.addEventListener('close', r, { once: true })), sleep(3000)]);
  try { ws.close(); } catch { /* closed */ }
}

/** GETs spread over `names` by 8 workers until `until`; returns how many were answered. */
async function load(base, names, until) {
  let k = 0;
  let done = 0;
  await Promise.all(Array.from({ length: 8 }, async (_, w) => {
    while (Date.now() < until) {
      try {
        await (await fetch(`${base}/?object=${names[(k++ + w) % names.length]}`, { signal: AbortSignal.timeout(10000) })).text();
        done++;
      } catch { /* counted by the caller as not done */ }
    }
  }));
  return done;
}

/**
 * Runs the probe worker in the same shape as a soak: `objects` distinct Durable Objects, each
 * living as a soak session does (WebSocket, then `requestsPerObject` requests in all, the last
 * one after eviction), then `steadyMs` of requests on 24 objects only. Returns bytes:
 * { objects, startRss, endRss, perObject, steadyRequests, perRequest }. Own process group.
 */
export async function probeRuntime(objects, { requestsPerObject = 2, steadyMs = 20000, log = () => {} } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'kipp-soak-probe-'));
  const port = await freePort();
  const inspector = await freePort();
  const out = createWriteStream(path.join(dir, 'probe.log'));
  // The same launcher as the kipp worker's (tests/edge/harness.mjs wranglerDev): same wrangler, same inspector setting.
  const [cmd, pre] = wranglerDev();
  const child = spawn(cmd, [...pre, 'dev', '--config', path.join(HERE, 'wrangler.toml'),
    '--local', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
    '--show-interactive-dev-session=false', '--persist-to', path.join(dir, 'state'), '--log-level', 'warn'],
  { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false', DO_NOT_TRACK: '1' } });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const base = `http://127.0.0.1:${port}`;
  try {
    const t0 = Date.now();
    for (;;) {
      try { if ((await fetch(base)).ok) break; } catch { /* not up yet */ }
      if (Date.now() - t0 > 60000) throw new Error(`probe worker did not start; see ${path.join(dir, 'probe.log')}`);
      await sleep(200);
    }
    for (let i = 0; i < 5; i++) await (await fetch(`${base}/?object=warmup`)).text();
    await sleep(1000);
    const startRss = workerdRss(child.pid);
    const extra = Math.max(0, Math.round(requestsPerObject) - 2);
    let next = 0;
    let failed = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < objects) {
        const n = next++;
        try {
          await oneObject(base, `ws://127.0.0.1:${port}`, `o${n}`);
          for (let i = 0; i < extra; i++) await (await fetch(`${base}/?object=o${n}`, { signal: AbortSignal.timeout(10000) })).text();
        } catch { failed++; }
      }
    }));
    // Every object once more after eviction (~10 s idle), as the soak's final GETs wake its objects.
    await sleep(11000);
    next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < objects) {
        const n = next++;
        try { await (await fetch(`${base}/?object=o${n}`, { signal: AbortSignal.timeout(10000) })).text(); } catch { failed++; }
      }
    }));
    await sleep(2000);
    const endRss = workerdRss(child.pid);
    const made = Math.max(1, objects - failed);
    const perObject = (endRss - startRss) / made;
    // Steady: the same shape as the soak's steady phase.
    const names = Array.from({ length: Math.min(24, objects) }, (_, i) => `o${i}`);
    await load(base, names, Date.now() + 3000);
    const steady0 = workerdRss(child.pid);
    const steadyRequests = await load(base, names, Date.now() + steadyMs);
    const steady1 = workerdRss(child.pid);
    const perRequest = (steady1 - steady0) / Math.max(1, steadyRequests);
    const mib = (b) => (b / 1048576).toFixed(1);
    log(`runtime probe: ${made} objects × ${extra + 2} requests (${failed} failed), workerd ${mib(startRss)} → ${mib(endRss)} MiB, ~${(perObject / 1024).toFixed(0)} KiB per object; steady ${steadyRequests} requests ${mib(steady0)} → ${mib(steady1)} MiB, ~${(perRequest / 1024).toFixed(1)} KiB per request`);
    return { objects: made, failed, startRss, endRss, perObject, steadyRequests, steady0, steady1, perRequest };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
    if (await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]) === false) {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await probeRuntime(Number(process.argv[2] ?? 300), { requestsPerObject: Number(process.argv[3] ?? 2), log: console.log });
}
