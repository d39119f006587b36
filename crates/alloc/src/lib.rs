//! # kipp-alloc
//!
//! The global allocator of kipp's wasm32 builds (kipp-web, kipp-edge): see [`Classes`]. On other
//! targets the crate is empty, so the native builds and tests keep the system allocator.
//!
//! ```ignore
//! #[cfg(target_arch = "wasm32")]
//! #[global_allocator]
//! static ALLOC: kipp_alloc::Classes = kipp_alloc::Classes::new();
//! ```

#[cfg(target_arch = "wasm32")]
mod classes;
#[cfg(target_arch = "wasm32")]
pub use classes::Classes;
