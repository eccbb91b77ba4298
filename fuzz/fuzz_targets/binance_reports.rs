//! Binance order reports: user-data stream events, WS-API / REST order responses,
//! open-order and trade lists, error bodies; updates go through the order tracker.
#![no_main]
use kestrel_engine::{ClientOrderId, Dec, InstrumentSpec, PlaceOrder, Side};
use kestrel_gateways::binance::reports::{
    order_list, order_object, trade_list, user_event, venue_error, Instruments, JsonDoc,
};
use kestrel_gateways::binance::tracker::OrderTracker;
use libfuzzer_sys::fuzz_target;

fn specs() -> Vec<InstrumentSpec> {
    kestrel_engine::config::Config::parse_unvalidated(
        "[[instruments]]\nsymbol = \"BTCUSDT\"\nbase = \"BTC\"\nquote = \"USDT\"\ntick_size = \"0.01\"\nlot_size = \"0.00001\"\n",
    )
    .expect("spec")
    .instruments
}

fuzz_target!(|data: &[u8]| {
    let specs = specs();
    let inst = Instruments(&specs);
    let mut doc = JsonDoc::default();
    let mut updates = Vec::new();
    // The first byte picks the payload kind, the rest is the body.
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let mut bytes = body.to_vec();
    let _ = doc.parse(&mut bytes, |root| {
        let _ = match kind % 5 {
            0 => user_event(root, inst, &mut updates).map(|_| ()),
            1 => order_object(root, inst, &mut updates),
            2 => order_list(root, inst, &mut updates),
            3 => trade_list(root, inst, &mut updates),
            _ => {
                let _ = venue_error(400, root).map(|e| (e.action(), e.reason()));
                Ok(())
            }
        };
    });
    let mut tracker = OrderTracker::new();
    for n in 1..=3 {
        tracker.on_place(
            &PlaceOrder {
                cid: ClientOrderId::new(1, n),
                side: if n == 2 { Side::Sell } else { Side::Buy },
                price: Dec::from_int(100),
                qty: Dec::from_int(2),
                ..Default::default()
            },
            0,
            0,
        );
    }
    let mut reports = Vec::new();
    for u in &updates {
        tracker.apply(u, &mut reports);
    }
});
