//! A depth book's price ladder asks the allocator for zeroed memory, so the
//! allocator can hand out fresh pages that take memory only once a level is written
//! in them: a book with a tick reserves `LADDER_SLOTS` sizes per side but pays for
//! the pages of the prices it visits, not for the whole window up front.

use kestrel_engine::book::{BookSide, LADDER_SLOTS};
use kestrel_engine::num::Step;
use kestrel_engine::{Dec, Side};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Recording;

// Per thread: the test harness's other threads must not count.
thread_local! {
    /// Largest allocation by `alloc` (memory handed out as it is) and by
    /// `alloc_zeroed` (memory the allocator zeroes, possibly as fresh pages).
    static LARGEST: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

fn record(size: usize, zeroed: bool) {
    let _ = LARGEST.try_with(|c| {
        let (plain, zero) = c.get();
        c.set(if zeroed {
            (plain, zero.max(size))
        } else {
            (plain.max(size), zero)
        });
    });
}

unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        record(l.size(), false);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        record(l.size(), true);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        record(n, false);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Recording = Recording;

#[test]
fn the_ladder_is_allocated_zeroed_when_the_first_level_arrives() {
    let tick = Step::new(Dec(10_000_000)); // 0.01
    for side in [Side::Buy, Side::Sell] {
        let mut book = BookSide::with_tick(side, tick);
        LARGEST.with(|c| c.set((0, 0)));
        book.set(Dec(60_000_000_000_000), Dec(1_000_000_000));
        let (plain, zeroed) = LARGEST.with(|c| c.get());
        // One raw 8-byte size per slot, zeroed by the allocator; nothing that large
        // is allocated and then filled.
        assert_eq!(zeroed, LADDER_SLOTS * 8, "{side:?}");
        assert!(
            plain < LADDER_SLOTS * 8,
            "{side:?}: {plain} bytes allocated unzeroed"
        );
        assert_eq!(
            book.best(),
            Some((Dec(60_000_000_000_000), Dec(1_000_000_000)))
        );
    }
}
