//! Reading the configuration from the Workers environment, once per isolate.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use worker::{Env, ObjectNamespace, Stub};

use crate::config::{Config, ConfigError};

thread_local! {
    static CONFIG: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
}

fn lookup(env: &Env, name: &str) -> Option<String> {
    env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string())).ok()
}

/// The configuration, read on first use in this isolate.
pub fn config(env: &Env) -> Result<Rc<Config>, ConfigError> {
    if let Some(c) = CONFIG.with(|c| c.borrow().clone()) {
        return Ok(c);
    }
    let c = Rc::new(Config::from_lookup(&|name| lookup(env, name))?);
    CONFIG.with(|slot| *slot.borrow_mut() = Some(c.clone()));
    Ok(c)
}

/// A Durable Object binding of wrangler.toml. workers-rs' `Env::durable_object` also reads the
/// binding's `constructor.name` (two more crossings and a string) on every call; the bindings
/// are the worker's own, declared in wrangler.toml, so only their presence is checked.
pub fn namespace(env: &Env, binding: &str) -> worker::Result<ObjectNamespace> {
    let ns = js_sys::Reflect::get(env, &binding.into())?;
    if ns.is_undefined() {
        return Err(worker::Error::RustError(format!("missing Durable Object binding {binding}")));
    }
    Ok(ns.unchecked_into())
}

/// The stub of the object named `name` of `binding`.
pub fn stub(env: &Env, binding: &str, name: &str) -> worker::Result<Stub> {
    namespace(env, binding)?.get_by_name(name)
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/js/env.js")]
extern "C" {
    #[wasm_bindgen(js_name = objectStub, catch)]
    fn object_stub(env: &Env, binding: &str, name: &str) -> Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>;

    #[wasm_bindgen(js_name = autoPong)]
    fn auto_pong_js(state: &wasm_bindgen::JsValue);
}

/// Has the runtime answer `ping` with `pong` on the object's WebSockets, without waking it
/// (see `js/env.js`).
pub fn auto_pong(state: worker::State) -> worker::State {
    let raw = state._inner();
    auto_pong_js(&raw);
    worker::State::from(raw)
}

/// The object named `name` of `binding` seen through its RPC methods (`T`: the extern type of
/// the object's methods, e.g. `SessionRpc`), in one call (see `js/env.js`).
pub fn rpc_stub<T: JsCast>(env: &Env, binding: &str, name: &str) -> worker::Result<T> {
    Ok(object_stub(env, binding, name)?.unchecked_into())
}
