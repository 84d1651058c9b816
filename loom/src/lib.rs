//! Loom models of heapprof's allocator-path concurrency, compiled from its own source:
//! the spin lock (`tests/spin_lock.rs`) and the live table's counting filter
//! (`tests/live_filter.rs`). Run with `cargo test --release --manifest-path loom/Cargo.toml`.
//!
//! [`sync`] is what the models give the included files in place of the crate's
//! `src/sync.rs`.

/// Loom's versions of what `crates/heapprof/src/sync.rs` gives `spin.rs` and
/// `records/filter.rs`. A model declares `mod sync { pub(crate) use heapprof_loom::sync::*; }`
/// so that the included files' `crate::sync` resolves here.
pub mod sync {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};

    pub use loom::sync::atomic::Ordering;

    /// `spin.rs` builds its lock in a `const fn` (the tables are statics), and loom's
    /// atomics cannot be made in a const context: this one makes its loom atomic on
    /// first use. The models use each lock once on the model's main thread before
    /// spawning, so the atomic exists before any other thread can race to it.
    pub struct AtomicBool {
        initial: bool,
        inner: OnceLock<loom::sync::atomic::AtomicBool>,
    }

    impl AtomicBool {
        pub const fn new(initial: bool) -> Self {
            AtomicBool { initial, inner: OnceLock::new() }
        }

        fn get(&self) -> &loom::sync::atomic::AtomicBool {
            self.inner.get_or_init(|| loom::sync::atomic::AtomicBool::new(self.initial))
        }

        pub fn load(&self, order: Ordering) -> bool {
            self.get().load(order)
        }

        pub fn store(&self, value: bool, order: Ordering) {
            self.get().store(value, order);
        }

        pub fn compare_exchange_weak(
            &self,
            current: bool,
            new: bool,
            success: Ordering,
            failure: Ordering,
        ) -> Result<bool, bool> {
            self.get().compare_exchange_weak(current, new, success, failure)
        }
    }

    /// An atomic of a `static` (the filter's arrays). A static outlives loom's
    /// executions, and a loom atomic belongs to one, so the loom atomic behind each
    /// static one lives in a per-execution map keyed by its address, made on first use
    /// with the static's initial value: each execution starts from the statics'
    /// initial state. Loom requires an atomic's creation to happen-before its other
    /// uses, so a model touches the atomics it uses on its main thread before spawning.
    macro_rules! static_atomic {
        ($name:ident, $int:ty, $map:ident) => {
            pub struct $name {
                initial: $int,
            }

            loom::lazy_static! {
                static ref $map: Mutex<HashMap<usize, Arc<loom::sync::atomic::$name>>> = Mutex::new(HashMap::new());
            }

            impl $name {
                pub const fn new(initial: $int) -> Self {
                    $name { initial }
                }

                fn get(&self) -> Arc<loom::sync::atomic::$name> {
                    let mut atomics = $map.lock().unwrap_or_else(|e| e.into_inner());
                    let key = std::ptr::from_ref(self) as usize;
                    let initial = self.initial;
                    atomics.entry(key).or_insert_with(|| Arc::new(loom::sync::atomic::$name::new(initial))).clone()
                }

                pub fn load(&self, order: Ordering) -> $int {
                    self.get().load(order)
                }

                pub fn store(&self, value: $int, order: Ordering) {
                    self.get().store(value, order);
                }

                pub fn fetch_or(&self, value: $int, order: Ordering) -> $int {
                    self.get().fetch_or(value, order)
                }

                pub fn fetch_and(&self, value: $int, order: Ordering) -> $int {
                    self.get().fetch_and(value, order)
                }
            }
        };
    }

    static_atomic!(AtomicU8, u8, STATIC_BYTES);
    static_atomic!(AtomicU64, u64, STATIC_WORDS);

    /// A busy-wait step is a yield to loom: it then runs another thread rather than
    /// exploring the same spin forever.
    pub fn spin_hint() {
        loom::thread::yield_now();
    }

    pub fn yield_now() {
        loom::thread::yield_now();
    }

    /// A prefetch is a hint with no effect on any value: nothing to model.
    pub fn prefetch<T>(_: *const T) {}
}

/// Checks `f` under loom, exploring interleavings with at most `preemption_bound`
/// preemptions, and returns how many executions loom explored.
pub fn model(preemption_bound: usize, f: impl Fn() + Sync + Send + 'static) -> usize {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    let mut builder = loom::model::Builder::new();
    // Bugs in these small protocols show within a few preemptions; the bound keeps the
    // exploration to seconds. Each spin of a lock's waiter is a branch for loom (its
    // spins are yields), so a wait can take many more than loom's default of 1,000.
    builder.preemption_bound = Some(preemption_bound);
    builder.max_branches = 100_000;
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f()
    });
    let runs = runs.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("loom explored {runs} executions");
    // A model that explores one execution checks nothing about interleavings.
    assert!(runs > 10, "only {runs} executions explored");
    runs
}
