//! The live feed's own part of a book ticker's way: from the receive stamp (taken right
//! after the socket read that brought the frame) to the moment the event
//! `LiveFeed::next_event` lends is copied into a ring-slot-sized `Event`, as the feed
//! thread copies it into its input-ring slot. That span is the "parse" stage of
//! `kestrel latency` for a live session, less the ring's claim and publish: WebSocket
//! frame decoding (tungstenite), the client's copy, the Binance parser (its book-ticker
//! fast path here), depth sync, the feed's queue and the copy out of it.
//!
//! A loopback server (another thread) answers the WebSocket handshake, then writes one
//! real `@bookTicker` combined-stream frame (hftbacktest spot BTCUSDT capture, MIT, see
//! shared/data/README.md) each time the previous one was read, so every read carries
//! one frame, as on a quiet market. Only the span above is timed, summed over the
//! iterations: the wait for the frame is not.
//!
//! `idle_poll` then times one `next_event` that finds nothing, the loop a busy-spinning
//! feed thread runs while the market is quiet.

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kestrel_engine::config::{VenueKind, VenueSpec};
use kestrel_engine::Event;
use kestrel_feeds::live::LiveFeed;

fn mono_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The first 2,000 book tickers of the capture, each as a whole WebSocket text frame
/// as a server sends it (unmasked).
fn frames() -> Vec<Vec<u8>> {
    let (tickers, _) = kestrel_benches::capture::spot_stream_messages(2_000);
    tickers
        .iter()
        .map(|json| {
            // FIN + text; a 16-bit length (book tickers are 126..65535 bytes).
            assert!((126..65536).contains(&json.len()));
            let mut frame = vec![0x81, 126];
            frame.extend_from_slice(&(json.len() as u16).to_be_bytes());
            frame.extend_from_slice(json);
            frame
        })
        .collect()
}

/// Serves one client: handshake, then frame after frame, each once `read` (frames the
/// client has taken) has caught up with `sent`, while not `paused`.
fn serve(
    listener: TcpListener,
    frames: Vec<Vec<u8>>,
    read: Arc<AtomicU64>,
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    let (sock, _) = listener.accept().expect("accept");
    sock.set_nodelay(true).unwrap();
    let mut ws = tungstenite::accept(sock).expect("handshake");
    let sock = ws.get_mut();
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if read.load(Ordering::Acquire) < sent || paused.load(Ordering::Acquire) {
            std::hint::spin_loop();
            continue;
        }
        if sock
            .write_all(&frames[sent as usize % frames.len()])
            .is_err()
        {
            return;
        }
        sent += 1;
    }
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/stream", listener.local_addr().unwrap());
    let read = Arc::new(AtomicU64::new(0));
    let paused = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let (read, paused, stop) = (read.clone(), paused.clone(), stop.clone());
        thread::spawn(move || serve(listener, frames, read, paused, stop))
    };
    let venue = VenueSpec {
        kind: VenueKind::BinanceSpot,
        ws_url: url,
        rest_url: "http://127.0.0.1:9".into(),
        symbols: vec!["BTCUSDT".into()],
        streams: vec!["bookTicker".into()],
        exchange_info: None,
        snapshot_limit: 1000,
    };
    let symbols = [("BTCUSDT".to_string(), 0u16)];
    let mut feed = LiveFeed::with_epoch(&[venue], &symbols, 1, mono_ns, 0).expect("feed");
    let mut taken = 0u64;
    let mut slot = Event::None;
    // Connects, then takes one event per frame, returning the span above.
    let mut next = |feed: &mut LiveFeed| -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match feed.next_event(Duration::ZERO) {
                Ok(Some((_, _, recv, event))) => {
                    event.copy_into(&mut slot);
                    std::hint::black_box(&mut slot);
                    let span = mono_ns() - recv;
                    taken += 1;
                    read.store(taken, Ordering::Release);
                    return span;
                }
                Ok(None) => assert!(Instant::now() < deadline, "no frame for 10 s"),
                Err(e) => panic!("live feed: {e}"),
            }
        }
    };
    next(&mut feed);

    let mut g = c.benchmark_group("live_feed");
    g.throughput(Throughput::Elements(1));
    g.bench_function("book_ticker_recv_to_event", |b| {
        b.iter_custom(|iters| {
            let mut spent = 0u64;
            for _ in 0..iters {
                spent += next(&mut feed);
            }
            Duration::from_nanos(spent)
        })
    });
    // A quiet market: one look at the socket that finds nothing, as a spinning feed
    // thread makes in a loop (the wait for a frame's arrival to be seen is about half
    // of one, before its receive stamp).
    paused.store(true, Ordering::Release);
    let quiet = Instant::now() + Duration::from_millis(200);
    while Instant::now() < quiet {
        if let Ok(Some(_)) = feed.next_event(Duration::ZERO) {
            // The frame sent before the pause.
        }
    }
    g.bench_function("idle_poll", |b| {
        b.iter(|| {
            let e = feed.next_event(Duration::ZERO).expect("poll");
            assert!(e.is_none(), "the server is paused");
        })
    });
    g.finish();
    stop.store(true, Ordering::Relaxed);
    drop(feed);
    let _ = server.join();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
