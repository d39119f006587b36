// bench/ts-baseline.mjs — starts a TypeScript baseline worker (bench/ts-worker) in its own
// wrangler dev beside a kipp stack (tests/edge/harness.mjs startStack): the same launcher as the
// Rust worker, the stack's secrets and emulator, its own --persist-to state, seeded with the
// stack's session. Used by bench/edge-bench.mjs (make bench) and bench/edge-ab.mjs.
import { spawn } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import path from 'node:path';
import { eventually, freePort, wranglerDev } from '../tests/edge/harness.mjs';

// `config`: the wrangler config's path; `name`: a file-name stem for its .dev.vars, log and state
// in the stack's folder; `session`: the session (JSON as Kustom returns it) to seed; `onSpawn`
// gets the wrangler dev child (its own process group) before the wait, so that the caller can
// stop it whatever happens next. Returns { base, child, logFile }.
export async function startTsBaseline(stack, config, name, session, onSpawn = () => {}) {
  const port = await freePort();
  const values = { KIPP_TOKEN_KEY: stack.s.tokenKey, KUSTOM_WEBHOOK_SECRETS: stack.s.webhookSecret, KUSTOM_API_KEY: stack.s.apiKey, KUSTOM_MERCHANT_ID: stack.s.merchantId, KUSTOM_API_BASE: stack.emulator };
  const envFile = path.join(stack.dir, `${name}.dev.vars`);
  writeFileSync(envFile, Object.entries(values).map(([k, v]) => `${k}=${v}\n`).join(''));
  const logFile = path.join(stack.dir, `${name}-worker.log`);
  const log = createWriteStream(logFile);
  const [cmd, pre] = wranglerDev(); // the same launcher as the Rust worker's
  const child = spawn(cmd, [...pre, 'dev', '--config', path.resolve(config), '--local', '--ip', '127.0.0.1',
    '--port', String(port), '--inspector-port', String(await freePort()), '--show-interactive-dev-session=false', '--env-file', envFile,
    '--persist-to', path.join(stack.dir, `${name}-state`)], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', DO_NOT_TRACK: '1' } });
  child.stdout.pipe(log); child.stderr.pipe(log);
  onSpawn(child, logFile);
  const base = `http://127.0.0.1:${port}`;
  await eventually(async () => { try { return (await fetch(`${base}/ipp/nope`, { signal: AbortSignal.timeout(2000) })).status === 404; } catch { return false; } }, 60000, `the TypeScript worker (${config}) to answer`);
  await seedSession(base, session);
  return { base, child, logFile };
}

// Stores `session` (JSON as Kustom returns it) in the TypeScript worker at `base` (its bench-only
// `POST /seed/:id`).
export async function seedSession(base, session) {
  const seeded = await fetch(`${base}/seed/${session.session_id}`, { method: 'POST', body: JSON.stringify(session), signal: AbortSignal.timeout(10_000) });
  if (seeded.status >= 300) throw new Error(`seeding the TypeScript worker at ${base}: ${seeded.status} ${(await seeded.text()).slice(0, 200)}`);
}
