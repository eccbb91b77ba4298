//! The L2 book equals a naive reference (ordered maps) after any sequence of diffs.

use kestrel_engine::book::Book;
use kestrel_engine::num::Step;
use kestrel_engine::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn level() -> impl Strategy<Value = (bool, i64, i64)> {
    // Prices on a small grid so levels collide, update and delete often.
    (any::<bool>(), 1i64..60, prop_oneof![Just(0i64), 1i64..1000])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    /// Also with a tick grid (the ladder holds the levels on it; tick 2 leaves every
    /// other price off the grid, to the sorted levels).
    #[test]
    fn book_matches_reference(
        updates in prop::collection::vec(prop::collection::vec(level(), 1..40), 1..60),
        tick in prop_oneof![Just(None), Just(Some(1_000_000i64)), Just(Some(2_000_000))],
    ) {
        let mut book = tick.map_or_else(Book::default, |t| Book::with_tick(Step::new(Dec(t))));
        let mut bids: BTreeMap<i64, i64> = BTreeMap::new();
        let mut asks: BTreeMap<i64, i64> = BTreeMap::new();
        let snap = Depth { snapshot: true, first_chunk: true, last_chunk: true, last_update_id: 1, ..Default::default() };
        book.on_depth(&snap);
        for (id, update) in (1u64..).zip(updates.iter()) {
            // One diff, split into chunks like the feeds do.
            let chunks: Vec<&[(bool, i64, i64)]> = update.chunks(DEPTH_CHUNK).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                let mut d = Depth {
                    first_chunk: i == 0,
                    last_chunk: i + 1 == chunks.len(),
                    first_update_id: id + 1,
                    last_update_id: id + 1,
                    len: chunk.len() as u8,
                    ..Default::default()
                };
                for (j, &(is_bid, px, qty)) in chunk.iter().enumerate() {
                    let side = if is_bid { Side::Buy } else { Side::Sell };
                    d.levels[j] = Level { side, px: Dec(px * 1_000_000), qty: Dec(qty) };
                    let map = if is_bid { &mut bids } else { &mut asks };
                    if qty == 0 { map.remove(&px); } else { map.insert(px, qty); }
                }
                prop_assert!(book.on_depth(&d));
            }
            let got_bids: Vec<(i64, i64)> = book.bids.iter().map(|(p, q)| (p.raw() / 1_000_000, q.raw())).collect();
            let want_bids: Vec<(i64, i64)> = bids.iter().rev().map(|(p, q)| (*p, *q)).collect();
            prop_assert_eq!(got_bids, want_bids);
            let got_asks: Vec<(i64, i64)> = book.asks.iter().map(|(p, q)| (p.raw() / 1_000_000, q.raw())).collect();
            let want_asks: Vec<(i64, i64)> = asks.iter().map(|(p, q)| (*p, *q)).collect();
            prop_assert_eq!(got_asks, want_asks);
            prop_assert_eq!(book.bids.len(), bids.len());
            prop_assert_eq!(book.asks.len(), asks.len());
            prop_assert_eq!(book.bids.best().map(|l| l.0.raw() / 1_000_000), bids.keys().next_back().copied());
            prop_assert_eq!(book.asks.best().map(|l| l.0.raw() / 1_000_000), asks.keys().next().copied());
            prop_assert!(book.is_ready() || book.bbo.is_none());
        }
    }
}

/// One book input: a ticker (possibly crossed or empty), or a depth update whose ids
/// may be stale, contiguous or skip ahead, as a snapshot or a diff, in 1–3 chunks.
#[derive(Clone, Debug)]
enum BookInput {
    Ticker(i64, i64),
    Depth {
        snapshot: bool,
        id_step: i8,
        levels: Vec<(bool, i64, i64)>,
    },
}

fn book_input() -> impl Strategy<Value = BookInput> {
    prop_oneof![
        (0i64..80, 0i64..80).prop_map(|(b, a)| BookInput::Ticker(b, a)),
        (
            prop::bool::weighted(0.1),
            -2i8..4,
            prop::collection::vec(level(), 0..40)
        )
            .prop_map(|(snapshot, id_step, levels)| BookInput::Depth {
                snapshot,
                id_step,
                levels
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    /// Whatever arrives (gaps, stale diffs, crossed tickers, empty updates), the book
    /// keeps its invariants: each side strictly ordered best first with positive sizes,
    /// a kept quote is never crossed or empty, and after a gap the book is not ready
    /// until a snapshot arrives.
    #[test]
    fn book_invariants_hold_under_any_input(
        inputs in prop::collection::vec(book_input(), 1..80),
        tick in prop_oneof![Just(None), Just(Some(1i64)), Just(Some(3))],
    ) {
        let mut book = tick.map_or_else(Book::default, |t| Book::with_tick(Step::new(Dec(t))));
        let mut last_id = 10u64;
        let mut gapped = false;
        for input in &inputs {
            match input {
                BookInput::Ticker(b, a) => {
                    let t = BookTicker { bid_px: Dec(*b), ask_px: Dec(*a), ..Default::default() };
                    let kept = book.on_ticker(&t);
                    prop_assert_eq!(kept, *b > 0 && *a > 0 && b < a);
                }
                BookInput::Depth { snapshot, id_step, levels } => {
                    // Steps below 1 are stale (ids at or below the last), 1 and 2
                    // contiguous, 3 skips one update id (a gap).
                    let first = if *id_step == 3 { last_id + 2 } else { last_id + 1 };
                    let id = (last_id as i64 + *id_step as i64).max(1) as u64;
                    let chunks: Vec<&[(bool, i64, i64)]> = if levels.is_empty() {
                        vec![&[]]
                    } else {
                        levels.chunks(DEPTH_CHUNK).collect()
                    };
                    let mut applied = true;
                    for (i, chunk) in chunks.iter().enumerate() {
                        let mut d = Depth {
                            snapshot: *snapshot,
                            first_chunk: i == 0,
                            last_chunk: i + 1 == chunks.len(),
                            first_update_id: first.min(id),
                            last_update_id: id,
                            len: chunk.len() as u8,
                            ..Default::default()
                        };
                        for (j, &(is_bid, px, qty)) in chunk.iter().enumerate() {
                            let side = if is_bid { Side::Buy } else { Side::Sell };
                            d.levels[j] = Level { side, px: Dec(px), qty: Dec(qty) };
                        }
                        applied &= book.on_depth(&d);
                    }
                    if *snapshot {
                        gapped = false;
                        last_id = id;
                    } else if applied {
                        last_id = id;
                    } else if !book.sync.synced {
                        gapped = true;
                    }
                }
            }
            for side in [&book.bids, &book.asks] {
                let levels: Vec<(Dec, Dec)> = side.iter().collect();
                prop_assert!(levels.iter().all(|l| l.1.raw() > 0), "{:?}", levels);
                prop_assert_eq!(levels.len(), side.len());
            }
            let bids: Vec<Dec> = book.bids.iter().map(|l| l.0).collect();
            let asks: Vec<Dec> = book.asks.iter().map(|l| l.0).collect();
            prop_assert!(bids.windows(2).all(|w| w[0] > w[1]), "{:?}", bids);
            prop_assert!(asks.windows(2).all(|w| w[0] < w[1]), "{:?}", asks);
            if let Some(q) = book.bbo {
                prop_assert!(q.bid_px.raw() > 0 && q.bid_px < q.ask_px, "{:?}", q);
                let mid = book.mid().unwrap();
                prop_assert!(q.bid_px <= mid && mid <= q.ask_px);
            }
            if gapped {
                prop_assert!(!book.is_ready());
            }
        }
    }
}
