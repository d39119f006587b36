// A canned stand-in for the edge worker, for kipp-web's browser tests (crates/web/tests/browser.rs):
// the cases the real stack cannot produce on demand (refused WebSockets, a socket that drops,
// 5xx then success on the same idempotency key, slow answers). Every answer carries CORS and
// Cross-Origin-Resource-Policy headers because the wasm-bindgen-test page is cross-origin.
//
//   node tests/web/test-server.mjs [port]      (default 18790, 127.0.0.1 only)
//
// Session ids pick the behaviour (see SESS below). GET /_test/log returns what was recorded.
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';

const PORT = Number(process.argv[2] ?? process.env.KIPP_TEST_SERVER_PORT ?? 18790);
const U = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
export const SESS = {
  pollDone: U(1), //   WS refused; long-poll: CREATED twice, then FINALIZED
  never: U(2), //      WS refused; always CREATED
  wsDrop: U(3), //     WS: first socket sends CREATED then drops; second sends ACTIVE, FINALIZED, closes 1000
  wsDecline: U(4), //  WS: CREATED, ACTIVE with a decline, FINALIZED
  missing: U(404),
  slow: U(5), //       GET answers after 3 s
  big: U(6), //        order_amount 2^53 − 1
  wsTokenEnded: U(7), // WS: CREATED, then closed 4401 (token expired); polls answer 401
  wsFlaky: U(8), //    WS: every socket sends CREATED and drops 100 ms later; polls answer CREATED
  finalNoOrder: U(9), // WS: FINALIZED whose session has no order_id yet, but whose state has it
  cancelLost: U(10), // PUT cancel: the first answer comes after 1.5 s (the client gave up), then 409
  wsSilent: U(11), //  WS: the first socket sends CREATED, then silence (half-open: pings unanswered); the next is as usual
  pollLimited: U(12), // WS refused; the first poll answers 429 with Retry-After: 1, the next FINALIZED
  pollPortal: U(13), // WS refused; the first poll answers 200 with HTML (a captive portal), the next FINALIZED
  pollDropped: U(14), // WS refused; polls in the 1.5 s from the first have their connections cut without an answer, then FINALIZED
};
const LOST_DEVICE = U(901); // DELETE: the first answer comes after 1.5 s, then 404
const DEVICE = U(900);
const log = { idempotencyKeys: [], createTimes: [], polls: [], wsConnections: {}, authHeaders: [], wsPings: {}, revoked: [] };
const counters = new Map();
const bump = (k) => { const n = (counters.get(k) ?? 0) + 1; counters.set(k, n); return n; };

