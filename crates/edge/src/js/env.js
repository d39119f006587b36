// The stub of a Durable Object, reached in one call from wasm (crates/edge/src/env.rs), for
// the hot paths (GET session, webhook). workers-rs' `Env::durable_object(..).get_by_name(..)`
// takes four crossings and reads the binding's `constructor.name` on every request (see
// docs/decisions.md § Edge worker, "Speed pass (session 6)").
export function objectStub(env, binding, name) {
  return env[binding].getByName(name);
}
