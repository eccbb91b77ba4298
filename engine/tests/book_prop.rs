//! The L2 book equals a naive reference (ordered maps) after any sequence of diffs.

use kestrel_engine::book::Book;
use kestrel_engine::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn level() -> impl Strategy<Value = (bool, i64, i64)> {
    // Prices on a small grid so levels collide, update and delete often.
    (any::<bool>(), 1i64..60, prop_oneof![Just(0i64), 1i64..1000])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn book_matches_reference(updates in prop::collection::vec(prop::collection::vec(level(), 1..40), 1..60)) {
        let mut book = Book::default();
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
            prop_assert!(book.is_ready() || book.bbo.is_none());
        }
    }
}
