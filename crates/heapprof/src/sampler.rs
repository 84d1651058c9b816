//! When to sample: a Poisson process over allocated bytes, as Go's runtime and
//! tcmalloc do. The distance to the next sample is exponential with mean `rate`, so
//! a block of `size` bytes is sampled with probability `1 - exp(-size / rate)`
//! whatever its size, and the estimate `count / (1 - exp(-size / rate))` is unbiased.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::thread_state::ThreadState;

/// Go's `MemProfileRate` default: one sample per 512 KiB allocated, on average.
pub const DEFAULT_SAMPLE_RATE: u64 = 512 * 1024;

/// Largest mean distance (Go clamps at the same figure), so that `-ln(u) * mean` stays
/// far from overflow. Larger rates are taken as this one, so that the profile's period
/// and the estimates' scale are the mean actually drawn with (Go scales by the rate asked
/// for, and so over-counts above it).
pub(crate) const MAX_MEAN: u64 = 112 << 20;

/// With sampling off, how often a thread re-reads the rate, in bytes.
const OFF_RECHECK: i64 = 1 << 20;

/// Sentinel for "not read from the environment yet".
pub(crate) const UNSET: u64 = u64::MAX;

static RATE: &AtomicU64 = &crate::sample_line::SAMPLE_LINE.rate;
static SEED: AtomicU64 = AtomicU64::new(0);
static THREAD_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Sets the mean number of bytes between samples: 1 records every allocation,
/// 0 turns sampling off (the exact statistics go on). Takes effect on each thread
/// at its next sample (at most one interval of the old rate later). Rates above
/// 112 MiB are taken as 112 MiB, the largest mean distance the sampler draws.
pub fn set_sample_rate(bytes: u64) {
    RATE.store(bytes.min(MAX_MEAN), Relaxed);
    // The calling thread draws its next distance with the new rate at once.
    crate::thread_state::with(|st| {
        st.sampler_ready.set(false);
        st.set_sample_distance(0);
    });
}

/// The current sample rate in bytes (see [`set_sample_rate`]).
pub fn sample_rate() -> u64 {
    let r = RATE.load(Relaxed);
    if r != UNSET {
        return r;
    }
    let from_env = crate::config::rate_from_env().unwrap_or(DEFAULT_SAMPLE_RATE).min(MAX_MEAN);
    // HEAPPROF_SYMBOLIZE is read now too, though used only when a profile is made, so
    // that a bad value is reported at start-up with the others.
    crate::heap::symbolization();
    let _ = RATE.compare_exchange(UNSET, from_env, Relaxed, Relaxed);
    RATE.load(Relaxed)
}

/// Restarts the calling thread's sampler from `seed`, and seeds the threads that
/// have not drawn yet from it: for reproducible runs (`HEAPPROF_SEED` does the
/// same at start-up). A seed of 0 is replaced by a fixed nonzero one.
pub fn set_sampling_seed(seed: u64) {
    SEED.store(seed.max(1), Relaxed);
    crate::thread_state::with(|st| {
        st.rng.set(mix(seed, 0));
        st.sampler_ready.set(false);
        st.set_sample_distance(0);
    });
}

/// The draws of one thread: call on the slow path (countdown below zero).
/// Returns whether the allocation of `size` bytes that took the countdown below
/// zero is sampled, and draws the next distance.
#[inline(never)]
pub(crate) fn on_countdown_exhausted(st: &ThreadState, size: usize) -> bool {
    let rate = sample_rate();
    if !st.sampler_ready.get() {
        st.sampler_ready.set(true);
        if st.rng.get() == 0 {
            st.rng.set(thread_seed());
        }
        // The first distance of a thread: this allocation is sampled only if it
        // reaches past a freshly drawn point, like every other.
        let d = next_distance(st, rate);
        let left = d - size as i64;
        if left >= 0 {
            st.set_sample_distance(left);
            return false;
        }
    }
    let d = next_distance(st, rate);
    st.set_sample_distance(d);
    rate != 0
}

fn next_distance(st: &ThreadState, rate: u64) -> i64 {
    match rate {
        0 => OFF_RECHECK,
        1 => 0,
        _ => {
            // Converted from signed integers (rate ≤ MAX_MEAN, U's bits ≤ 2^53), and negated
            // as one: an unsigned conversion and a float negation each read a constant from
            // a cache line of its own, which was cold at every sample.
            let minus_mean = -(rate as i64) as f64;
            // U uniform in (0, 1]: 53 random bits, never zero.
            let u = ((next_random(st) >> 11) + 1) as i64 as f64 * (1.0 / (1u64 << 53) as f64);
            (ln(u) * minus_mean) as i64
        }
    }
}

