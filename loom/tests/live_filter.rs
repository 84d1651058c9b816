//! Loom models of the counting filter in front of the live table
//! (`crates/heapprof/src/records/filter.rs`, compiled here unchanged against loom's
//! atomics through `heapprof_loom::sync`), with the spin lock (`spin.rs`) that guards
//! each live shard.
//!
//! A block has two slots, two bits of one 64-bit word of its region's filter line.
//! Every slot of a line belongs to the line's live shard. A slot's count changes only
//! under that shard's lock, with a plain load and store; so does the word of its
//! bits, one load and one store for both of a block's bits. The free path reads the
//! word with no lock. What the free path relies on: a sampled block that is live is
//! never reported "certainly not sampled". The models check it when other threads
//! change other bits of the same word, when a second block in the same slots comes and
//! goes, after a block is handed to another thread to free, and for the first block
//! ever counted in (before which frees skip the filter).
//!
//! Tried once each, and caught: clearing the bit whenever a count goes down (rather
//! than when it reaches zero) fails `live_blocks_stay_visible_to_frees`; never setting
//! the in-use flag (`FreeSide::in_use`) fails all three. Under an earlier layout, where
//! neighbouring bits of a byte belonged to different shards, writing the byte with a
//! plain load and store failed the first two, as lost updates between writers holding
//! different locks.
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

use filter::{filter_count, filter_slots, may_be_sampled, shard_index};
use heapprof_loom::model;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use spin::SpinLock;

/// The addresses a block can have (multiples of 16, as allocators return) in the
/// region of `addr`.
fn region_of(addr: usize) -> impl Iterator<Item = usize> {
    let start = addr >> filter::REGION_SHIFT << filter::REGION_SHIFT;
    (start..start + (1 << filter::REGION_SHIFT)).step_by(16)
}

/// A block address whose first filter slot is `slot` (its second is in the same word):
/// first a region whose line holds the slot, then an address in it.
fn address_in_slot(slot: usize) -> usize {
    let region = (0x7f00_0000_0000usize..)
        .step_by(1 << filter::REGION_SHIFT)
        .find(|&r| filter_slots(r)[0] >> filter::LINE_BITS == slot >> filter::LINE_BITS)
        .expect("a region of the slot's line");
    region_of(region).find(|&a| filter_slots(a)[0] == slot).expect("an address in the slot")
}

/// Another address with the same two slots as `addr`.
fn slot_mate(addr: usize) -> usize {
    region_of(addr).find(|&a| a != addr && filter_slots(a) == filter_slots(addr)).expect("an address")
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

/// Four blocks whose slots share one bits word, and so one shard: `x`, live
/// throughout, checked by this thread's frees meanwhile; `y`, in `x`'s very slots,
/// allocated and freed by one thread, whose free must not clear `x`'s bits; `w`,
/// allocated by that thread and freed by this one after a hand-off (the free of a block
/// another thread allocated); `z`, allocated and freed by a third thread. Every free
/// finds its block's bits set, and once all are freed but `x` the word holds `x`'s bits
/// alone, with `x`'s counts exactly one.
#[test]
fn live_blocks_stay_visible_to_frees() {
    let word = 64 * 37;
    let x = address_in_slot(word + 2);
    let (y, w, z) = (slot_mate(x), address_in_slot(word + 5), address_in_slot(word + 7));
    assert!([y, w, z].iter().all(|&a| shard_index(a) == shard_index(x)), "one word, several shards");
    model(3, move || {
        let shards = Shards::new(&[x, y, w, z]);
        // Create the filter's atomics used below on this thread, before spawning (see
        // `heapprof_loom::sync`): `y` shares `x`'s counts, the others need theirs.
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

/// Two blocks with slots in one bits word, each written by its own thread under the
/// word's one shard lock while the other thread's reads of the word take no lock: each
/// thread's block stays visible while live and its bits clear when freed.
#[test]
fn neighbouring_bits_do_not_lose_updates() {
    let (a, b) = (address_in_slot(64 * 9), address_in_slot(64 * 9 + 1));
    assert_eq!(shard_index(a), shard_index(b), "one word, two shards");
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

/// The first block ever counted in. Until then frees skip the filter
/// (`FILTER_IN_USE`), so a thread that frees the block after a hand-off must see the
/// flag as surely as the block's bit.
#[test]
fn the_first_sampled_block_is_seen_by_a_free_on_another_thread() {
    // `y` in another word: its first use there would race with the creation of `x`'s.
    let (x, y) = (address_in_slot(64 * 62 + 3), address_in_slot(64 * 112 + 4));
    model(3, move || {
        let shards = Shards::new(&[x, y]);
        // Creates the flag's atomic on this thread, at its initial value.
        assert!(!may_be_sampled(x), "a block reported sampled before any was");
        let handed_off = Arc::new(AtomicBool::new(false));
        let (s1, h1) = (shards.clone(), handed_off.clone());
        let allocator = loom::thread::spawn(move || {
            s1.count(x, true);
            h1.store(true, Ordering::Release);
        });
        let h2 = handed_off.clone();
        let other = loom::thread::spawn(move || {
            if h2.load(Ordering::Acquire) {
                assert!(may_be_sampled(x), "x, handed off live, reported unsampled");
            }
        });
        if handed_off.load(Ordering::Acquire) {
            assert!(may_be_sampled(x), "x, handed off live, reported unsampled");
        }
        shards.count(y, true);
        shards.count(y, false);
        allocator.join().expect("allocating thread");
        other.join().expect("other thread");
        assert!(may_be_sampled(x), "x, live, reported unsampled");
    });
}
