//! The counting filter in front of the live table: which addresses may be live
//! sampled blocks. Frees of unsampled blocks (nearly all) stop here, after one load
//! and no lock.
//!
//! Layout: a block's 4 MiB region picks a 64-byte line of bits, and the address
//! picks two bits of one 64-bit word within it ([`filter_slots`]). Threads allocate
//! mostly from regions of their own (glibc arenas, mimalloc segments, jemalloc
//! extents), so one thread's samples change lines that the other threads' frees seldom
//! read. With lines picked by the address alone, every sample on one core made the
//! other core's next free in that line miss its cache: the filter's load was 5% of a
//! two-thread run in `perf`. A region holds about `4 MiB / rate` live samples (eight at
//! the default rate), so its 512 bits stay sparse. With one bit a block, 1.3% of the
//! frees of unsampled blocks still went to the live table (callgrind, 300,000 mixed
//! sizes at the default rate: 3,870 such frees beside 4,270 of sampled blocks); with
//! two, 0.17% (500). Regions of 1 MiB (with one bit) had a quarter of those, but a heap
//! then spread its frees over four times as many lines, which the allocator's own
//! traffic evicted between two frees in one region: cachegrind, mixed sizes at the
//! default rate, 1 MiB → 4 MiB: 9.30 → 8.88 first-level misses per
//! allocation-and-free pair (bare 7.76), 598.9 → 600.9 instructions; 16 MiB missed no
//! less and took the lock for nothing more often (610.6 instructions).
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
//! - a slot's bit is set when its count leaves zero and cleared when the count
//!   returns to zero. One lock holder at a time writes a word, so it loads the word
//!   and stores it back once for both of a block's bits, with no locked instruction
//!   (an atomic OR or AND per bit cost two locked instructions per sample and two per
//!   sampled free). Plain stores would lose updates only between writers holding
//!   different locks, which the layout rules out;
//! - the free path reads the block's word without a lock. While a block is live its
//!   two slots' counts are at least one, so every value its word takes has both bits
//!   set, and a free that follows the block's allocation cannot see either clear.

use crate::sync::{AtomicU8, AtomicU64, Ordering::Relaxed};

/// Shards of the live table.
pub(super) const LIVE_SHARDS: usize = 64;
/// A region of this many bytes (4 MiB) shares one line of bits.
pub(super) const REGION_SHIFT: u32 = 22;
/// Lines of 512 bits (one 64-byte cache line each).
pub(super) const LINE_BITS: u32 = 9;
const LINES_BITS: u32 = 9;
/// Words of 64 bits: a block's two bits are in one word of its region's line.
const WORD_BITS: u32 = 6;
const SLOT_BITS: u32 = LINES_BITS + LINE_BITS;
const SLOTS: usize = 1 << SLOT_BITS;

// A slot's shard is its line's low bits: every shard has lines.
const _: () = assert!(LIVE_SHARDS.is_power_of_two() && LIVE_SHARDS <= 1 << LINES_BITS);

/// How many live sampled blocks have each slot among their two: zero means none; a
/// slot that reaches 255 stays there (it then only answers "maybe"). Only the sampled
/// path reads these counts; the free path reads [`FreeSide::bits_set`], one bit per
/// slot. Aligned so that the counts of one word's 64 slots (a block's two) share a
/// cache line.
#[repr(C, align(64))]
struct Counts([AtomicU8; SLOTS]);

static FILTER: Counts = Counts([const { AtomicU8::new(0) }; SLOTS]);

/// What the free path reads, in one static so that a free of another crate (where
/// `#[global_allocator]` puts `__rust_dealloc`) loads one address from the GOT, not two.
#[repr(C)]
struct FreeSide {
    /// Set before the first block is counted in, and never cleared: until then (a
    /// program running at rate 0) frees skip the filter, its hashing and its cache
    /// lines. Alone in its cache lines, so that it stays shared by every core. A byte
    /// (0 or 1) rather than a bool: the loom models have static atomics of this type.
    in_use: InUse,
    /// Bit `i % 64` of word `i / 64` is set while slot `i` of [`FILTER`] is not zero.
    /// Lines start on cache-line boundaries, so a region's bits are one cache line.
    bits_set: [AtomicU64; SLOTS / 64],
}

#[repr(align(128))]
struct InUse(AtomicU8);

// The bits start a cache line of their own, so each region's 512 bits are one line.
const _: () = assert!(std::mem::offset_of!(FreeSide, bits_set) % 64 == 0);

static FREE_SIDE: FreeSide =
    FreeSide { in_use: InUse(AtomicU8::new(0)), bits_set: [const { AtomicU64::new(0) }; SLOTS / 64] };

