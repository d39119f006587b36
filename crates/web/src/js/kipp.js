// JS primitives the Rust side cannot express: a real Error subclass, and a
// timer that an AbortSignal can cut short. Everything else lives in Rust.

/** The one error type every kipp-web failure is thrown as. */
export class KippError extends Error {
  constructor(code, message, status, fieldErrors, retryable, requestId) {
    super(message);
    this.name = 'KippError';
    this.code = code;
    this.status = status;
    this.fieldErrors = fieldErrors;
    this.retryable = retryable;
    this.requestId = requestId;
  }
}

const utf8 = new TextEncoder();

/** `JSON.stringify(value)` as a string, or undefined (no JSON form, or it threw). */
export function jsonText(value) {
  try {
    const s = JSON.stringify(value);
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

/**
 * One request through the global `fetch` (window, worker or Node): resolves with
 * `{ status, text, requestId, retryAfter }` once the body is read, rejects like `fetch`
 * (network failure, abort); `undefined` when `url` cannot make a Request.
 */
export function send(url, method, auth, idempotencyKey, body, signal) {
  const headers = new Headers({ accept: 'application/json' });
  if (auth != null) headers.set('authorization', auth);
  if (idempotencyKey != null) headers.set('idempotency-key', idempotencyKey);
  if (body != null) headers.set('content-type', 'application/json');
  let req;
  try {
    req = new Request(url, { method, headers, body: body ?? undefined, signal });
  } catch {
    return undefined;
  }
  return fetch(req).then(async (res) => ({
    status: res.status,
    text: await res.text(),
    requestId: res.headers.get('x-request-id'),
    retryAfter: res.headers.get('retry-after'),
  }));
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms, signal) {
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

/** Aborts `controller` with `reason` after `ms` (a deadline); returns the timer id. */
export function abortAfter(controller, ms, reason) {
  return setTimeout(() => controller.abort(reason), ms);
}

/** Forwards an abort from `from` (a caller's signal, possibly undefined) to `controller`. */
export function linkSignal(from, controller) {
  if (!from) return;
  if (from.aborted) controller.abort(from.reason);
  else from.addEventListener('abort', () => controller.abort(from.reason), { once: true });
}
