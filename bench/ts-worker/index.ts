// Baseline for `make bench`: the two hot routes of the kipp edge worker written as a small
// TypeScript worker, run by the same workerd through the same wrangler launcher.
//   GET  /ipp/v1/sessions/:id   kipp token check (HMAC-SHA256) + revocation → Durable Object read
//   POST /webhooks/kustom       Standard Webhooks verify → re-read the session upstream → DO write
//   POST /seed/:id              bench only: store a session
// The routes do what the route requires of kipp per request (bench/edge-bench.mjs "ts"):
//   - one structured JSON log line per request (request id, method, route template, status,
//     duration, upstream time and attempts, code, role) and an `x-request-id` header;
//   - the token's id checked against a revocation list held in a Durable Object and cached per
//     isolate for 5 s (kipp's default KIPP_REVOCATION_CACHE_SECS);
//   - the webhook's re-read from Kustom bounded by a timeout, as every upstream call of kipp is
//     (KIPP_UPSTREAM_TIMEOUT_MS, default 10 s; added in session 5).
// The same routes under /minimal/ (bench "ts_minimal", the earliest baseline) skip all three: no
// log line, no revocation check, no timeout. Neither does kipp's validation layer, location
// scope or history.
// wrangler.toml deploys it as kipp's worker is deployed (Workers Assets in front, bench "ts");
// wrangler.bare.toml without assets (bench "ts_bare", and "ts_minimal").
import { DurableObject } from 'cloudflare:workers';

interface Env { SESSIONS: DurableObjectNamespace<Sessions>; REGISTRY: DurableObjectNamespace<Registry>; KIPP_TOKEN_KEY: string; KUSTOM_WEBHOOK_SECRETS: string; KUSTOM_API_BASE: string; KUSTOM_API_KEY: string; KUSTOM_MERCHANT_ID: string }
interface Claims { exp: number; jti: string; role: string }
interface Info { route: string; code?: string; role?: string; upstreamMs?: number; attempts?: number }

