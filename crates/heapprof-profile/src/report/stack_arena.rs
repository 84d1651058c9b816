//! Stacks stored in fixed-size chunks. A report built from a decoded profile
//! frees the profile's samples as it goes; chunks small enough to come from the
//! allocator's heap reuse that freed memory, where one large array would be
//! mapped beside it and double the peak.

/// Location indexes per chunk (64 KiB of `u32`).
const CHUNK: usize = 1 << 14;

/// Where a stack lives in a [`StackArena`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StackRef {
    pub(crate) chunk: u32,
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl StackRef {
    /// Drops the first `n` frames (the leaf end).
    pub(crate) fn skip(&mut self, n: u32) {
        let n = n.min(self.len);
        self.start += n;
        self.len -= n;
    }
}

/// Append-only storage of stacks; a stack never straddles two chunks.
#[derive(Debug, Clone, Default)]
pub(crate) struct StackArena {
    chunks: Vec<Vec<u32>>,
}

impl StackArena {
    /// Starts a stack of `len` frames; push its frames with [`StackArena::push`],
    /// then take it with [`StackArena::finish`] or drop it with
    /// [`StackArena::discard`].
    pub(crate) fn begin(&mut self, len: usize) -> StackRef {
        let fits = self.chunks.last().is_some_and(|c| c.capacity() - c.len() >= len);
        if !fits {
            self.chunks.push(Vec::with_capacity(CHUNK.max(len)));
        }
        let last = self.chunks.len() - 1;
        StackRef { chunk: last as u32, start: self.chunks[last].len() as u32, len: 0 }
    }

    /// Appends a frame to the stack being built.
    pub(crate) fn push(&mut self, r: &mut StackRef, location: u32) {
        if let Some(c) = self.chunks.get_mut(r.chunk as usize) {
            c.push(location);
            r.len += 1;
        }
    }

    /// Forgets the stack being built (it duplicated an earlier one).
    pub(crate) fn discard(&mut self, r: &StackRef) {
        if let Some(c) = self.chunks.get_mut(r.chunk as usize) {
            c.truncate(r.start as usize);
        }
    }

    /// The frames of a stack, leaf first.
    pub(crate) fn get(&self, r: &StackRef) -> &[u32] {
        let c = &self.chunks[r.chunk as usize];
        &c[r.start as usize..(r.start + r.len) as usize]
    }

    /// Stores a whole stack at once.
    pub(crate) fn add(&mut self, frames: impl ExactSizeIterator<Item = u32>) -> StackRef {
        let mut r = self.begin(frames.len());
        for f in frames {
            self.push(&mut r, f);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_round_trip_across_chunks() {
        let mut a = StackArena::default();
        let refs: Vec<StackRef> = (0..3000u32).map(|i| a.add(0..i % 40)).collect();
        for (i, r) in refs.iter().enumerate() {
            let want: Vec<u32> = (0..i as u32 % 40).collect();
            assert_eq!(a.get(r), &want[..]);
        }
        let big = a.add(0..(CHUNK as u32 + 5));
        assert_eq!(a.get(&big).len(), CHUNK + 5);
        let mut r = a.begin(3);
        a.push(&mut r, 7);
        a.discard(&r);
        let again = a.add([1, 2].into_iter());
        assert_eq!(a.get(&again), &[1, 2]);
    }
}
