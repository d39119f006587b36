//! Reading the configuration from the Workers environment, once per isolate.

use std::cell::RefCell;
use std::rc::Rc;

use worker::Env;

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