const cors = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type, idempotency-key, accept',
  'access-control-expose-headers': 'x-request-id, retry-after',
  'cross-origin-resource-policy': 'cross-origin',
};
let rid = 0;
function send(res, status, body, extra = {}) {
  const headers = { ...cors, 'x-request-id': `req-${++rid}`, ...extra };
  if (body === undefined) { res.writeHead(status, headers); return res.end(); }
  const problem = status >= 400;
  headers['content-type'] = problem ? 'application/problem+json' : 'application/json';
  res.writeHead(status, headers);
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}
const problem = (status, code, title, detail, more = {}) => ({ type: 'about:blank', title, status, code, detail, request_id: `prob-${rid + 1}`, ...more });
const session = (id, status, more = {}) => ({ session_id: id, status, device_id: DEVICE, order_amount: 25000, purchase_currency: 'SEK', order_tax_amount: 5000, ...more });
const message = (id, status, state = {}) => ({ type: 'session', session: session(id, status, status === 'FINALIZED' ? { order_id: U(777) } : {}), state: { status, order_id: status === 'FINALIZED' ? U(777) : null, failure_reason: null, failed_attempts: 0, ...state } });

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  if (req.method === 'OPTIONS') return send(res, 204);
  let body = '';
  for await (const c of req) body += c;
  log.authHeaders.push(req.headers.authorization ?? null);

  if (p === '/_test/log') return send(res, 200, log);
  if (p === '/_test/reset') { counters.clear(); log.idempotencyKeys = []; log.createTimes = []; log.polls = []; log.wsConnections = {}; log.authHeaders = []; log.wsPings = {}; log.revoked = []; return send(res, 200, { ok: true }); }

  const auth = req.headers.authorization ?? '';
  if (auth === 'Bearer expired') return send(res, 401, problem(401, 'unauthorized', 'Unauthorized', 'token expired'));
  if (auth === 'Bearer clerk-elsewhere') return send(res, 403, problem(403, 'forbidden', 'Forbidden', 'this token may act on its own location only'));

  // Status-code probes: /ipp/v1/devices?location_id=… is not used; /_status/<code> answers that status.
  let m;
  if ((m = p.match(/^\/_status\/(\d+)$/))) {
    const s = Number(m[1]);
    if (s === 429) return send(res, 429, problem(429, 'rate_limited', 'Too Many Requests', 'slow down'), { 'retry-after': '1' });
    if (s === 502 && !url.searchParams.has('code')) return send(res, 502, '<html>bad gateway</html>', { 'content-type': 'text/html' });
    if (s === 200) return send(res, 200, 'not json', { 'content-type': 'text/plain' });
    // Kustom's own shape: `errors` maps field → message (no kipp code, no field_errors).
    if (url.searchParams.has('kustom')) return send(res, s, { title: 'Bad Request', status: s, errors: { 'order_items[0].name': 'must not be blank', amount: 'must be positive', skipped: 7 } });
    // kipp's shape: ordered field_errors with codes (malformed entries are left out).
    if (url.searchParams.has('fields')) return send(res, s, problem(s, 'validation_failed', 'Validation Failed', 'HTTP 422', { field_errors: [{ path: '', code: 'invalid', message: 'body is not valid' }, { path: 'x' }] }));
    return send(res, s, problem(s, url.searchParams.get('code') ?? 'whatever', 'Some Title', url.searchParams.get('detail') ?? undefined));
  }

  if (p === '/ipp/v1/sessions' && req.method === 'POST') {
    const key = req.headers['idempotency-key'] ?? null;
    log.idempotencyKeys.push(key);
    log.createTimes.push(Date.now());
    const b = JSON.parse(body || '{}');
    if (b.merchant_reference1 === 'rate-limited-once' && bump(`create:${key}`) === 1) {
      return send(res, 429, problem(429, 'rate_limited', 'Too Many Requests', 'slow down'), { 'retry-after': '1' });
    }
    if (b.merchant_reference1 === 'rate-limited-long') {
      return send(res, 429, problem(429, 'rate_limited', 'Too Many Requests', 'slow down'), { 'retry-after': '120' });
    }
    if (b.merchant_reference1 === 'fail-once' && bump(`create:${key}`) === 1) {
      return send(res, 503, problem(503, 'upstream_unavailable', 'Upstream Unavailable', 'try again'));
    }
    if (b.merchant_reference1 === 'in-progress-once' && bump(`create:${key}`) === 1) {
      return send(res, 409, problem(409, 'idempotency_in_progress', 'Conflict', 'a create with this key is in progress'), { 'retry-after': '1' });
    }
    if (b.merchant_reference1 === 'busy') return send(res, 409, problem(409, 'device_busy', 'Conflict', 'the device is busy with another session'));
    return send(res, 200, session(U(100), 'CREATED', { merchant_reference1: b.merchant_reference1, order_items: b.order_items }));
  }

  if ((m = p.match(/^\/ipp\/v1\/sessions\/([^/]+)\/events$/))) {
    const id = decodeURIComponent(m[1]);
    log.polls.push({ id, at: Date.now(), query: url.search });
    if (id === SESS.missing) return send(res, 404, problem(404, 'not_found', 'Not Found', 'no such session'));
    if (id === SESS.pollDone) return send(res, 200, message(id, bump(`poll:${id}`) >= 3 ? 'FINALIZED' : 'CREATED'));
    if (id === SESS.pollLimited) {
      if (bump(`poll:${id}`) === 1) return send(res, 429, problem(429, 'rate_limited', 'Too Many Requests', 'slow down'), { 'retry-after': '1' });
      return send(res, 200, message(id, 'FINALIZED'));
    }
    if (id === SESS.pollDropped) {
      // For 1.5 s from the first: a browser repeats a request whose connection closed (Chromium
      // once, Firefox more), so a few cuts could all be absorbed by its own retries.
      if (bump(`poll:${id}`) === 1) counters.set(`cutUntil:${id}`, Date.now() + 1500);
      if (Date.now() < counters.get(`cutUntil:${id}`)) return req.socket.destroy();
      return send(res, 200, message(id, 'FINALIZED'));
    }
    if (id === SESS.pollPortal) {
      if (bump(`poll:${id}`) === 1) return send(res, 200, '<html>Sign in to the hotel Wi-Fi</html>', { 'content-type': 'text/html' });
      return send(res, 200, message(id, 'FINALIZED'));
    }
    if (id === SESS.wsTokenEnded) return send(res, 401, problem(401, 'token_expired', 'Unauthorized', 'the token has expired'));
    return send(res, 200, message(id, 'CREATED'));
  }
  if ((m = p.match(/^\/ipp\/v1\/sessions\/([^/]+)$/)) && req.method === 'GET') {
    const id = decodeURIComponent(m[1]);
    if (id === SESS.missing) return send(res, 404, problem(404, 'not_found', 'Not Found', 'no such session'));
    if (id === SESS.slow) await new Promise((r) => setTimeout(r, 3000));
    if (id === SESS.big) return send(res, 200, session(id, 'FINALIZED', { order_amount: 9007199254740991, order_id: U(777), metadata_like: { a: 'b' } }));
    if (id === SESS.cancelLost && counters.get(`cancel:${id}`)) return send(res, 200, session(id, 'CANCELLED'));
    return send(res, 200, session(id, 'CREATED'));
  }
  if ((m = p.match(/^\/ipp\/v1\/sessions\/([^/]+)\/cancel$/)) && req.method === 'PUT') {
    const id = decodeURIComponent(m[1]);
    if (id === SESS.cancelLost) {
      // Kustom cancels at once; the answer is late, and a second cancel finds it terminal.
      if (bump(`cancel:${id}`) === 1) return setTimeout(() => send(res, 200, session(id, 'CANCELLED')), 1500);
      return send(res, 409, problem(409, 'session_terminal', 'Conflict', 'the session is CANCELLED'));
    }
    return send(res, 200, session(id, 'CANCELLED'));
  }
  if (p === '/ipp/v1/devices/' + LOST_DEVICE && req.method === 'DELETE') {
    if (bump(`delete:${p}`) === 1) return setTimeout(() => send(res, 204), 1500);
    return send(res, 404, problem(404, 'not_found', 'Not Found', 'no such device'));
  }
  if (p === '/ipp/v1/devices') return send(res, 200, { content: [{ id: DEVICE, name: 'Till 1', platform: 'IOS', metadata: { simulated: 'true' } }], total_elements: 1, total_pages: 1, page_number: 0, page_size: 20, first: true, last: true, query: url.search });
  if (p.startsWith('/ipp/v1/devices/') && req.method === 'DELETE') return send(res, 204);
  if (p === '/kipp/v1/tokens/revoke' && req.method === 'POST') { log.revoked.push(JSON.parse(body).jti); return send(res, 204); }
  // As the worker answers for a device with no open session.
  if (p === '/kipp/v1/devices/' + DEVICE + '/current-session') return send(res, 204);
  return send(res, 404, problem(404, 'not_found', 'Not Found', `no route ${req.method} ${p}`));
});

