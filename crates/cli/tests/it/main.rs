//! Black-box tests of `kipp emulator` over real HTTP on ephemeral ports: each test starts
//! its own emulator in-process, talks to it with a plain HTTP client, validates every API
//! response against docs/kustom-ipp.openapi.yaml, and receives webhooks on a test listener.

mod api;
mod cli;
mod concurrency;
mod controls;
mod examples;
mod persistence;
mod support;
mod webhooks;
