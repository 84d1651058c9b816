//! Loom models of the counting filter in front of the live table
//! (`crates/heapprof/src/records/filter.rs`, compiled here unchanged against loom's
//! atomics through `heapprof_loom::sync`), with the spin lock (`spin.rs`) that guards
//! each live shard.
//!
//! Writers change a slot's count and its bit in `FILTER_BITS_SET` with a plain load
//! and store under their shard's lock; the free path reads the bit with no lock. What
//! the free path relies on: a sampled block that is live is never reported "certainly
//! not sampled". The models check it when another writer changes other slots of the
//! same bits byte, when a second block in the same slot comes and goes, and across a
//! boundary between two shards (which, with each lock serialising only its own
//! shard's writers, is safe only if no bits byte straddles it: see
//! `filter_bytes_belong_to_one_shard`).
//!
//! Tried once each, and caught: clearing the bit whenever a count goes down (rather
//! than when it reaches zero) fails `live_blocks_stay_visible_to_frees`; taking the
//! shard as the slot's low bits rather than its top bits, so that neighbouring shards
//! interleave within a byte, fails all three tests (in the models, as lost updates
//! between writers holding different locks).
//!
//! `cargo test --release --manifest-path loom/Cargo.toml --test live_filter`.

/// Loom's versions of what `src/sync.rs` gives `spin.rs` and `filter.rs`.
mod sync {
    pub(crate) use heapprof_loom::sync::*;
}

#[allow(dead_code)]
#[path = "../../crates/heapprof/src/spin.rs"]
mod spin;

#[allow(dead_code)]
#[path = "../../crates/heapprof/src/records/filter.rs"]
mod filter;

use filter::{filter_count, filter_index, may_be_sampled, shard_index};
use heapprof_loom::model;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use spin::SpinLock;

/// A block address (a multiple of 16, as allocators return) for every filter slot:
/// `slots[i]` hashes to slot `i`.
fn address_per_slot() -> Vec<usize> {
    let mut slots = vec![0usize; 1 << 16];
    let mut missing = slots.len();
    let mut addr = 0x7f00_0000_0000usize;
    while missing > 0 {
        addr += 16;
        let i = filter_index(addr);
        assert!(i < slots.len(), "the filter has more than 2^16 slots: widen the table here");
        if slots[i] == 0 {
            slots[i] = addr;
            missing -= 1;
        }
    }
    slots
}

/// Another address in the same slot as `addr`.
fn slot_mate(addr: usize) -> usize {
    (1..).map(|k| addr + 16 * k).find(|&a| filter_index(a) == filter_index(addr)).expect("an address")
}

/// One lock per live shard that the model's addresses fall in, as `LIVE_TABLE` has.
struct Shards(Vec<(usize, SpinLock<()>)>);

impl Shards {
    /// Locks each once on this thread, so that their loom atomics exist before other
    /// threads start (see `sync::AtomicBool`).
    fn new(addrs: &[usize]) -> Arc<Shards> {
        let mut shards: Vec<(usize, SpinLock<()>)> = Vec::new();
        for &a in addrs {
            let s = shard_index(a);
            if !shards.iter().any(|(t, _)| *t == s) {
                shards.push((s, SpinLock::new(())));
            }
        }
        for (_, lock) in &shards {
            drop(lock.lock());
        }
        Arc::new(Shards(shards))
    }

    /// Counts `addr` in (`up`) or out of the filter under its shard's lock, as
    /// `LiveShard::insert` and `remove` do.
    fn count(&self, addr: usize, up: bool) {
        let s = shard_index(addr);
        let (_, lock) = self.0.iter().find(|(t, _)| *t == s).expect("a shard of the model");
        let _guard = lock.lock();
        filter_count(addr, up);
    }
}

