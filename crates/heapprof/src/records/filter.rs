//! The counting filter in front of the live table: which addresses may be live
//! sampled blocks. Frees of unsampled blocks (nearly all) stop here, after one load
//! and no lock.
//!
//! Layout: a block's 4 MiB region picks a 64-byte line of bits, and the address
//! picks the bit within it. Threads allocate mostly from regions of their own (glibc
//! arenas, mimalloc segments, jemalloc extents), so one thread's samples change lines
//! that the other threads' frees seldom read. With lines picked by the address alone,
//! every sample on one core made the other core's next free in that line miss its
//! cache: the filter's load was 5% of a two-thread run in `perf`. A region holds
//! about `4 MiB / rate` live samples (eight at the default rate), so its 512 bits stay
//! sparse and a free seldom (1.6%) takes the table's lock for nothing. Regions of
//! 1 MiB had a quarter of that, but a heap then spread its frees over four times as
//! many lines, which the allocator's own traffic evicted between two frees in one
//! region: cachegrind, mixed sizes at the default rate, 1 MiB → 4 MiB: 9.30 → 8.88
//! first-level misses per allocation-and-free pair (bare 7.76), 598.9 → 600.9
//! instructions; 16 MiB missed no less and took the lock for nothing more often
//! (610.6 instructions).
//!
//! The line also picks the block's live shard, so a thread's blocks share few shards
//! with other threads' blocks, and consecutive samples of one thread mostly take a
//! lock it took last. With the shard picked by the address instead, two threads
//! recording every allocation passed the shards' lines between their cores (rate 1,
//! small objects, 2 threads: 12.5× the bare run, 9.7× with shards by line).
//!
//! The protocol, which `loom/tests/live_filter.rs` model-checks on this very file
//! (compiled there against loom's atomics through `crate::sync`):
//! - every slot of a line belongs to the line's live shard, [`shard_index`]; only the
//!   holder of that shard's lock changes the line's counts and bits, so a plain load
//!   and store suffice for the counts;
//! - the slot's bit is set when its count leaves zero and cleared when the count
//!   returns to zero, by an atomic OR or AND. One lock holder at a time writes a
//!   byte, so a load and store would also do; the OR and AND are what the models
//!   check, and were needed when neighbouring bits belonged to different shards;
//! - the free path reads the bit without a lock. While a block is live its slot's
//!   count is at least one, so every value its byte takes has the bit set, and a
//!   free that follows the block's allocation cannot see it clear.

use crate::sync::{AtomicU8, Ordering::Relaxed};

/// Shards of the live table.
pub(super) const LIVE_SHARDS: usize = 64;
/// A region of this many bytes (4 MiB) shares one line of bits.
pub(super) const REGION_SHIFT: u32 = 22;
/// Lines of 512 bits (one 64-byte cache line each).
pub(super) const LINE_BITS: u32 = 9;
const LINES_BITS: u32 = 9;
const SLOT_BITS: u32 = LINES_BITS + LINE_BITS;
const SLOTS: usize = 1 << SLOT_BITS;

// A slot's shard is its line's low bits: every shard has lines.
const _: () = assert!(LIVE_SHARDS.is_power_of_two() && LIVE_SHARDS <= 1 << LINES_BITS);

/// How many live sampled blocks hash to each slot: zero means none; a slot that
/// reaches 255 stays there (it then only answers "maybe"). Only the sampled path
/// reads these counts; the free path reads [`FreeSide::bits_set`], one bit per slot.
static FILTER: [AtomicU8; SLOTS] = [const { AtomicU8::new(0) }; SLOTS];

/// What the free path reads, in one static so that a free of another crate (where
/// `#[global_allocator]` puts `__rust_dealloc`) loads one address from the GOT, not two.
#[repr(C)]
struct FreeSide {
    /// Set before the first block is counted in, and never cleared: until then (a
    /// program running at rate 0) frees skip the filter, its hashing and its cache
    /// lines. Alone in its cache lines, so that it stays shared by every core. A byte
    /// (0 or 1) rather than a bool: the loom models have static atomics of this type.
    in_use: InUse,
    /// Bit `i % 8` of byte `i / 8` is set while slot `i` of [`FILTER`] is not zero.
    /// Lines start on cache-line boundaries, so a region's bits are one cache line.
    bits_set: [AtomicU8; SLOTS / 8],
}