/// The natural logarithm of a positive, finite, normal `x`, to within 1e-15 of
/// `f64::ln`: a few multiplies and one division, inlined. libm's `log` reads a 2 KiB
/// table through the PLT; between two samples the allocator's traffic evicts both, and
/// `perf` put the call at 38 ns a sample (0.19% of the default rate's run).
#[inline(always)]
fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    // x = m * 2^e with m in [sqrt(1/2), sqrt(2)), so that t below stays within 0.172.
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m_bits = (bits & ((1u64 << 52) - 1)) | (1023u64 << 52);
    // Positive floats order as their bits do: an integer compare, and halving by the
    // exponent, need no float constant from memory.
    if m_bits > std::f64::consts::SQRT_2.to_bits() {
        m_bits -= 1 << 52;
        e += 1;
    }
    let m = f64::from_bits(m_bits);
    // ln m = 2 atanh(t) = 2 t (1 + t^2/3 + t^4/5 + ...), t = (m - 1) / (m + 1), summed by
    // Horner's rule; the terms left out after t^16/17 are below 0.172^18 / 19, under
    // 3e-16 of the sum.
    const INVERSE_ODDS: [f64; 8] =
        [1.0 / 3.0, 1.0 / 5.0, 1.0 / 7.0, 1.0 / 9.0, 1.0 / 11.0, 1.0 / 13.0, 1.0 / 15.0, 1.0 / 17.0];
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let tail = INVERSE_ODDS.iter().rev().fold(0.0, |sum, &c| c + t2 * sum);
    e as f64 * std::f64::consts::LN_2 + 2.0 * t * (1.0 + t2 * tail)
}

/// xorshift64*: a few instructions, good enough spacing for sampling.
fn next_random(st: &ThreadState) -> u64 {
    let mut x = st.rng.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    st.rng.set(x);
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn thread_seed() -> u64 {
    let mut base = SEED.load(Relaxed);
    if base == 0 {
        base = crate::config::seed_from_env().unwrap_or_else(|| {
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: `ts` is a valid out pointer.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
            // SAFETY: getpid has no preconditions.
            let pid = unsafe { libc::getpid() } as u64;
            (ts.tv_sec as u64).wrapping_mul(1_000_000_007) ^ ts.tv_nsec as u64 ^ (pid << 32)
        });
        let _ = SEED.compare_exchange(0, base, Relaxed, Relaxed);
        base = SEED.load(Relaxed);
    }
    mix(base, THREAD_COUNTER.fetch_add(1, Relaxed) + 1)
}

/// splitmix64 of (seed, stream number): distinct, nonzero streams.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    if z == 0 { 0x853c_49e6_748f_ea9b } else { z }
}

/// Go's unbiasing factor for a record of blocks of `size` bytes sampled at `rate`.
pub(crate) fn scale(size: u64, rate: u64) -> f64 {
    if rate <= 1 || size == 0 {
        return 1.0;
    }
    1.0 / (1.0 - (-(size as f64) / rate as f64).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_matches_the_standard_library_over_the_sampler_inputs() {
        // The sampler's U (53 random bits, in (0, 1]), scaled down by every power of two
        // to 2^-53: the whole range its 53 bits reach, each binade many times.
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for k in 0..=53 {
            for _ in 0..2000 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let u = ((rng >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
                let x = u / (1u64 << k) as f64;
                let (ours, std) = (ln(x), x.ln());
                assert!((ours - std).abs() <= 1e-15 * std.abs().max(1.0), "ln({x:e}) = {ours} vs {std}");
            }
        }
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(0.5), -std::f64::consts::LN_2);
        let smallest = 1.0 / (1u64 << 53) as f64;
        assert!((ln(smallest) - smallest.ln()).abs() < 1e-14);
    }

    #[test]
    fn scale_is_one_at_rate_one_and_near_rate_over_size_for_small_blocks() {
        assert_eq!(scale(100, 1), 1.0);
        assert_eq!(scale(100, 0), 1.0);
        let s = scale(16, 512 * 1024);
        assert!((s - 512.0 * 1024.0 / 16.0).abs() / s < 1e-3, "{s}");
        // A block far larger than the rate is nearly always sampled: weight ~1.
        assert!((scale(64 << 20, 512 * 1024) - 1.0).abs() < 1e-9);
    }
}
