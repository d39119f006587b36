// One attempt of an upstream call to Kustom, in one call from wasm (crates/edge/src/upstream.rs).
// Built in Rust, the same request took a dozen wasm-bindgen crossings (a Headers object, each
// header, the init object, the signal, the fetch, the status, the body) and two awaits; here it
// is one call and one await (docs/decisions.md § Edge worker, "Speed pass (session 6)").
//
// `head` holds the request headers as `name\nvalue\n` pairs. No name or value has a newline:
// they are kipp-core's and the worker's own, and the API key is checked to be visible ASCII when
// the configuration is read. The timeout is an AbortSignal given to fetch: it covers the answer
// and the body read. Resolves to [status, Retry-After or undefined, body bytes]; Retry-After is
// read only for a reply that is not 2xx, the only kind retried or passed on. Rejects with
// 'timeout' when the signal fired, else with 'network'. Never throws: a request that cannot even
// be built (a header the runtime refuses) rejects with 'network', as a failed attempt does.
export function upstreamFetch(url, method, head, body, timeoutMs) {
  let signal;
  const failed = () => { throw signal?.aborted ? 'timeout' : 'network'; };
  try {
    const headers = new Headers();
    const parts = head.split('\n');
    for (let i = 0; i + 1 < parts.length; i += 2) headers.set(parts[i], parts[i + 1]);
    signal = AbortSignal.timeout(timeoutMs);
    // A redirect is not followed: it would carry the API key (the runtime keeps the headers set
    // here) to the host it names, and repeat a create there. Its 3xx comes back as the answer.
    return fetch(url, { method, headers, body, signal, redirect: 'manual' }).then(
      (r) => r.arrayBuffer().then(
        (b) => [r.status, r.ok ? undefined : (r.headers.get('retry-after') ?? undefined), new Uint8Array(b)],
        failed,
      ),
      failed,
    );
  } catch {
    return Promise.reject('network');
  }
}
