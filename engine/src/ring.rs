//! A hint for the threads that read the engine's rings (the state machine itself never
//! uses it).

use std::cell::Cell;
use std::marker::PhantomData;

/// Where a ring reader's next slot lies, so that while it waits for that slot it can
/// prefetch the slot's first cache lines.
///
/// A reader that spins on a ring's cursor fetches two things from the writer's core
/// once an event is published, one after the other: the cursor's line, then the
/// slot's. Prefetching the next slot on every idle spin keeps a request for the slot
/// in flight beside the cursor's, so the two cross cores together (`ring_hop --layout
/// hop --prefetch on|off`, BENCHMARKS.md).
///
/// It assumes what `disruptor`'s ring buffer does: slots in one array, read in order
/// from the first, wrapping at `ring_size`. The result is only ever prefetched, never
/// read, so were the assumption wrong a stray line would be fetched and nothing else.
pub struct NextSlot<E> {
    /// Address of the first slot read (the ring's slot 0), 0 before any.
    first: Cell<usize>,
    /// Address of the last slot read.
    last: Cell<usize>,
    ring_size: usize,
    _slot: PhantomData<fn() -> E>,
}

impl<E> NextSlot<E> {
    /// For a ring of `ring_size` slots of `E`, none read yet.
    pub fn new(ring_size: usize) -> Self {
        NextSlot {
            first: Cell::new(0),
            last: Cell::new(0),
            ring_size: ring_size.max(1),
            _slot: PhantomData,
        }
    }

    /// Notes the slot just read (through a shared reference, so a reader's closure
    /// can note slots while its wait loop prefetches).
    #[inline]
    pub fn read(&self, slot: &E) {
        let at = slot as *const E as usize;
        if self.first.get() == 0 {
            self.first.set(at);
        }
        self.last.set(at);
    }

    /// Address of the slot after the last one read; `None` before any was read.
    pub fn next(&self) -> Option<usize> {
        let (first, last) = (self.first.get(), self.last.get());
        if first == 0 {
            return None;
        }
        let size = std::mem::size_of::<E>().max(1);
        let index = (last.wrapping_sub(first) / size + 1) % self.ring_size;
        Some(first + index * size)
    }

    /// Prefetches the first `lines` 64-byte lines of the next slot (at most the slot's
    /// size) into this core's caches. Does nothing before the first slot is read, or on
    /// targets other than x86-64.
    #[inline]
    pub fn prefetch(&self, lines: usize) {
        #[cfg(target_arch = "x86_64")]
        if let Some(at) = self.next() {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let end = at + std::mem::size_of::<E>();
            for line in 0..lines {
                let p = at + line * 64;
                if p >= end {
                    break;
                }
                // SAFETY: a prefetch is a hint; it never faults nor reads into the
                // program, whatever the address.
                unsafe { _mm_prefetch(p as *const i8, _MM_HINT_T0) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = lines;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_slot_follows_the_last_read_and_wraps_at_the_ring_end() {
        let ring = [[0u8; 128]; 4];
        let at = |i: usize| &ring[i] as *const _ as usize;
        let next = NextSlot::<[u8; 128]>::new(4);
        assert_eq!(next.next(), None, "nothing read yet");
        next.prefetch(2);
        next.read(&ring[0]);
        assert_eq!(next.next(), Some(at(1)));
        next.read(&ring[1]);
        next.read(&ring[2]);
        assert_eq!(next.next(), Some(at(3)));
        next.read(&ring[3]);
        assert_eq!(next.next(), Some(at(0)), "wraps to the first slot");
        next.read(&ring[0]);
        assert_eq!(next.next(), Some(at(1)), "second lap");
        next.prefetch(4);
    }
}
