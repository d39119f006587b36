// The stub of a Durable Object, reached in one call from wasm (crates/edge/src/env.rs), for
// the hot paths (GET session, webhook). workers-rs' `Env::durable_object(..).get_by_name(..)`
// takes four crossings and reads the binding's `constructor.name` on every request (see
// docs/decisions.md § Edge worker, "Speed pass (session 6)").
export function objectStub(env, binding, name) {
  return env[binding].getByName(name);
}

// `ping` on a session's live socket is answered `pong` by the runtime, without waking the object
// (kipp-web's heartbeat, crates/web/src/js/kipp.js). Best effort: where the runtime lacks it,
// `ping` is answered like any other text, with the current state.
export function autoPong(state) {
  try {
    state.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
  } catch {
    // See above.
  }
}