/// Four blocks whose slots share one bits byte (all in one shard, as every byte is):
/// `x`, live throughout, checked by this thread's frees meanwhile; `y`, in `x`'s very
/// slot, allocated and freed by one thread, whose free must not clear `x`'s bit; `w`,
/// allocated by that thread and freed by this one after a hand-off (the free of a block
/// another thread allocated); `z`, allocated and freed by a third thread. Every free
/// finds its block's bit set, and once all are freed but `x` the byte holds `x`'s bit
/// alone, with `x`'s count exactly one.
#[test]
fn live_blocks_stay_visible_to_frees() {
    let slots = address_per_slot();
    let x = slots[8 * 300 + 2];
    let (y, w, z) = (slot_mate(x), slots[8 * 300 + 5], slots[8 * 300 + 7]);
    model(3, move || {
        let shards = Shards::new(&[x, y, w, z]);
        // Create the filter bytes used below on this thread, before spawning (see
        // `sync::AtomicU8`): `y` shares `x`'s count, the others need theirs.
        shards.count(x, true);
        for a in [w, z] {
            shards.count(a, true);
            shards.count(a, false);
        }
        let handed_off = Arc::new(AtomicBool::new(false));
        let (s1, h1) = (shards.clone(), handed_off.clone());
        let allocator = loom::thread::spawn(move || {
            s1.count(y, true);
            assert!(may_be_sampled(y), "y, just allocated, reported unsampled");
            s1.count(y, false);
            s1.count(w, true);
            h1.store(true, Ordering::Release);
        });
        let s2 = shards.clone();
        let other = loom::thread::spawn(move || {
            s2.count(z, true);
            assert!(may_be_sampled(z), "z, just allocated, reported unsampled");
            s2.count(z, false);
        });
        assert!(may_be_sampled(x), "x, live throughout, reported unsampled");
        let freed_w = handed_off.load(Ordering::Acquire);
        if freed_w {
            assert!(may_be_sampled(w), "w, handed off live, reported unsampled");
            shards.count(w, false);
        }
        assert!(may_be_sampled(x), "x, live throughout, reported unsampled");
        allocator.join().expect("allocating thread");
        other.join().expect("other thread");
        if !freed_w {
            assert!(may_be_sampled(w), "w, still live, reported unsampled");
            shards.count(w, false);
        }
        assert!(may_be_sampled(x), "x, live throughout, reported unsampled");
        assert!(!may_be_sampled(w) && !may_be_sampled(z), "a freed block's bit stayed set");
        shards.count(x, false);
        assert!(!may_be_sampled(x), "x's count was not exactly one");
    });
}

/// The two slots on either side of the first boundary between shards, each written
/// by its own shard's thread under its own lock: each thread's block stays visible
/// while live and its bit clears when freed. Were the slots in one bits byte, the two
/// locks would not serialise the writers and a plain load and store would lose the
/// other's update.
#[test]
fn neighbouring_shards_do_not_lose_updates() {
    let slots = address_per_slot();
    let i = (0..slots.len() - 1)
        .find(|&i| shard_index(slots[i]) != shard_index(slots[i + 1]))
        .expect("more than one shard");
    let (a, b) = (slots[i], slots[i + 1]);
    model(3, move || {
        let shards = Shards::new(&[a, b]);
        for x in [a, b] {
            shards.count(x, true);
            shards.count(x, false);
        }
        let threads: Vec<_> = [a, b]
            .into_iter()
            .map(|x| {
                let shards = shards.clone();
                loom::thread::spawn(move || {
                    shards.count(x, true);
                    assert!(may_be_sampled(x), "a block just allocated reported unsampled");
                    shards.count(x, false);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert!(!may_be_sampled(a) && !may_be_sampled(b), "a freed block's bit stayed set");
    });
}

/// Every byte of `FILTER_BITS_SET` holds the slots of one shard (what the compile-time
/// assertion in `filter.rs` ensures for the top-bits mapping), checked over all slots
/// against `shard_index` itself.
#[test]
fn filter_bytes_belong_to_one_shard() {
    let slots = address_per_slot();
    for (byte, eight) in slots.chunks(8).enumerate() {
        let shard = shard_index(eight[0]);
        assert!(
            eight.iter().all(|&a| shard_index(a) == shard),
            "bits byte {byte} holds slots of more than one shard"
        );
    }
}
