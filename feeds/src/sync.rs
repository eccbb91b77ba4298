//! Depth synchronisation in front of the ring: buffers diffs until a snapshot, replays
//! the buffered diffs that follow it, drops stale ones, and detects gaps, so the engine
//! receives a snapshot followed by contiguous diffs (Binance's documented procedure).

use kestrel_engine::book::{BookSync, SyncAction};
use kestrel_engine::{Event, InstrumentId};
use std::collections::VecDeque;

/// Diff chunks kept per instrument while waiting for a snapshot; older ones are
/// dropped first (they would be stale by the time a snapshot arrives).
pub const MAX_BUFFERED: usize = 65_536;

#[derive(Default)]
struct Instrument {
    sync: BookSync,
    buffered: VecDeque<(u64, u64, Event)>,
    /// Decision for the chunks that follow the first chunk of the current diff.
    current: Option<SyncAction>,
    gaps: u64,
    dropped: u64,
}

/// Per-instrument depth sync state.
#[derive(Default)]
pub struct DepthSync {
    books: Vec<Instrument>,
}

/// What [`DepthSync::push`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Forwarded (and possibly buffered diffs after it).
    Forwarded,
    /// Held until a snapshot arrives.
    Buffered,
    /// Dropped as stale.
    Discarded,
    /// A gap: the book needs a fresh snapshot (fetch one; recorded files carry one).
    Gap,
}

impl DepthSync {
    /// Empty state.
    pub fn new() -> DepthSync {
        DepthSync::default()
    }

    fn book(&mut self, i: InstrumentId) -> &mut Instrument {
        let i = i as usize;
        if self.books.len() <= i {
            self.books.resize_with(i + 1, Instrument::default);
        }
        &mut self.books[i]
    }

    /// Gaps seen for an instrument.
    pub fn gaps(&self, i: InstrumentId) -> u64 {
        self.books.get(i as usize).map_or(0, |b| b.gaps)
    }

    /// Buffered chunks dropped because the buffer was full.
    pub fn dropped(&self, i: InstrumentId) -> u64 {
        self.books.get(i as usize).map_or(0, |b| b.dropped)
    }

    /// True while the instrument waits for a snapshot.
    pub fn needs_snapshot(&self, i: InstrumentId) -> bool {
        self.books.get(i as usize).is_none_or(|b| !b.sync.synced)
    }

    /// Takes one event; appends what may go to the engine to `out`, in order.
    pub fn push(
        &mut self,
        ts: u64,
        venue_ts: u64,
        event: Event,
        out: &mut VecDeque<(u64, u64, Event)>,
    ) -> Pushed {
        let Event::Depth(d) = &event else {
            out.push_back((ts, venue_ts, event));
            return Pushed::Forwarded;
        };
        let d = *d;
        let book = self.book(d.instrument);
        if d.snapshot {
            out.push_back((ts, venue_ts, event));
            if d.last_chunk {
                book.sync.on_snapshot(d.last_update_id);
                book.current = None;
                let buffered = std::mem::take(&mut book.buffered);
                for (t, v, e) in buffered {
                    if let Event::Depth(bd) = &e {
                        let action = if bd.first_chunk {
                            let a = book.sync.check(
                                bd.first_update_id,
                                bd.last_update_id,
                                bd.prev_update_id,
                            );
                            book.current = Some(a);
                            a
                        } else {
                            book.current.unwrap_or(SyncAction::Discard)
                        };
                        match action {
                            SyncAction::Apply => out.push_back((t, v, e)),
                            SyncAction::Gap => {
                                book.gaps += 1;
                                break;
                            }
                            SyncAction::Discard | SyncAction::Buffer => {}
                        }
                    }
                }
            }
            return Pushed::Forwarded;
        }
        let action = if d.first_chunk {
            let a = book
                .sync
                .check(d.first_update_id, d.last_update_id, d.prev_update_id);
            book.current = Some(a);
            a
        } else {
            book.current.unwrap_or(SyncAction::Buffer)
        };
        match action {
            SyncAction::Apply => {
                out.push_back((ts, venue_ts, event));
                Pushed::Forwarded
            }
            SyncAction::Discard => Pushed::Discarded,
            SyncAction::Buffer => {
                if book.buffered.len() >= MAX_BUFFERED {
                    book.buffered.pop_front();
                    book.dropped += 1;
                }
                book.buffered.push_back((ts, venue_ts, event));
                Pushed::Buffered
            }
            SyncAction::Gap => {
                book.gaps += 1;
                // Later diffs wait for the next snapshot.
                book.current = Some(SyncAction::Buffer);
                Pushed::Gap
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_engine::Depth;

    fn diff(u0: u64, u1: u64) -> Event {
        Event::Depth(Depth {
            first_chunk: true,
            last_chunk: true,
            first_update_id: u0,
            last_update_id: u1,
            ..Default::default()
        })
    }

    #[test]
    fn buffered_diffs_follow_the_snapshot_and_gaps_are_reported() {
        let mut s = DepthSync::new();
        let mut out = VecDeque::new();
        assert_eq!(s.push(1, 0, diff(189, 202), &mut out), Pushed::Buffered);
        assert_eq!(s.push(2, 0, diff(203, 207), &mut out), Pushed::Buffered);
        assert_eq!(s.push(3, 0, Event::Timer(0), &mut out), Pushed::Forwarded);
        assert_eq!(s.push(4, 0, diff(208, 224), &mut out), Pushed::Buffered);
        let snap = Event::Depth(Depth {
            snapshot: true,
            first_chunk: true,
            last_chunk: true,
            last_update_id: 218,
            ..Default::default()
        });
        assert_eq!(s.push(5, 0, snap, &mut out), Pushed::Forwarded);
        let ts: Vec<u64> = out.iter().map(|e| e.0).collect();
        // Timer, snapshot, then the one buffered diff that straddles 219.
        assert_eq!(ts, vec![3, 5, 4]);
        assert_eq!(s.push(6, 0, diff(225, 237), &mut out), Pushed::Forwarded);
        assert_eq!(s.push(7, 0, diff(240, 250), &mut out), Pushed::Gap);
        assert!(s.needs_snapshot(0));
        assert_eq!(s.push(8, 0, diff(251, 260), &mut out), Pushed::Buffered);
        assert_eq!(s.gaps(0), 1);
    }
}
