// The JS side of kipp-web: a real Error subclass, and the plumbing that is only
// JavaScript (fetch, WebSocket, timers, AbortSignal, retries and backoff). Every
// request is decoded and validated in Rust (kipp-core) before it gets here; an error
// answer becomes a KippError here (`failure`), with kipp-core's code and title for its
// status (`rt.statusCode`). No wasm async runtime or closures are needed.

/** The one error type every kipp-web failure is thrown as. */
export class KippError extends Error {
  constructor(code, message, status, fieldErrors, retryable, requestId, reason = null) {
    super(message);
    this.name = 'KippError';
    this.code = code;
    this.status = status;
    this.fieldErrors = fieldErrors;
    this.retryable = retryable;
    this.requestId = requestId;
    // The server's own code (its problem details' `code`), finer than `code`: `token_expired`
    // and `token_revoked` are both `unauthorized`, `device_busy` is one `conflict` of several.
    this.reason = reason;
    // The server's `Retry-After` in ms, as asked (not capped), or null.
    this.retryAfterMs = null;
  }
}

const utf8 = new TextEncoder();

// `JSON.stringify` writes NaN and ±Infinity as null, which would read as a missing field (or
// drop an optional one unseen); as `"\u0000NaN"` they reach json.rs, which reports them by name.
const nonFinite = (_key, v) => (typeof v === 'number' && !Number.isFinite(v) ? `\0${v}` : v);

