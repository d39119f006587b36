// Baseline for `make bench`: the two hot routes of the kipp edge worker written as a minimal
// TypeScript worker (no validation layer, no logs), run by the same workerd through wrangler dev.
//   GET  /ipp/v1/sessions/:id   kipp token check (HMAC-SHA256) → Durable Object read
//   POST /webhooks/kustom       Standard Webhooks verify → re-read the session upstream → DO write
//   POST /seed/:id              bench only: store a session
import { DurableObject } from 'cloudflare:workers';

interface Env { SESSIONS: DurableObjectNamespace<Sessions>; KIPP_TOKEN_KEY: string; KUSTOM_WEBHOOK_SECRETS: string; KUSTOM_API_BASE: string; KUSTOM_API_KEY: string; KUSTOM_MERCHANT_ID: string }

const enc = new TextEncoder();
const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const b64url = (s: string) => b64(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
let tokenKey: CryptoKey | undefined;
let hookKeys: CryptoKey[] | undefined;
const hmacKey = (raw: Uint8Array) => crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);

async function auth(req: Request, env: Env): Promise<boolean> {
  const t = req.headers.get('authorization')?.replace(/^Bearer /, '') ?? '';
  const i = t.lastIndexOf('.');
  if (i < 0) return false;
  tokenKey ??= await hmacKey(b64(env.KIPP_TOKEN_KEY));
  if (!(await crypto.subtle.verify('HMAC', tokenKey, b64url(t.slice(i + 1)), enc.encode(t.slice(0, i))))) return false;
  const claims = JSON.parse(new TextDecoder().decode(b64url(t.split('.')[1])));
  return claims.exp > Date.now() / 1000;
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

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const url = new URL(req.url);
    const m = url.pathname.match(/^\/ipp\/v1\/sessions\/([0-9a-f-]{36})$/);
    if (m && req.method === 'GET') {
      if (!(await auth(req, env))) return new Response('{"status":401}', { status: 401 });
      const rec = (await env.SESSIONS.getByName(m[1]).get()) as { session: unknown } | undefined;
      return rec ? Response.json(rec.session) : new Response('{"status":404}', { status: 404 });
    }
    const s = url.pathname.match(/^\/seed\/([0-9a-f-]{36})$/);
    if (s && req.method === 'POST') {
      await env.SESSIONS.getByName(s[1]).put({ session: await req.json(), seen: [] });
      return new Response(null, { status: 204 });
    }
    if (url.pathname === '/webhooks/kustom' && req.method === 'POST') {
      const body = await req.text();
      if (!(await verifyHook(req, body, env))) return new Response('{"status":401}', { status: 401 });
      const ev = JSON.parse(body);
      const sid = ev.data.session_id;
      const up = await fetch(`${env.KUSTOM_API_BASE}/ipp/v1/sessions/${sid}`, { headers: { authorization: `Basic ${env.KUSTOM_API_KEY}`, 'x-merchant-id': env.KUSTOM_MERCHANT_ID } });
      if (!up.ok) return new Response('{"status":503}', { status: 503 });
      const result = await env.SESSIONS.getByName(sid).apply(req.headers.get('webhook-id')!, await up.json());
      return Response.json({ result });
    }
    return new Response('{"status":404}', { status: 404 });
  },
};
