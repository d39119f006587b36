//! The allocator of kipp's wasm builds (the browser package and the worker): power-of-two
//! size classes, each with a free list, carved from memory the module grows itself. About
//! 0.5 KB of wasm instead of dlmalloc's ~8 KB, and O(1) for both `alloc` and `dealloc`.
//!
//! Blocks are never split or merged: a freed block goes back to its class and is reused by the
//! next request of that class, so memory held is bounded by the peak of each class (at most
//! twice what is live in it). What kipp allocates is short-lived or per object (one call's
//! decoding, paths, messages, bodies, records); wasm memory never shrinks with dlmalloc either.
//! A block of class `2^k` is aligned to `2^k` (at most 4 KiB), so any alignment up to its size
//! holds.
//!
//! wasm32-unknown-unknown without the atomics feature has one thread, so the state needs no
//! lock (the same assumption std's own wasm allocator makes).
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32::{memory_grow, memory_size};
use core::cell::UnsafeCell;
use core::ptr::null_mut;

const PAGE: usize = 65_536;
/// Largest alignment given to a block (bigger classes are aligned to this).
const MAX_BLOCK_ALIGN: usize = 4096;
/// Classes `2^0 .. 2^31`; the smallest used is 8 bytes (a free-list link fits).
const CLASSES: usize = 32;

struct State {
    /// Head of each class's free list (0 when empty); a free block's first word links the next.
    free: [usize; CLASSES],
    /// Next unused byte of the region grown so far, and its end.
    next: usize,
    end: usize,
}

/// The allocator (see the module docs).
pub struct Classes(UnsafeCell<State>);

// SAFETY: wasm32-unknown-unknown without threads: no two calls ever run at once.
unsafe impl Sync for Classes {}

impl Classes {
    /// An allocator that owns nothing yet.
    #[must_use]
    pub const fn new() -> Self {
        Self(UnsafeCell::new(State { free: [0; CLASSES], next: 0, end: 0 }))
    }
}

impl core::fmt::Debug for Classes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Classes")
    }
}

impl Default for Classes {
    fn default() -> Self {
        Self::new()
    }
}

/// The class of a layout: log2 of the block size (≥ 8 bytes, ≥ the alignment).
fn class(l: Layout) -> usize {
    let size = l.size().max(l.align()).max(8);
    // Sizes above 2^31 cannot be allocated on wasm32: class 32 fails in `alloc`.
    size.checked_next_power_of_two().map_or(CLASSES, |s| s.trailing_zeros() as usize)
}

impl State {
    /// A fresh block of class `c` from the grown region, growing it when needed.
    fn carve(&mut self, c: usize) -> *mut u8 {
        let size = 1usize << c;
        let align = size.min(MAX_BLOCK_ALIGN);
        loop {
            let start = (self.next + align - 1) & !(align - 1);
            if let Some(end) = start.checked_add(size) {
                if end <= self.end {
                    self.next = end;
                    return start as *mut u8;
                }
            }
            // Grow by what this block needs (with its worst alignment), at least 16 pages.
            let need = size.saturating_add(align);
            let pages = (need.div_ceil(PAGE)).max(16);
            let old = memory_grow(0, pages);
            if old == usize::MAX {
                return null_mut();
            }
            let old = old * PAGE;
            if old != self.end {
                // Not adjacent to the region (first use, or memory grown by someone else).
                self.next = old;
            }
            self.end = old + pages * PAGE;
        }
    }
}

// SAFETY: every block handed out is `2^class` bytes inside memory this allocator
// grew and owns, aligned to its class (≥ the layout's size and alignment, since
// alignments above 4 KiB are refused); a block is on a free list only after
// `dealloc`, and `dealloc`/`realloc` get the layout it was allocated with, hence
// the same class.
unsafe impl GlobalAlloc for Classes {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let c = class(l);
        if c >= CLASSES || l.align() > MAX_BLOCK_ALIGN {
            return null_mut();
        }
        // SAFETY: one thread (see `Sync`), and no reference to the state outlives this call.
        let s = unsafe { &mut *self.0.get() };
        let head = s.free[c];
        if head != 0 {
            // SAFETY: `head` is a free block of this class; its first word links the next one.
            s.free[c] = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        if s.end == 0 {
            // Start above everything the module was instantiated with (data, stack).
            s.next = memory_size(0) * PAGE;
            s.end = s.next;
        }
        s.carve(c)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, l: Layout) {
        let c = class(l);
        // SAFETY: as in `alloc`; `ptr` is a block of class `c` no longer in use (the caller's
        // contract), at least 8 bytes and aligned, so it can hold the link.
        let s = unsafe { &mut *self.0.get() };
        unsafe { *(ptr as *mut usize) = s.free[c] };
        s.free[c] = ptr as usize;
    }

    unsafe fn realloc(&self, ptr: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded up to `l.align()`, does not overflow.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
        if class(new) == class(l) {
            return ptr;
        }
        // SAFETY: `new` is a valid layout (above); the old block is valid for `l.size()` bytes.
        unsafe {
            let p = self.alloc(new);
            if !p.is_null() {
                core::ptr::copy_nonoverlapping(ptr, p, l.size().min(new_size));
                self.dealloc(ptr, l);
            }
            p
        }
    }
}
