//! A Rust program under the preload library: a counting global allocator over
//! libc (every block through app_* functions, never inlined), threads, frees on
//! other threads, thread-locals whose destructors allocate, large alignments.
//! Besides its totals it counts what it allocates inside `counted` sections
//! (index building, page allocation): std also allocates some blocks (a handle per
//! thread) with `System` directly, which the preload library sees and a global
//! allocator does not, so only the sections are comparable exactly.
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

static ALLOCS: AtomicI64 = AtomicI64::new(0);
static BYTES: AtomicI64 = AtomicI64::new(0);
static SECTION_ALLOCS: AtomicI64 = AtomicI64::new(0);
static SECTION_BYTES: AtomicI64 = AtomicI64::new(0);

thread_local! {
    static IN_SECTION: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with its allocations counted as a section's.
#[inline(never)]
fn counted<R>(f: impl FnOnce() -> R) -> R {
    IN_SECTION.with(|c| c.set(true));
    let r = f();
    IN_SECTION.with(|c| c.set(false));
    r
}

unsafe extern "C" {
    fn malloc(n: usize) -> *mut u8;
    fn free(p: *mut u8);
    fn realloc(p: *mut u8, n: usize) -> *mut u8;
    fn posix_memalign(out: *mut *mut u8, align: usize, n: usize) -> i32;
}

fn note(n: usize) {
    ALLOCS.fetch_add(1, Relaxed);
    BYTES.fetch_add(n as i64, Relaxed);
    if IN_SECTION.with(|c| c.get()) {
        SECTION_ALLOCS.fetch_add(1, Relaxed);
        SECTION_BYTES.fetch_add(n as i64, Relaxed);
    }
}

#[inline(never)]
fn app_malloc(n: usize) -> *mut u8 {
    note(n);
    unsafe { malloc(n) }
}

#[inline(never)]
fn app_aligned(align: usize, n: usize) -> *mut u8 {
    note(n);
    let mut p = std::ptr::null_mut();
    if unsafe { posix_memalign(&mut p, align, n) } != 0 {
        return std::ptr::null_mut();
    }
    p
}

#[inline(never)]
fn app_realloc(p: *mut u8, n: usize) -> *mut u8 {
    note(n);
    unsafe { realloc(p, n) }
}

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.align() <= 16 { app_malloc(l.size()) } else { app_aligned(l.align(), l.size()) }
    }
    unsafe fn dealloc(&self, p: *mut u8, _: Layout) {
        unsafe { free(p) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if l.align() <= 16 {
            return app_realloc(p, n);
        }
        let q = unsafe { self.alloc(Layout::from_size_align_unchecked(n, l.align())) };
        if !q.is_null() {
            unsafe { std::ptr::copy_nonoverlapping(p, q, l.size().min(n)) };
            unsafe { free(p) };
        }
        q
    }
}

#[global_allocator]
static A: Counting = Counting;

struct Farewell(String);
impl Drop for Farewell {
    fn drop(&mut self) {
        let s = format!("{} leaves", self.0);
        std::hint::black_box(s);
    }
}
thread_local! { static F: Farewell = Farewell(String::from("worker")); }

#[repr(align(4096))]
struct Page([u8; 8192]);

#[inline(never)]
fn build_index(seed: u64) -> std::collections::BTreeMap<String, Vec<u64>> {
    let mut m = std::collections::BTreeMap::new();
    for i in 0..3000u64 {
        m.entry(format!("k{}", (i * seed) % 700)).or_insert_with(Vec::new).push(i);
    }
    m
}

fn main() {
    // Allocates stdout's buffer now, so that the COUNTS line allocates nothing uncounted.
    println!("rust_mix starting");
    let (tx, rx) = std::sync::mpsc::channel::<Vec<String>>();
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                F.with(|f| std::hint::black_box(f.0.len()));
                let idx = counted(|| build_index(t + 1));
                tx.send(idx.keys().cloned().collect()).unwrap();
            })
        })
        .collect();
    drop(tx);
    let mut total = 0;
    for v in rx {
        total += v.len(); // freed here, allocated on the workers
    }
    for h in handles {
        h.join().unwrap();
    }
    let pages: Vec<Box<Page>> = counted(|| (0..4).map(|_| Box::new(Page([1; 8192]))).collect());
    total += pages.iter().map(|p| p.0[5] as usize).sum::<usize>();
    drop(pages);
    let allocs = ALLOCS.load(Relaxed);
    let bytes = BYTES.load(Relaxed);
    let (section_allocs, section_bytes) = (SECTION_ALLOCS.load(Relaxed), SECTION_BYTES.load(Relaxed));
    println!("COUNTS allocs={section_allocs} bytes={section_bytes} all_allocs={allocs} all_bytes={bytes} total={total}");
}