const enc = new TextEncoder();
const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const b64url = (s: string) => b64(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
let tokenKey: CryptoKey | undefined;
let hookKeys: CryptoKey[] | undefined;
const hmacKey = (raw: Uint8Array) => crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
const REVOCATION_CACHE_MS = 5000;
const UPSTREAM_TIMEOUT_MS = 10_000;
let revoked: { at: number; set: Set<string> } | undefined;

async function auth(req: Request, env: Env): Promise<Claims | undefined> {
  const t = req.headers.get('authorization')?.replace(/^Bearer /, '') ?? '';
  const i = t.lastIndexOf('.');
  if (i < 0) return undefined;
  tokenKey ??= await hmacKey(b64(env.KIPP_TOKEN_KEY));
  if (!(await crypto.subtle.verify('HMAC', tokenKey, b64url(t.slice(i + 1)), enc.encode(t.slice(0, i))))) return undefined;
  const claims = JSON.parse(new TextDecoder().decode(b64url(t.split('.')[1]))) as Claims;
  return claims.exp > Date.now() / 1000 ? claims : undefined;
}

async function isRevoked(env: Env, jti: string): Promise<boolean> {
  const now = Date.now();
  if (!revoked || now - revoked.at >= REVOCATION_CACHE_MS) revoked = { at: now, set: new Set(await env.REGISTRY.getByName('registry').revoked()) };
  return revoked.set.has(jti);
}

async function verifyHook(req: Request, body: string, env: Env): Promise<boolean> {
  const id = req.headers.get('webhook-id'), ts = req.headers.get('webhook-timestamp'), sig = req.headers.get('webhook-signature');
  if (!id || !ts || !sig || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  hookKeys ??= await Promise.all(env.KUSTOM_WEBHOOK_SECRETS.split(',').map((s) => hmacKey(b64(s.trim().replace(/^whsec_/, '')))));
  const data = enc.encode(`${id}.${ts}.${body}`);
  for (const k of hookKeys) for (const part of sig.split(' ')) {
    const [v, s] = part.split(',');
    if (v === 'v1' && s && (await crypto.subtle.verify('HMAC', k, b64(s), data))) return true;
  }
  return false;
}

export class Sessions extends DurableObject<Env> {
  async get(): Promise<unknown> { return this.ctx.storage.get('rec'); }
  async put(rec: unknown): Promise<void> { await this.ctx.storage.put('rec', rec); }
  async apply(webhookId: string, session: { status: string }): Promise<string> {
    const rec = (await this.ctx.storage.get<{ session: unknown; seen: string[] }>('rec'));
    if (!rec) return 'unknown';
    if (rec.seen.includes(webhookId)) return 'duplicate';
    rec.seen = [...rec.seen.slice(-255), webhookId];
    rec.session = session;
    await this.ctx.storage.put('rec', rec);
    return 'applied';
  }
}

export class Registry extends DurableObject<Env> {
  async revoked(): Promise<string[]> { return (await this.ctx.storage.get<string[]>('revoked')) ?? []; }
}

const problem = (status: number, info: Info, code: string) => { info.code = code; return new Response(`{"status":${status}}`, { status }); };

async function route(req: Request, env: Env, path: string, full: boolean, info: Info): Promise<Response> {
  const m = path.match(/^\/ipp\/v1\/sessions\/([0-9a-f-]{36})$/);
  if (m && req.method === 'GET') {
    info.route = '/ipp/v1/sessions/{session_id}';
    const claims = await auth(req, env);
    if (!claims || (full && (await isRevoked(env, claims.jti)))) return problem(401, info, 'unauthorized');
    info.role = claims.role;
    const rec = (await env.SESSIONS.getByName(m[1]).get()) as { session: unknown } | undefined;
    return rec ? Response.json(rec.session) : problem(404, info, 'not_found');
  }
  const s = path.match(/^\/seed\/([0-9a-f-]{36})$/);
  if (s && req.method === 'POST') {
    info.route = '/seed';
    await env.SESSIONS.getByName(s[1]).put({ session: await req.json(), seen: [] });
    return new Response(null, { status: 204 });
  }
  if (path === '/webhooks/kustom' && req.method === 'POST') {
    info.route = '/webhooks/kustom';
    const body = await req.text();
    if (!(await verifyHook(req, body, env))) return problem(401, info, 'no_matching_signature');
    const ev = JSON.parse(body);
    const sid = ev.data.session_id;
    const t0 = Date.now();
    // Bounded like every upstream call of kipp (KIPP_UPSTREAM_TIMEOUT_MS, default 10 s); the
    // minimal routes keep the unbounded call of the earliest baseline.
    const up = await fetch(`${env.KUSTOM_API_BASE}/ipp/v1/sessions/${sid}`, { headers: { authorization: `Basic ${env.KUSTOM_API_KEY}`, 'x-merchant-id': env.KUSTOM_MERCHANT_ID }, signal: full ? AbortSignal.timeout(UPSTREAM_TIMEOUT_MS) : undefined });
    const session = up.ok ? await up.json<{ status: string }>() : undefined;
    info.upstreamMs = Date.now() - t0; info.attempts = 1;
    if (!session) return problem(503, info, 'not_applied');
    const result = await env.SESSIONS.getByName(sid).apply(req.headers.get('webhook-id')!, session);
    info.code = result;
    return Response.json({ result });
  }
  info.route = '/*';
  return problem(404, info, 'not_found');
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const path = new URL(req.url).pathname;
    const info: Info = { route: '' };
    if (path.startsWith('/minimal/')) return route(req, env, path.slice('/minimal'.length), false, info);
    const t0 = Date.now();
    const rid = hex(crypto.getRandomValues(new Uint8Array(16)));
    const resp = await route(req, env, path, true, info);
    resp.headers.set('x-request-id', rid);
    console.log(JSON.stringify({
      msg: 'request', request_id: rid, method: req.method, route: info.route, status: resp.status, duration_ms: Date.now() - t0,
      upstream_ms: info.upstreamMs, upstream_attempts: info.attempts, code: info.code, role: info.role,
    }));
    return resp;
  },
};
