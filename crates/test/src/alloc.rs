//! A counting global allocator for "memory stays bounded" assertions.
//!
//! Install it in a test binary, then measure a closure on the current thread:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: whelk_test::alloc::Counting = whelk_test::alloc::Counting;
//!
//! let (_, stats) = whelk_test::alloc::measure(|| flood());
//! assert!(stats.peak < 4 << 20, "{stats:?}");
//! ```
//!
//! Counters are per thread (the sans-IO endpoints run on the test's thread), so tests
//! running in parallel in the same binary do not disturb each other; [`global`] gives the
//! process-wide figures for multi-threaded (tokio) tests. Without the allocator installed
//! every figure is 0 ([`installed`] tells).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Forwards to [`System`] and counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

static INSTALLED: AtomicBool = AtomicBool::new(false);
static GLOBAL_CURRENT: AtomicUsize = AtomicUsize::new(0);
static GLOBAL_PEAK: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn isize_of(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

fn on_alloc(size: usize) {
    INSTALLED.store(true, Ordering::Relaxed);
    let now = GLOBAL_CURRENT.fetch_add(size, Ordering::Relaxed) + size;
    GLOBAL_PEAK.fetch_max(now, Ordering::Relaxed);
    let _ = CURRENT.try_with(|c| {
        let v = c.get() + isize_of(size);
        c.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
}

fn on_dealloc(size: usize) {
    GLOBAL_CURRENT.fetch_sub(size, Ordering::Relaxed);
    let _ = CURRENT.try_with(|c| c.set(c.get() - isize_of(size)));
}

// SAFETY: every call forwards to `System` with the same arguments; the bookkeeping touches
// only atomics and const-initialised thread-locals (no allocation, no panics: `try_with`).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        on_dealloc(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        on_dealloc(layout.size());
        on_alloc(new_size);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What a measured closure allocated on its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Highest live heap above the level at the start (bytes).
    pub peak: usize,
    /// Live heap at the end minus at the start (bytes; negative if it freed more).
    pub retained: isize,
    /// The largest single allocation (bytes).
    pub largest: usize,
    /// Number of allocations.
    pub allocations: u64,
}

/// Whether [`Counting`] is the global allocator of this process (it has seen an
/// allocation).
#[must_use]
pub fn installed() -> bool {
    let _probe = std::hint::black_box(Box::new(0u8));
    INSTALLED.load(Ordering::Relaxed)
}

/// Runs `f` and reports what it allocated on this thread.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Stats) {
    let start = CURRENT.with(Cell::get);
    let old_peak = PEAK.with(|p| p.replace(start));
    let old_largest = LARGEST.with(|l| l.replace(0));
    let old_count = COUNT.with(|c| c.replace(0));
    let out = f();
    let end = CURRENT.with(Cell::get);
    let peak = PEAK.with(|p| p.replace(old_peak.max(p.get())));
    let largest = LARGEST.with(|l| l.replace(old_largest.max(l.get())));
    let allocations = COUNT.with(|c| c.replace(old_count + c.get()));
    let stats = Stats {
        peak: usize::try_from(peak - start).unwrap_or(0),
        retained: end - start,
        largest,
        allocations,
    };
    (out, stats)
}

/// Process-wide live heap and its peak since the last [`reset_global_peak`] (bytes).
#[must_use]
pub fn global() -> (usize, usize) {
    (
        GLOBAL_CURRENT.load(Ordering::Relaxed),
        GLOBAL_PEAK.load(Ordering::Relaxed),
    )
}

/// Restarts the process-wide peak at the current level.
pub fn reset_global_peak() {
    GLOBAL_PEAK.store(GLOBAL_CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
}