#[repr(align(128))]
struct InUse(AtomicU8);

// The bits start a cache line of their own, so each region's 512 bits are one line.
const _: () = assert!(std::mem::offset_of!(FreeSide, bits_set) % 64 == 0);

static FREE_SIDE: FreeSide =
    FreeSide { in_use: InUse(AtomicU8::new(0)), bits_set: [const { AtomicU8::new(0) }; SLOTS / 8] };

/// Fibonacci hashing's multiplier (2^64 / golden ratio): the top bits of the product
/// spread consecutive inputs evenly.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline(always)]
pub(super) fn addr_hash(addr: usize) -> u64 {
    ((addr as u64) >> 4).wrapping_mul(SPREAD)
}

/// The filter slot of `addr`: its region's line, then a bit within the line.
#[inline(always)]
pub(super) fn filter_index(addr: usize) -> usize {
    // A hash of the region number, not its low bits: glibc's per-thread arenas are
    // 64 MiB-aligned, so by low bits two threads' blocks at the same offset in their
    // arenas share a line and a live shard (rate 1, 2 threads: 2.46x the bare run -> 3.00x).
    let line = ((addr as u64) >> REGION_SHIFT).wrapping_mul(SPREAD) >> (64 - LINES_BITS);
    let bit = addr_hash(addr) >> (64 - LINE_BITS);
    ((line << LINE_BITS) | bit) as usize
}

/// The live shard of `addr`: its filter line's low bits. Every address of a line (of
/// every region that picks the line) is in the line's shard.
#[inline(always)]
pub(super) fn shard_index(addr: usize) -> usize {
    (filter_index(addr) >> LINE_BITS) & (LIVE_SHARDS - 1)
}

/// Counts a live block in its filter slot (`up`) or uncounts it, saturating at 255.
/// The caller holds the lock of the shard of `addr`.
pub(super) fn filter_count(addr: usize, up: bool) {
    if up && FREE_SIDE.in_use.0.load(Relaxed) == 0 {
        // Before the block's bit: a free of the block follows its allocation, so it
        // sees this store as surely as the bit.
        FREE_SIDE.in_use.0.store(1, Relaxed);
    }
    let i = filter_index(addr);
    let slot = &FILTER[i];
    let v = slot.load(Relaxed);
    let now = match (up, v) {
        (_, u8::MAX) | (false, 0) => return,
        (true, _) => v + 1,
        (false, _) => v - 1,
    };
    slot.store(now, Relaxed);
    let bits = &FREE_SIDE.bits_set[i >> 3];
    let bit = 1u8 << (i & 7);
    match (v, now) {
        (0, _) => {
            bits.fetch_or(bit, Relaxed);
        }
        (_, 0) => {
            bits.fetch_and(!bit, Relaxed);
        }
        _ => {}
    }
}

/// Starts loading the count of `addr`'s slot, which an insert or removal of the block
/// changes: the counts (256 KiB) are read only when a sample is recorded or freed, so
/// the line is seldom cached (`perf`, default rate: 60% of the live table's insert
/// waited on it).
#[inline(always)]
pub(super) fn prefetch_count(addr: usize) {
    crate::sync::prefetch(std::ptr::from_ref(&FILTER[filter_index(addr)]));
}

/// Whether `addr` may be a live sampled block (false means certainly not).
#[inline(always)]
pub(crate) fn may_be_sampled(addr: usize) -> bool {
    if FREE_SIDE.in_use.0.load(Relaxed) == 0 {
        return false;
    }
    let i = filter_index(addr);
    FREE_SIDE.bits_set[i >> 3].load(Relaxed) & (1 << (i & 7)) != 0
}

// Unit tests are in `records/mod.rs`: the loom models compile this file on its own.