// A minimal WebSocket server (RFC 6455, text frames only) for the live-event cases.
function wsFrame(text) {
  const data = Buffer.from(text);
  const len = data.length;
  const head = len < 126 ? Buffer.from([0x81, len]) : Buffer.from([0x81, 126, len >> 8, len & 0xff]);
  return Buffer.concat([head, data]);
}
const closeFrame = (code) => Buffer.from([0x88, 2, code >> 8, code & 0xff]);
server.on('upgrade', (req, socket) => {
  const url = new URL(req.url, 'http://x');
  const m = url.pathname.match(/^\/ipp\/v1\/sessions\/([^/]+)\/events$/);
  const id = m ? decodeURIComponent(m[1]) : '';
  log.wsConnections[id] = (log.wsConnections[id] ?? 0) + 1;
  const refused = !m || id === SESS.pollDone || id === SESS.never || id === SESS.missing || id === SESS.pollLimited || id === SESS.pollPortal || id === SESS.pollDropped;
  if (refused) {
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  const accept = createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
  socket.on('error', () => {});
  // Client frames: count text frames (heartbeat pings); a masked text frame is answered `pong`,
  // except on the silent socket. Close acks and the rest are ignored.
  socket.on('data', (buf) => {
    if ((buf[0] & 0x0f) !== 0x1) return;
    log.wsPings[id] = (log.wsPings[id] ?? 0) + 1;
    if (!(id === SESS.wsSilent && n === 1) && !socket.destroyed) socket.write(wsFrame('pong'));
  });
  const n = log.wsConnections[id];
  const later = (ms, f) => setTimeout(() => { if (!socket.destroyed) f(); }, ms);
  if (id === SESS.wsDrop && n === 1) {
    socket.write(wsFrame(JSON.stringify(message(id, 'CREATED'))));
    later(200, () => socket.destroy());
  } else if (id === SESS.wsFlaky) {
    socket.write(wsFrame(JSON.stringify(message(id, 'CREATED'))));
    later(100, () => socket.destroy());
  } else if (id === SESS.wsTokenEnded) {
    socket.write(wsFrame(JSON.stringify(message(id, 'CREATED'))));
    later(100, () => { socket.write(closeFrame(4401)); later(50, () => socket.end()); });
  } else if (id === SESS.wsSilent && n === 1) {
    // Half-open: nothing after the first message, no close, pings unanswered.
    socket.write(wsFrame(JSON.stringify(message(id, 'CREATED'))));
  } else if (id === SESS.finalNoOrder) {
    const m = message(id, 'FINALIZED');
    delete m.session.order_id;
    socket.write(wsFrame(JSON.stringify(m)));
    socket.write(closeFrame(1000));
  } else if (id === SESS.wsDecline) {
    socket.write(wsFrame(JSON.stringify(message(id, 'CREATED'))));
    later(100, () => socket.write(wsFrame(JSON.stringify(message(id, 'ACTIVE', { failure_reason: 'insufficient_funds', failed_attempts: 1 })))));
    later(200, () => { socket.write(wsFrame(JSON.stringify(message(id, 'FINALIZED')))); socket.write(closeFrame(1000)); });
  } else {
    socket.write(wsFrame(JSON.stringify(message(id, 'ACTIVE'))));
    later(150, () => { socket.write(wsFrame(JSON.stringify(message(id, 'FINALIZED')))); socket.write(closeFrame(1000)); });
  }
});

server.listen(PORT, '127.0.0.1', () => console.log(`test-server listening on http://127.0.0.1:${PORT}`));
