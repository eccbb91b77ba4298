//! Cost of turning an engine `PlaceOrder` into signed Binance request bytes
//! (`kestrel_gateways::binance::OrderEncoder`): parameter formatting, HMAC-SHA256
//! signature (hex) and the WebSocket-API JSON or REST query string, into reused
//! buffers. Also the bare HMAC of a typical payload, for reference, and the cancel.

use criterion::{criterion_group, criterion_main, Criterion};
use kestrel_engine::{
    ClientOrderId, Dec, InstrumentSpec, Market, OrderType, PlaceOrder, PositionAction, Side,
    TimeInForce,
};
use kestrel_gateways::binance::{Credentials, OrderEncoder, Secret, Signer, Transport, Venue};

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

fn bench(c: &mut Criterion) {
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
    let mut g = c.benchmark_group("order_encode");
    for (name, venue, t) in [
        ("spot_ws_api_place", Venue::Spot, Transport::WsApi),
        ("spot_rest_place", Venue::Spot, Transport::Rest),
        ("usdm_ws_api_place", Venue::UsdM, Transport::WsApi),
    ] {
        let mut enc = OrderEncoder::new(venue, &creds, 5000);
        let mut n = 0u32;
        g.bench_function(name, |b| {
            b.iter(|| {
                n = n.wrapping_add(1);
                p.cid = ClientOrderId::new(7, n);
                let ts = 1_700_000_000_000 + n as u64;
                enc.place(t, std::hint::black_box(&p), &spec, ts)
                    .map(|s| s.len())
            })
        });
    }
    let mut enc = OrderEncoder::new(Venue::Spot, &creds, 5000);
    g.bench_function("spot_ws_api_cancel", |b| {
        b.iter(|| {
            enc.cancel(
                Transport::WsApi,
                std::hint::black_box(p.cid),
                &spec,
                1_700_000_000_000,
            )
            .map(|s| s.len())
        })
    });
    let signer = Signer::new(&creds.secret);
    let payload = b"apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&newClientOrderId=K7-1&newOrderRespType=RESULT&price=60000.01&quantity=0.00123&recvWindow=5000&side=BUY&symbol=BTCUSDT&timeInForce=GTC&timestamp=1700000000000&type=LIMIT";
    g.bench_function("hmac_sha256_hex_only", |b| {
        b.iter(|| signer.sign(std::hint::black_box(payload)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