/// Fibonacci hashing's multiplier (2^64 / golden ratio): the top bits of the product
/// spread consecutive inputs evenly.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline(always)]
pub(super) fn addr_hash(addr: usize) -> u64 {
    ((addr as u64) >> 4).wrapping_mul(SPREAD)
}

/// The filter line of `addr`: a hash of its region's number, not the number's low
/// bits: glibc's per-thread arenas are 64 MiB-aligned, so by low bits two threads'
/// blocks at the same offset in their arenas share a line and a live shard (rate 1,
/// 2 threads: 2.46x the bare run -> 3.00x).
#[inline(always)]
fn line_of(addr: usize) -> usize {
    (((addr as u64) >> REGION_SHIFT).wrapping_mul(SPREAD) >> (64 - LINES_BITS)) as usize
}

/// The two filter slots of `addr`: its region's line, a word of the line, and two bits
/// of the word (the same bit, now and then).
///
/// Two bits where one would do make a free of an unsampled block take the slow path
/// far less often (figures in the module's notes): with `k` live samples in a line,
/// one bit is set for `k / 512` of the addresses, both of two for about `(2k / 512)²`.
/// In one word, the two bits cost the free path the same single load.
#[inline(always)]
pub(super) fn filter_slots(addr: usize) -> [usize; 2] {
    // The hash's top bits: the live table's slot takes it from bit 32 up.
    let h = addr_hash(addr);
    let word = (line_of(addr) << LINE_BITS) | (h >> (64 - (LINE_BITS - WORD_BITS)) << WORD_BITS) as usize;
    let first = (h >> (64 - LINE_BITS)) as usize & 63;
    let second = (h >> (64 - LINE_BITS - WORD_BITS)) as usize & 63;
    [word | first, word | second]
}

/// The live shard of `addr`: its filter line's low bits. Every address of a line (of
/// every region that picks the line) is in the line's shard.
#[inline(always)]
pub(super) fn shard_index(addr: usize) -> usize {
    line_of(addr) & (LIVE_SHARDS - 1)
}

/// Counts a live block in its two filter slots (`up`) or uncounts it, each saturating
/// at 255. The caller holds the lock of the shard of `addr`.
pub(super) fn filter_count(addr: usize, up: bool) {
    if up && FREE_SIDE.in_use.0.load(Relaxed) == 0 {
        // Before the block's bits: a free of the block follows its allocation, so it
        // sees this store as surely as the bits.
        FREE_SIDE.in_use.0.store(1, Relaxed);
    }
    let [first, second] = filter_slots(addr);
    // Both slots are in one word, which only this lock's holder writes: one load and
    // one store for the two bits, and no locked instruction.
    let word = &FREE_SIDE.bits_set[first >> WORD_BITS];
    let bits = count_slot(first, up, word.load(Relaxed));
    word.store(count_slot(second, up, bits), Relaxed);
}

/// Counts slot `i` up or down (saturating at 255) and returns `bits`, the word of
/// its bit, with the bit set or cleared to match.
#[inline(always)]
fn count_slot(i: usize, up: bool, bits: u64) -> u64 {
    let slot = &FILTER.0[i];
    let v = slot.load(Relaxed);
    if v == u8::MAX || (!up && v == 0) {
        return bits;
    }
    let now = if up { v + 1 } else { v - 1 };
    slot.store(now, Relaxed);
    let bit = 1u64 << (i & 63);
    if now == 0 { bits & !bit } else { bits | bit }
}

/// Starts loading the counts of `addr`'s slots (one line), which an insert or removal
/// of the block changes: the counts (256 KiB) are read only when a sample is recorded
/// or freed, so the line is seldom cached (`perf`, default rate: 60% of the live
/// table's insert waited on it).
#[inline(always)]
pub(super) fn prefetch_count(addr: usize) {
    crate::sync::prefetch(std::ptr::from_ref(&FILTER.0[filter_slots(addr)[0]]));
}

/// Whether `addr` may be a live sampled block (false means certainly not).
#[inline(always)]
pub(crate) fn may_be_sampled(addr: usize) -> bool {
    if FREE_SIDE.in_use.0.load(Relaxed) == 0 {
        return false;
    }
    let [first, second] = filter_slots(addr);
    let bits = FREE_SIDE.bits_set[first >> WORD_BITS].load(Relaxed);
    bits & (1 << (first & 63)) != 0 && bits & (1 << (second & 63)) != 0
}

// Unit tests are in `records/mod.rs`: the loom models compile this file on its own.
