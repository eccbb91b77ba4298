//! Encoding and signing an order allocates nothing once the encoder's buffers have
//! grown (counting global allocator, per thread so parallel tests do not mix);
//! neither does reading a user-stream report.

use kestrel_engine::{
    ClientOrderId, Dec, InstrumentSpec, Market, OrderType, PlaceOrder, PositionAction, Side,
    TimeInForce,
};
use kestrel_gateways::binance::reports::{user_event, Instruments, JsonDoc};
use kestrel_gateways::binance::{Credentials, OrderEncoder, Secret, Transport, Venue};

#[path = "../../engine/tests/common/counting.rs"]
mod counting;
use counting::{allocs_now, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

#[test]
fn encode_and_sign_allocate_nothing_after_warm_up() {
    let creds = Credentials {
        api_key: "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A".into(),
        secret: Secret::new("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"),
    };
    let spec = InstrumentSpec {
        symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        tick_size: d("0.01"),
        lot_size: d("0.00001"),
        min_qty: Dec::ZERO,
        min_notional: Dec::ZERO,
        market: Market::Spot,
        leverage: 1,
    };
    let mut p = PlaceOrder {
        cid: ClientOrderId::new(7, 1),
        instrument: 0,
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        price: d("60000.01"),
        qty: d("0.00123"),
        position_action: PositionAction::Open,
    };
    let mut total_len = 0usize;
    for venue in [Venue::Spot, Venue::UsdM] {
        let start = allocs_now();
        let mut enc = OrderEncoder::new(venue, &creds, 5000);
        let mut run = |enc: &mut OrderEncoder, n: u32| {
            for i in 0..n {
                p.cid = ClientOrderId::new(7, i);
                p.price = Dec(p.price.raw() + 10_000_000);
                let ts = 1_700_000_000_000 + i as u64;
                total_len += enc.place(Transport::WsApi, &p, &spec, ts).unwrap().len();
                total_len += enc.place(Transport::Rest, &p, &spec, ts).unwrap().len();
                total_len += enc
                    .cancel(Transport::WsApi, p.cid, &spec, ts)
                    .unwrap()
                    .len();
                total_len += enc.replace(Transport::WsApi, &p, &spec, ts).unwrap().len();
            }
        };
        run(&mut enc, 16);
        // The counter works: building the encoder allocated its buffers.
        assert!(allocs_now() > start);
        let before = allocs_now();
        run(&mut enc, 10_000);
        let after = allocs_now();
        assert_eq!(
            after - before,
            0,
            "{venue:?}: allocations during 40,000 encodes"
        );
    }
    assert!(total_len > 40_000 * 2 * 200);
}

#[test]
fn user_stream_reports_parse_without_allocating() {
    let spec = InstrumentSpec {
        symbol: "BTCUSDT".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        tick_size: d("0.01"),
        lot_size: d("0.00001"),
        min_qty: Dec::ZERO,
        min_notional: Dec::ZERO,
        market: Market::Spot,
        leverage: 1,
    };
    let specs = [spec];
    let msg = br#"{"e":"executionReport","E":1719467634107,"s":"BTCUSDT","c":"K7-42","S":"BUY","o":"LIMIT","f":"GTC","q":"6.00000000","p":"60000.00000000","P":"0.00000000","F":"0.00000000","g":-1,"C":"","x":"TRADE","X":"PARTIALLY_FILLED","r":"NONE","i":32,"l":"2.00000000","z":"2.00000000","L":"60000.00000000","n":"0.12000000","N":"USDT","T":1719467634105,"t":7,"I":63,"w":false,"m":true,"M":true,"O":1719467634105,"Z":"120000.00000000","Y":"120000.00000000","Q":"0.00000000","W":1719467634105,"V":"NONE"}"#;
    let mut doc = JsonDoc::default();
    let mut out = Vec::with_capacity(16);
    let mut buf = Vec::with_capacity(msg.len());
    let mut run = |n: usize, doc: &mut JsonDoc, out: &mut Vec<_>| {
        for _ in 0..n {
            buf.clear();
            buf.extend_from_slice(msg);
            out.clear();
            doc.parse(&mut buf, |root| user_event(root, Instruments(&specs), out))
                .unwrap()
                .unwrap();
        }
    };
    run(8, &mut doc, &mut out);
    let before = allocs_now();
    run(10_000, &mut doc, &mut out);
    assert_eq!(allocs_now() - before, 0);
    assert_eq!(
        (out.len(), out[0].fee, out[0].trade_id),
        (1, d("0.12"), Some(7))
    );
}
