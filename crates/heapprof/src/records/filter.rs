//! The counting filter in front of the live table: which addresses may be live
//! sampled blocks. Frees of unsampled blocks (nearly all) stop here, after one load
//! and no lock.
//!
//! The protocol, which `loom/tests/live_filter.rs` model-checks on this very file
//! (compiled there against loom's atomics through `crate::sync`):
//! - a live shard owns a contiguous range of filter slots, and so whole bytes of
//!   [`FILTER_BITS_SET`] (asserted below); only the holder of the shard's lock
//!   changes them, so a change is a plain load and store rather than a locked
//!   read-modify-write: no other writer can come between the two;
//! - the free path reads a slot's bit without the lock. While a block is live its
//!   slot's count is at least one, so every value its byte takes has the bit set,
//!   and a free that follows the block's allocation cannot see it clear.

use crate::sync::{AtomicU8, Ordering::Relaxed};

/// Shards of the live table; each is the owner of `1 / LIVE_SHARDS` of the slots.
pub(super) const LIVE_SHARDS: usize = 64;
const FILTER_BITS: u32 = 16;
const SHARD_BITS: u32 = LIVE_SHARDS.trailing_zeros();

// Each shard's slots fill whole bytes of FILTER_BITS_SET: two shards sharing a byte
// would write it under different locks, and a plain load and store would then lose
// the other shard's update.
const _: () = assert!(LIVE_SHARDS.is_power_of_two() && FILTER_BITS >= SHARD_BITS + 3);

/// How many live sampled blocks hash to each slot: zero means none; a slot that
/// reaches 255 stays there (it then only answers "maybe"). Only the sampled path
/// reads these counts; the free path reads [`FILTER_BITS_SET`], one bit per slot
/// (8 KiB), which stays in the first-level cache where the counts (64 KiB) did
/// not: cachegrind counted 1.3 extra L1 misses per allocation and free at 64 KiB.
static FILTER: [AtomicU8; 1 << FILTER_BITS] = [const { AtomicU8::new(0) }; 1 << FILTER_BITS];
/// Bit `i % 8` of byte `i / 8` is set while slot `i` of [`FILTER`] is not zero.
static FILTER_BITS_SET: [AtomicU8; 1 << (FILTER_BITS - 3)] =
    [const { AtomicU8::new(0) }; 1 << (FILTER_BITS - 3)];

#[inline(always)]
pub(super) fn addr_hash(addr: usize) -> u64 {
    ((addr as u64) >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[inline(always)]
pub(super) fn filter_index(addr: usize) -> usize {
    (addr_hash(addr) >> (64 - FILTER_BITS)) as usize
}

/// The live shard of `addr`: its filter slot's top bits, so a shard's slots are
/// contiguous.
#[inline(always)]
pub(super) fn shard_index(addr: usize) -> usize {
    filter_index(addr) >> (FILTER_BITS - SHARD_BITS)
}

/// Counts a live block in its filter slot (`up`) or uncounts it, saturating at 255.
/// The caller holds the lock of the shard of `addr`.
pub(super) fn filter_count(addr: usize, up: bool) {
    let i = filter_index(addr);
    let slot = &FILTER[i];
    let v = slot.load(Relaxed);
    let now = match (up, v) {
        (_, u8::MAX) | (false, 0) => return,
        (true, _) => v + 1,
        (false, _) => v - 1,
    };
    slot.store(now, Relaxed);
    let bits = &FILTER_BITS_SET[i >> 3];
    let bit = 1u8 << (i & 7);
    let old = bits.load(Relaxed);
    bits.store(if now == 0 { old & !bit } else { old | bit }, Relaxed);
}

/// Whether `addr` may be a live sampled block (false means certainly not).
#[inline(always)]
pub(crate) fn may_be_sampled(addr: usize) -> bool {
    let i = filter_index(addr);
    FILTER_BITS_SET[i >> 3].load(Relaxed) & (1 << (i & 7)) != 0
}