/** `JSON.stringify(value)` as a string (NaN and ±Infinity marked), or undefined (no JSON form, or it threw). */
export function jsonText(value) {
  try {
    const s = JSON.stringify(value, nonFinite);
    return typeof s === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Writes `text` as UTF-8 into `buf`; returns the bytes written, or -1 when `buf` was too small. */
export function utf8Into(text, buf) {
  const r = utf8.encodeInto(text, buf);
  return r.read === text.length ? r.written : -1;
}

export function makeKippError(code, message, status, fieldErrors, retryable, requestId) {
  return new KippError(code, message, status ?? null, fieldErrors ?? [], retryable, requestId ?? null);
}

// ---- the client class: each method hands its arguments to Rust (`rt.run`) -----------------------

/** The Rust side (`__KippRuntime`), handed over when the wasm module starts. */
let rt;
export function install(runtime) {
  rt = runtime;
}

/** A client of the kipp edge worker; declared in `types.d.ts`. */
export class KippClient {
  constructor(options) {
    if (!rt) throw new KippError('not_initialized', 'kipp-web is not initialized: await init() before new KippClient()', null, [], false, null);
    this.c = rt.connect(options);
  }
  /**
   * This client with `signal` on every call (and wait, and watch) made through it: they stop
   * when it aborts, rejecting with `aborted`. `client.withSignal(screen.signal).getSession(id)`.
   */
  withSignal(signal) {
    if (!isSignal(signal)) throw invalidOption('signal', 'must be an AbortSignal');
    const view = Object.create(KippClient.prototype);
    // A view of a view stops on either signal.
    view.c = { ...this.c, signal: this.c.signal ? either(this.c.signal, signal) : signal };
    return view;
  }
  waitForOutcome(id, options) {
    return rt.wait(this.c, id, options);
  }
  watch(id, onUpdate, options) {
    return new WatchHandle(rt.watch(this.c, id, onUpdate, options));
  }
  /** Nothing to release (kept from the wasm-bindgen class it replaced). */
  free() {}
}

// The plain calls: method i hands (this client, i, its arguments) to Rust, which decodes and
// validates them into a call (the numbers are lib.rs's `op` module).
'createSession getSession cancelSession listDevices listLocations createLocation createEnrollment listEnrollments deleteEnrollment updateDevice deleteDevice createSimulatedDevice simulateTap me issueToken deviceSession revokeToken'
  .split(' ')
  .forEach((name, op) => {
    KippClient.prototype[name] = function (a, b) {
      return rt.run(this.c, op, a, b);
    };
  });

/** What `watch` returns. */
export class WatchHandle {
  constructor(ctl) {
    this.c = ctl;
  }
  /** Stops watching (closes the WebSocket or the polling). */
  close() {
    this.c.abort('closed');
  }
  free() {}
}

if (Symbol.dispose) {
  // `using client = new KippClient(…)`: nothing to release. `using handle = client.watch(…)`: stops watching.
  KippClient.prototype[Symbol.dispose] = function () {};
  WatchHandle.prototype[Symbol.dispose] = function () {
    this.close();
  };
}

// ---- HTTP ------------------------------------------------------------------------------------

/** A failure with no response behind it; transient codes are retryable. */
const fail = (code, message, retryable = /^(network|timeout|upstream_unavailable|rate_limited)$/.test(code)) =>
  new KippError(code, message, null, [], retryable, null);
// The longest `Retry-After` a call waits out by itself; a longer one fails the call at once, with
// the wait in `retryAfterMs` for the app to schedule. A wait's polls wait at most this long.
const LONGEST_RETRY_AFTER_MS = 60000;
const isObj = (v) => typeof v === 'object' && v !== null;
const prop = (o, k) => (isObj(o) ? o[k] : undefined);
const str = (v) => (typeof v === 'string' ? v : undefined);
const never = () => new AbortController().signal;

/** `base × 2^(attempt−1)`, capped, ±20 % jitter. */
const backoff = (attempt, base, cap) => jitter(Math.min(base * 2 ** Math.min(Math.max(attempt - 1, 0), 16), cap));
const jitter = (ms) => ms * (0.8 + 0.4 * Math.random());
/** A server's `Retry-After`, spread only later (+0–20 %): never sooner than it asked. */
const later = (ms) => ms * (1 + 0.2 * Math.random());

/** The page's origin, if there is a page (`location.origin`). */
export function origin() {
  const o = globalThis.location?.origin;
  return typeof o === 'string' ? o : undefined;
}

/** The client state Rust hands over after checking the options. */
export function conn(base, token, getToken, timeoutMs, retries) {
  return { base, token, getToken, timeoutMs, retries };
}

/** The token for the next request: `getToken()` when given, else `token`. */
async function tokenOf(c) {
  const f = c.getToken;
  if (!f) return c.token == null ? c.token : usable(c.token);
  const no = (m) => fail('unauthorized', m);
  // `getToken` failing is the app's own refresh failing (its network, its server), not a
  // sign-out: a `network` failure that calls and waits retry, with the app's error as `cause`. A
  // KippError it throws (`unauthorized` to end the session) is passed on as it is.
  const failed = (e) => {
    if (e instanceof KippError) return e;
    const k = fail('network', `getToken() failed (${e?.message ?? e}); retrying`);
    k.cause = e;
    return k;
  };
  let v;
  try {
    v = f();
  } catch (e) {
    throw failed(e);
  }
  // Any thenable (a Promise of another realm or library too).
  if (typeof v?.then === 'function') v = await Promise.resolve(v).catch((e) => Promise.reject(failed(e)));
  if (typeof v === 'string' && v !== '') return usable(v);
  if (v == null) return c.token == null ? c.token : usable(c.token);
  throw no('getToken() must return a token string');
}

/**
 * A token goes out in a header (and a WebSocket URL): one with spaces, line breaks or characters
 * beyond visible ASCII (a token pasted from a wrapped terminal, a zero-width space) would make
 * `Headers` throw a TypeError. It is no kipp token, so it fails as `unauthorized`, like any other.
 */
function usable(token) {
  if (/^[\x21-\x7e]+$/.test(token)) return token;
  throw fail('unauthorized', 'the token holds spaces, line breaks or other characters no token has; sign in again');
}

/**
 * `promise`, unless `signal` aborts first: then a rejection with `aborted()` (a `getToken` that
 * hangs, on a sign-in dialog say, must not hold a call or a wait past its abort or deadline).
 */
function unlessAborted(promise, signal, aborted) {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(aborted());
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

const callAborted = () => fail('aborted', 'the call was aborted');

/**
 * Carries out one call: retries a repeatable call on network failures, timeouts, 429 and
 * 5xx with backoff (honouring `Retry-After`), and asks `getToken` once more after a 401.
 * A `nullable` call resolves to `null` on 404 or an empty answer. A failed call with an
 * idempotency key carries it (`error.idempotencyKey`), so the caller can retry the same create.
 */
export async function call(c, method, path, body, key, retry, nullable, signal) {
  // A call of the waits and follows passes their own signal, which `c.signal` already aborts.
  signal ??= c.signal;
  try {
    return await carryOut(c, method, path, body, key, retry, nullable, signal);
  } catch (f) {
    if (key != null && f instanceof KippError) f.idempotencyKey = key;
    throw f;
  }
}

async function carryOut(c, method, path, body, key, retry, nullable, signal) {
  let refreshed = false;
  let attempt = 0;
  try {
    for (;;) {
      try {
        const token = await unlessAborted(tokenOf(c), signal, callAborted);
        // Not repeatable: a POST (a create) without a key. A follow's polls are not repeated
        // here either, but reading is safe to repeat, and the follow rides their failures out.
        const v = await once(c, method, path, body, key, token, signal).catch((f) =>
          Promise.reject(retry || method !== 'POST' ? f : unsure(f)),
        );
        return nullable && v === undefined ? null : v;
      } catch (f) {
        if (f.code === 'unauthorized' && f.status != null && c.getToken && !refreshed) {
          refreshed = true;
        } else if (f.retryable && retry && attempt < c.retries) {
          attempt += 1;
          // Null on kipp's own errors without one; undefined on an error the app's `getToken` threw.
          const asked = f.retryAfterMs;
          if (asked > LONGEST_RETRY_AFTER_MS) throw f;
          const delay = asked == null ? backoff(attempt, 250, 4000) : later(asked);
          await sleep(delay, signal ?? never()).catch(() => Promise.reject(callAborted()));
        } else {
          throw f;
        }
      }
    }
  } catch (f) {
    if (nullable && f.code === 'not_found') return null;
    if (attempt > 0) {
      // A retried call that the server refuses because an earlier attempt took effect (its
      // answer lost) is done, as the worker does for its own retries (docs/decisions.md).
      if (method === 'DELETE' && f.status === 404) return undefined;
      if (method === 'PUT' && f.status === 409 && path.endsWith('/cancel')) {
        const now = await carryOut(c, 'GET', path.slice(0, -'/cancel'.length), null, null, true, false, signal).catch(() => null);
        if (prop(now, 'status') === 'CANCELLED') return now;
      }
    }
    throw f;
  }
}

/**
 * A failure of a call that is not safe to repeat (`createLocation`, `createEnrollment`,
 * `issueToken`, `simulateTap`, …) where the request may have reached the server and taken effect
 * (no answer, or a 500, 502 or 504): not `retryable`, since repeating it could do it twice. A
 * refusal before any effect (429, 503) stays retryable.
 */
function unsure(f) {
  if (f.retryable && (f.status == null ? /^(timeout|network)$/.test(f.code) : [500, 502, 504].includes(f.status))) {
    f.retryable = false;
    f.message += ' (it may have taken effect: check before trying again)';
  }
  return f;
}

/** One attempt, with its own time limit; `fetch` rejecting becomes aborted, timeout or network. */
async function once(c, method, path, body, key, token, signal) {
  const ctl = new AbortController();
  const unlink = linkSignal(signal, ctl);
  const clearTimer = after(c.timeoutMs, () => ctl.abort('timeout'));
  try {
    return await attempt(c, method, path, body, key, token, signal, ctl);
  } finally {
    clearTimer();
    unlink();
  }
}

/** The request and answer of [`once`]: `ctl` aborts it (the caller's signal or the time limit). */
async function attempt(c, method, path, body, key, token, signal, ctl) {
  const headers = new Headers({ accept: 'application/json' });
  if (token != null) headers.set('authorization', 'Bearer ' + token);
  if (key != null) headers.set('idempotency-key', key);
  if (body != null) headers.set('content-type', 'application/json');
  let req;
  try {
    req = new Request(c.base + path, { method, headers, body: body ?? undefined, signal: ctl.signal });
  } catch {
    const e = { path: 'baseUrl', code: 'invalid', message: 'is not a usable URL' };
    throw new KippError('validation_failed', 'baseUrl is not a usable URL', null, [e], false, null);
  }
  let res, text;
  try {
    res = await fetch(req);
    text = await res.text();
  } catch {
    if (signal?.aborted) throw fail('aborted', 'the call was aborted');
    if (ctl.signal.aborted) {
      throw fail('timeout', `no answer within ${Math.trunc(c.timeoutMs)} ms; check the connection and try again`);
    }
    throw fail('network', `could not reach ${c.base}; check the network connection and try again`);
  }
  const status = res.status;
  const rid = res.headers.get('x-request-id');
  if (status >= 200 && status < 300) {
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new KippError('invalid_response', "the server's answer was not JSON", status, [], false, rid);
    }
  }
  const ra = (res.headers.get('retry-after') ?? '').trim();
  const secs = /^\+?\d+$/.test(ra) && Number(ra) <= 0xffffffff ? Number(ra) : undefined;
  const ms = secs === undefined ? undefined : secs * 1000;
  throw failure(c, status, text, rid, ms);
}

// ---- error answers → KippError -------------------------------------------------------------

/** The stable `KippError.code` set (`KippErrorCode` in the .d.ts); a server code outside it maps by status. */
const CODES = 'validation_failed unauthorized forbidden not_found method_not_allowed conflict payload_too_large unsupported_media_type rate_limited upstream_unavailable timeout aborted network invalid_response http_error'.split(' ');
/** What to do, by code, when the server gave no detail. */
const ADVICE = {
  unauthorized: 'sign in again: the token is missing, expired or revoked',
  forbidden: 'this token may not do that (ask an admin for a token with the right role or location)',
  not_found: 'it does not exist',
  conflict: 'it is busy or changed meanwhile; reload and try again',
  rate_limited: 'too many requests; wait a moment and try again',
  upstream_unavailable: 'the payment service is unavailable; try again shortly',
  timeout: 'the payment service did not answer in time; try again',
};

/** `path message`, and how many more there are (the same wording as local validation). */
const describe = (errors) => {
  const e = errors[0];
  const one = e.path === '' ? e.message : e.path + ' ' + e.message;
  return errors.length > 1 ? `${one} (and ${errors.length - 1} more)` : one;
};

/**
 * The KippError of an error answer: its problem details (RFC 7807 plus kipp's `code`,
 * `field_errors`, `request_id`, or Kustom's `errors` map) when the body has them, else those
 * of its status, whose code and title come from kipp-core (`rt.statusCode`).
 */
function failure(c, status, text, rid, retryAfterMs) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    // Not JSON: the status's problem.
  }
  const o = isObj(v) && !Array.isArray(v) ? v : {};
  const s = (k) => str(o[k]);
  let title = s('title') ?? '';
  let detail = s('detail');
  let code = s('code');
  // Kept apart from `code`, which falls back to the status's code below.
  const problemCode = code;
  let requestId = s('request_id');
  let fieldErrors = Array.isArray(o.field_errors)
    ? o.field_errors
        .filter((e) => isObj(e) && !Array.isArray(e) && [e.path, e.code, e.message].every((x) => typeof x === 'string'))
        .map((e) => ({ path: e.path, code: e.code, message: e.message }))
    : undefined;
  const map = isObj(o.errors) && !Array.isArray(o.errors) ? o.errors : undefined;
  const [statusCode, ...statusTitle] = rt.statusCode(status).split(' ');
  if (!(title !== '' || map || detail !== undefined || code !== undefined)) {
    [title, detail, code, requestId, fieldErrors] = [statusTitle.join(' '), `HTTP ${status}`, statusCode, undefined, undefined];
  }
  // Kustom's `errors` (path → message), in path order, when there are no kipp field errors.
  fieldErrors ??= map
    ? Object.keys(map)
        .filter((k) => typeof map[k] === 'string')
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        .map((k) => ({ path: k, code: 'invalid', message: map[k] }))
    : [];
  // The worker's own configuration is wrong: a binding is not set (its 500 `config_missing`), or
  // Kustom refuses the worker's API key (its 502 `upstream_auth_failed`). Not the payment service
  // being busy, and no retry mends it: only the operator can, so the screen says so at once.
  const misconfigured = code === 'config_missing' || code === 'upstream_auth_failed';
  const stable = misconfigured ? 'http_error' : CODES.includes(code) ? code : CODES.includes(statusCode) ? statusCode : 'http_error';
  if (title === '') title = statusTitle.join(' ');
  const message =
    stable === 'validation_failed' && fieldErrors.length
      ? describe(fieldErrors)
      : detail && !detail.startsWith('HTTP ')
        ? detail
        : ADVICE[stable]
          ? `${title}: ${ADVICE[stable]}`
          : title;
  // 409 idempotency_in_progress: the first attempt of this very create is still running at the
  // worker, and a conflict that says when it clears (Retry-After) is worth a retry with the same key.
  const retryable =
    (!misconfigured && [408, 429, 500, 502, 503, 504].includes(status)) ||
    (status === 409 && (code === 'idempotency_in_progress' || retryAfterMs !== undefined));
  const e = new KippError(stable, message, status, fieldErrors, retryable, requestId ?? rid ?? null, problemCode ?? null);
  e.retryAfterMs = retryAfterMs ?? null;
  return e;
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Forwards an abort from `from` (a caller's signal, possibly undefined) to `controller`; returns
 * the function that unlinks them (a caller's signal can outlive many calls and follows, and would
 * otherwise keep a listener, and its controller, for each).
 */
function linkSignal(from, controller) {
  if (!from) return () => {};
  if (from.aborted) {
    controller.abort(from.reason);
    return () => {};
  }
  const onAbort = () => controller.abort(from.reason);
  from.addEventListener('abort', onAbort, { once: true });
  return () => from.removeEventListener('abort', onAbort);
}

/** The longest delay `setTimeout` keeps (a longer one fires at once in browsers and Node). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `fire` once `ms` have passed, re-arming for delays beyond `MAX_TIMER_MS`; returns the cancel. */
function after(ms, fire) {
  const end = Date.now() + ms;
  let t;
  const arm = () => {
    const left = end - Date.now();
    t = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fire, Math.max(left, 0));
  };
  arm();
  return () => clearTimeout(t);
}

// ---- live outcomes: WebSocket first, polling with jittered backoff else ----------------------

const POLL_FLOOR_MS = 1000;
const POLL_IDLE_CAP_MS = 5000;
const FAILURE_CAP_MS = 15000;
const WS_OPEN_TIMEOUT_MS = 5000;
const WS_RETRY_AFTER_MS = 30000;
/**
 * A socket that stayed open this long before it dropped counts as working; one that dropped
 * sooner counts towards the drops that switch to polling. Every socket gets the current state
 * as its first message, so a message alone says nothing about the path (a proxy that cuts
 * sockets after they open would otherwise be reconnected to every second, forever).
 */
const WS_HEALTHY_MS = 10000;
/**
 * Heartbeat: after this long without a message the client sends `ping` (the worker's runtime
 * answers `pong` without waking the session object), and a socket that then stays silent for
 * `WS_PONG_MS` is dead. A half-open connection (Wi-Fi roaming, a laptop waking, a NAT that
 * forgot the flow) gives no close event, and would otherwise hold a paid sale's push back until
 * the wait's deadline.
 */
const WS_QUIET_MS = 15000;
const WS_PONG_MS = 10000;
/** Longest hold of a long-poll the worker grants (`MAX_WAIT_SECS` in crates/edge). */
const LONG_POLL_MAX_S = 25;

/** Seconds a poll of the worker's `/events` may be held open: well within one attempt's time limit. */
const longPollSecs = (c) => Math.max(0, Math.min(LONG_POLL_MAX_S, Math.floor(c.timeoutMs / 1000) - 5));

/** `waitForOutcome` after Rust checked its arguments: follows until a terminal status or the deadline. */
/** `validation_failed` at `path` (an option of the wrong type). */
const invalidOption = (path, message) =>
  new KippError('validation_failed', `${path} ${message}`, null, [{ path, code: 'invalid', message }], false, null);

/** An optional callback: absent, or a function (never silently dropped). */
function callback(v, path) {
  if (v == null) return null;
  if (typeof v !== 'function') throw invalidOption(path, 'must be a function');
  return v;
}

const isSignal = (v) => typeof AbortSignal !== 'undefined' && v instanceof AbortSignal;

/** A signal that aborts when `a` or `b` does (`AbortSignal.any` where the runtime has it). */
function either(a, b) {
  if (AbortSignal.any) return AbortSignal.any([a, b]);
  const ctl = new AbortController();
  linkSignal(a, ctl);
  linkSignal(b, ctl);
  return ctl.signal;
}

export async function waitFor(c, id, timeoutMs, signal, onUpdate, onError) {
  if (signal != null && !isSignal(signal)) throw invalidOption('signal', 'must be an AbortSignal');
  onUpdate = callback(onUpdate, 'onUpdate');
  onError = callback(onError, 'onError');
  const ctl = new AbortController();
  const unlinkClient = linkSignal(c.signal, ctl);
  const unlink = linkSignal(signal, ctl);
  const clearTimer = after(timeoutMs, () => ctl.abort('deadline'));
  const f = {
    id,
    onUpdate,
    // Hears every failure the wait rides out (a dropped socket, a failed poll), so a screen can
    // say that its status may be stale while the wait reconnects.
    onError,
    ctl,
    user: signal,
    deadline: true,
  };
  try {
    return await follow(c, f);
  } finally {
    clearTimer();
    unlink();
    unlinkClient();
  }
}

/** `watch` after Rust checked its arguments; returns the controller that `close()` aborts. */
export function watch(c, id, onUpdate, onError) {
  if (typeof onUpdate !== 'function') throw invalidOption('onUpdate', 'must be a function');
  const ctl = new AbortController();
  const f = { id, onUpdate, onError: callback(onError, 'onError'), ctl, user: undefined, deadline: false };
  const unlink = linkSignal(c.signal, ctl);
  follow(c, f).finally(unlink).catch((e) => {
    if (e.code === 'aborted') return;
    // A failure that ends the watch is never silent: without `onError` it goes to the console,
    // as an unhandled rejection of a promise would.
    if (f.onError) report(f, e);
    else console.error(`kipp-web: watch(${id}) stopped:`, e);
  });
  return ctl;
}

/** Follows a session until a terminal status, an abort, the deadline or a failure retrying cannot fix. */
async function follow(c, f) {
  const t = { last: null, changed: false, eventsPoll: true, held: false };
  let useWs = typeof WebSocket !== 'undefined';
  let wsWorked = false;
  let wsDrops = 0;
  let pollingSince = 0;
  let delay = POLL_FLOOR_MS;
  let honour = false;
  let errors = 0;
  for (;;) {
    if (f.ctl.signal.aborted) throw interrupted(f);
    if (useWs) {
      let end;
      try {
        end = await wsOnce(c, f, t);
      } catch (e) {
        // `getToken` failing for a moment: tried again after a pause, as a dropped socket is.
        if (!e.retryable || f.ctl.signal.aborted) throw e;
        errors += 1;
        report(f, e);
        await pause(f, backoff(errors, POLL_FLOOR_MS, FAILURE_CAP_MS));
        continue;
      }
      if (end.session) return end.session;
      if (end.interrupted) throw interrupted(f);
      if (end.tokenEnded) {
        // The worker closed the socket because the token expired or was revoked (4401): not a
        // network drop. Poll at once: the poll's 401 refreshes the token through `getToken`, or
        // ends the follow with `unauthorized`; the socket is tried again later with the new token.
        wsWorked = true;
        useWs = false;
        pollingSince = Date.now();
        continue;
      }
      if (!end.opened) {
        useWs = false;
        pollingSince = Date.now();
      } else {
        wsWorked = true;
        wsDrops = end.lastedMs >= WS_HEALTHY_MS ? 1 : wsDrops + 1;
        report(f, fail('network', 'the live connection dropped; reconnecting'));
        if (wsDrops >= 3) {
          useWs = false;
          pollingSince = Date.now();
        } else {
          await pause(f, backoff(wsDrops, POLL_FLOOR_MS, FAILURE_CAP_MS));
        }
      }
      continue;
    }
    try {
      const done = await pollOnce(c, f, t);
      if (done) return done;
      errors = 0;
      // A long-poll that came back unchanged has already waited at the worker: ask again soon.
      delay = t.changed || t.held ? POLL_FLOOR_MS : Math.min(delay * 1.5, POLL_IDLE_CAP_MS);
    } catch (e) {
      if (f.ctl.signal.aborted) throw interrupted(f);
      // An answer that is not JSON (a captive portal's page, a proxy's) is the network's, not the
      // worker's: ridden out like a failed poll.
      if (!e.retryable && e.code !== 'invalid_response') throw e;
      errors += 1;
      const asked = e.retryAfterMs;
      delay = asked == null ? backoff(errors, POLL_FLOOR_MS, FAILURE_CAP_MS) : Math.min(asked, LONGEST_RETRY_AFTER_MS);
      honour = asked != null;
      report(f, e);
    }
    await pause(f, honour ? later(delay) : jitter(delay));
    honour = false;
    if (wsWorked && Date.now() - pollingSince > WS_RETRY_AFTER_MS) {
      useWs = true;
      wsDrops = 0;
    }
  }
}

/** Sleeps `ms` (at least the floor), cut short by the internal controller. */
const pause = (f, ms) => sleep(Math.max(ms, POLL_FLOOR_MS), f.ctl.signal).catch(() => Promise.reject(interrupted(f)));

function report(f, e) {
  // The next message is handed on even if unchanged: it tells the caller the connection is back.
  f.stale = true;
  try {
    f.onError?.(e);
  } catch {
    // A throwing callback must not stop the follow.
  }
}

/** Why the internal controller fired: the caller's abort, else the deadline. */
function interrupted(f) {
  if (f.deadline && prop(f.user, 'aborted') !== true && f.ctl.signal.reason === 'deadline') {
    return fail('timeout', 'the session did not reach an outcome before the deadline; check it again or cancel it');
  }
  return fail('aborted', 'stopped waiting for the session (aborted)', false);
}

/**
 * Hands a `{session, state}` message to `f.onUpdate` when it differs from the last one
 * (status, failed_attempts), or is the first since a failure was reported to `f.onError`;
 * returns the session when its status is terminal.
 */
function deliver(t, msg, f) {
  let session = prop(msg, 'session');
  if (!isObj(session)) return null;
  let state = prop(msg, 'state');
  const status = str(prop(state, 'status')) ?? str(prop(session, 'status'));
  if (status === undefined) return null;
  if (!isObj(state)) {
    const order = prop(session, 'order_id');
    state = { status, order_id: typeof order === 'string' ? order : null, failure_reason: null, failed_attempts: 0 };
  }
  // The worker may learn a FINALIZED session's order id from the finalized event before a read
  // of the session carries it: the session handed on carries it too.
  const stateOrder = prop(state, 'order_id');
  if (typeof stateOrder === 'string' && typeof prop(session, 'order_id') !== 'string') {
    session = { ...session, order_id: stateOrder };
  }
  const n = prop(state, 'failed_attempts');
  const attempts = typeof n === 'number' && n > 0 ? Math.min(Math.trunc(n), 0xffffffff) : 0;
  t.changed = !t.last || t.last[0] !== status || t.last[1] !== attempts;
  if ((t.changed || f.stale) && f.onUpdate) {
    f.stale = false;
    try {
      f.onUpdate(session, state);
    } catch {
      // A throwing callback must not stop the follow.
    }
  }
  t.last = [status, attempts];
  return rt.isTerminal(status) ? session : null;
}

async function pollOnce(c, f, t) {
  const signal = f.ctl.signal;
  const path = '/ipp/v1/sessions/' + f.id;
  if (t.eventsPoll) {
    // The worker holds the poll until the state differs from the one seen last (status and failed
    // attempts, so a decline ends it too) or `wait` seconds have passed.
    const wait = longPollSecs(c);
    const after = t.last ? `after=${encodeURIComponent(`${t.last[0]}:${t.last[1]}`)}&` : '';
    try {
      const msg = await call(c, 'GET', `${path}/events?${after}wait=${wait}`, null, null, false, false, signal);
      t.held = wait > 0 && after !== '';
      return deliver(t, msg, f);
    } catch (e) {
      if (![404, 405, 426, 501].includes(e.status)) throw e;
      t.eventsPoll = false;
    }
  }
  const session = await call(c, 'GET', path, null, null, false, false, signal);
  return deliver(t, { session }, f);
}

/** Percent-encodes all but the unreserved characters (kipp-core's `escape_segment`). */
const escape = (s) =>
  Array.from(utf8.encode(s), (b) => {
    const ch = String.fromCharCode(b);
    return /[\w.~-]/.test(ch) ? ch : '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
  }).join('');

/** The close code the worker sends when the socket's token expired or was revoked (docs/contracts.md). */
const TOKEN_ENDED_CLOSE = 4401;

/**
 * One WebSocket connection: resolves `{ session }` at a terminal status, `{ interrupted }` on
 * abort, `{ tokenEnded }` when the worker closed it for the token (4401), `{ opened: false }` when
 * it never opened (refused, 5 s), `{ opened: true, lastedMs }` when it dropped after `lastedMs`.
 */
async function wsOnce(c, f, t) {
  const signal = f.ctl.signal;
  const interrupted = {};
  let token;
  try {
    token = await unlessAborted(tokenOf(c), signal, () => interrupted);
  } catch (e) {
    if (e === interrupted) return { interrupted: true };
    throw e;
  }
  const base = c.base.startsWith('https://') ? 'wss://' + c.base.slice(8) : 'ws://' + c.base.replace(/^http:\/\//, '');
  const url = base + '/ipp/v1/sessions/' + f.id + '/events' + (token != null ? '?token=' + escape(token) : '');
  let ws;
  try {
    ws = new WebSocket(url);
  } catch {
    return { opened: false };
  }
  return new Promise((resolve) => {
    let opened = false;
    let openedAt = 0;
    let timer;
    let quiet;
    const onAbort = () => end({ interrupted: true });
    // A socket whose ping went unanswered counts as one that failed soon (lastedMs 0): a path
    // that keeps doing that ends in polling, like one that keeps dropping.
    const dead = () => end({ opened: true, lastedMs: 0 });
    const listen = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        try {
          ws.send('ping');
        } catch {
          return dead();
        }
        quiet = setTimeout(dead, WS_PONG_MS);
      }, WS_QUIET_MS);
    };
    const end = (r) => {
      clearTimeout(timer);
      clearTimeout(quiet);
      ws.onopen = ws.onclose = ws.onmessage = null;
      signal.removeEventListener('abort', onAbort);
      if (ws.readyState <= WebSocket.OPEN) ws.close(1000);
      // A close event still on its way is harmless: the handlers are gone.
      resolve(r);
    };
    ws.onopen = () => {
      opened = true;
      openedAt = Date.now();
      listen();
    };
    ws.onmessage = (e) => {
      listen();
      if (typeof e.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      const session = deliver(t, msg, f);
      if (session) end({ session });
    };
    ws.onclose = (e) =>
      end(e.code === TOKEN_ENDED_CLOSE ? { tokenEnded: true } : opened ? { opened, lastedMs: Date.now() - openedAt } : { opened: false });
    signal.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(() => opened || end({ opened: false }), WS_OPEN_TIMEOUT_MS);
    if (signal.aborted) end({ interrupted: true });
  });
}
