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

export function makeKippError(code, message, status, fieldErrors, retryable, requestId) {
  return new KippError(code, message, status ?? null, fieldErrors ?? [], retryable, requestId ?? null);
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
