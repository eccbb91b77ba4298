//! Cost of the runtime's ring hops alone, without an engine or a venue.
//!
//! Builds the rings as `kestrel run` does (`disruptor`, input ring of
//! `kestrel_engine::Input` slots, output ring of an output plus four stamps) and sends
//! paced book tickers through them:
//!
//! - `--layout hop`: feed → input ring → engine (two threads). The engine thread
//!   records publish → read ("ring in").
//! - `--layout pipeline` (default): the runtime's four threads. Feed → input ring
//!   (read by engine, journal and gateway) → engine republishes one output →
//!   output ring (read by gateway and journal) → gateway. Records ring in, ring out
//!   (engine publish → gateway read) and the total (feed publish → gateway read).
//!   `--input-readers 1` leaves the engine the input ring's only reader (the
//!   journal and the gateway then read the output ring only), to show what the two
//!   other readers of the runtime's input ring cost the hop.
//! - `--layout out`: engine → output ring → gateway (two threads; the paced thread
//!   is the engine). Records ring out for every output and for each tick's last.
//!
//! In the hop and pipeline layouts the engine thread, waiting, prefetches the slot the
//! next input will be in, as the runtime's engine does ([`NextSlot`]); `--prefetch
//! off` shows the hop without it.
//!
//! `--outputs N` makes the engine publish N outputs per ticker (a re-quoting tick
//! of `quote_replace` has four: two cancels, two places), all stamped with one
//! engine-end stamp as in the runtime, so output k's ring out includes publishing
//! the k before it. `--out-publish each` publishes them one by one (a cursor store
//! each); `batch` in one `disruptor` batch publish (one cursor store).
//!
//! Each stage is the difference of two `Instant` stamps on different cores, as in
//! `kestrel latency`, so a stage includes one clock read. Set `--spin poll` to spin
//! without the `pause` instruction (`std::hint::spin_loop`) the runtime's busy-spin
//! uses, and `--producer single` for a single-producer input ring (the runtime's is
//! multi-producer because the gateway publishes venue reports into it).
//!
//! `--producer slot` (hop layout only) is a comparison, not something the runtime
//! uses: a single-producer, single-reader ring whose slots carry their own sequence
//! number ([`SlotRing`]), so the reader spins on the very slot it reads next. A
//! `disruptor` hop moves the cursor's (or the multi-producer availability word's)
//! cache line, then the slot's lines; this moves the slot's lines only, which for an
//! `Input` are still two after one another (the sequence and header, then the
//! event). `--producer stamp` sends only the publish stamp, in the sequence's cache
//! line: the floor of a hop, one line moved.
//!
//! ```text
//! ring_hop [--layout hop|pipeline|out] [--count N] [--gap-ns NS] [--spin pause|poll]
//!          [--producer multi|single] [--input-readers 1|3] [--pin a,b,c,d]
//!          [--ring-size N] [--outputs N] [--out-publish each|batch] [--prefetch on|off]
//! ```

use anyhow::{bail, Context, Result};
use disruptor::{
    build_multi_producer, build_single_producer, BusySpin, EventPoller, MultiProducerBarrier,
    Polling, Producer, SingleProducerBarrier,
};
use hdrhistogram::Histogram;
use kestrel_benches::hop::{histogram, mono_ns, pin, row, HEADER};
use kestrel_engine::ring::NextSlot;
use kestrel_engine::{Action, BookTicker, Dec, Event, Input, Output};
use std::cell::UnsafeCell;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

const USAGE: &str = "\
usage: ring_hop [--layout hop|pipeline|out] [--count N] [--gap-ns NS] [--spin pause|poll]
                [--producer multi|single] [--input-readers 1|3] [--pin a,b,c,d]
                [--ring-size N] [--outputs N] [--out-publish each|batch] [--prefetch on|off]
                [--fill variant|whole]
  --layout L      hop: feed -> engine; pipeline: the runtime's four threads (default);
                  out: engine -> gateway
  --count N       book tickers sent (default 200000)
  --gap-ns NS     pacing between tickers in ns (default 20000 = 50 K/s)
  --spin S        pause: spin with std::hint::spin_loop (the runtime's busy-spin);
                  poll: spin with no pause instruction (default pause)
  --producer P    input ring claim: multi (the runtime's) or single (default multi);
                  slot: the sequence-in-slot ring, hop layout only (a comparison);
                  stamp: that ring carrying only the stamp (one cache line)
  --input-readers N  pipeline: 3 (engine, journal, gateway; the runtime's) or 1
                  (engine only) readers of the input ring (default 3)
  --pin a,b,..    cores of the feed, engine, journal and gateway threads
                  (out layout: of the engine and the gateway)
  --ring-size N   slots per ring, a power of two (default 65536)
  --outputs N     outputs the engine publishes per ticker, 1 to 64 (default 1)
  --out-publish P each: one publish per output; batch: one per ticker (default each)
  --prefetch P    on: the engine prefetches the next input slot while it waits, as the
                  runtime's does; off: it does not (default on)
  --fill F        how the feed writes a ticker whose variant the compiler cannot see
                  into its slot (hop and pipeline layouts): variant: its own bytes
                  (Event::copy_into, the runtime's); whole: a plain assignment, the
                  whole 424-byte enum (default variant)";

/// Which threads and rings run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Feed → input ring → engine.
    Hop,
    /// The runtime's four threads and two rings.
    Pipeline,
    /// Engine → output ring → gateway.
    Out,
}

/// Command-line options.
#[derive(Debug, Clone)]
struct Opts {
    layout: Layout,
    count: u64,
    gap_ns: u64,
    pause: bool,
    multi: bool,
    /// `--producer slot` or `stamp`: the [`SlotRing`] comparison, of `Input`s or
    /// of stamps alone.
    slot: Option<SlotPayload>,
    input_readers: usize,
    pin: Vec<usize>,
    ring_size: usize,
    /// Outputs the engine publishes per ticker.
    outputs: usize,
    /// One batch publish per ticker instead of one publish per output.
    out_batch: bool,
    /// The engine prefetches the next input slot's first two lines while it waits
    /// (the runtime's engine does).
    prefetch: bool,
    /// The feed assigns the whole `Event` to the slot instead of
    /// `Event::copy_into`.
    fill_whole: bool,
}

fn parse_args(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        layout: Layout::Pipeline,
        count: 200_000,
        gap_ns: 20_000,
        pause: true,
        multi: true,
        slot: None,
        input_readers: 3,
        pin: Vec::new(),
        ring_size: 65_536,
        outputs: 1,
        out_batch: false,
        prefetch: true,
        fill_whole: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--prefetch" => {
                o.prefetch = match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    v => bail!("--prefetch must be on or off, got {v:?}"),
                }
            }
            "--fill" => {
                o.fill_whole = match value()?.as_str() {
                    "variant" => false,
                    "whole" => true,
                    v => bail!("--fill must be variant or whole, got {v:?}"),
                }
            }
            "--layout" => {
                o.layout = match value()?.as_str() {
                    "hop" => Layout::Hop,
                    "pipeline" => Layout::Pipeline,
                    "out" => Layout::Out,
                    v => bail!("--layout must be hop, pipeline or out, got {v:?}"),
                }
            }
            "--count" => o.count = value()?.parse().context("--count")?,
            "--gap-ns" => o.gap_ns = value()?.parse().context("--gap-ns")?,
            "--spin" => {
                o.pause = match value()?.as_str() {
                    "pause" => true,
                    "poll" => false,
                    v => bail!("--spin must be pause or poll, got {v:?}"),
                }
            }
            "--producer" => {
                (o.multi, o.slot) = match value()?.as_str() {
                    "multi" => (true, None),
                    "single" => (false, None),
                    "slot" => (false, Some(SlotPayload::Input)),
                    "stamp" => (false, Some(SlotPayload::Stamp)),
                    v => bail!("--producer must be multi, single, slot or stamp, got {v:?}"),
                }
            }
            "--pin" => {
                o.pin = value()?
                    .split(',')
                    .map(|c| c.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .context("--pin takes core numbers: a,b,c,d")?
            }
            "--input-readers" => {
                o.input_readers = match value()?.as_str() {
                    "1" => 1,
                    "3" => 3,
                    v => bail!("--input-readers must be 1 or 3, got {v:?}"),
                }
            }
            "--ring-size" => o.ring_size = value()?.parse().context("--ring-size")?,
            "--outputs" => o.outputs = value()?.parse().context("--outputs")?,
            "--out-publish" => {
                o.out_batch = match value()?.as_str() {
                    "each" => false,
                    "batch" => true,
                    v => bail!("--out-publish must be each or batch, got {v:?}"),
                }
            }
            "-h" | "--help" => bail!("{USAGE}"),
            f => bail!("unknown argument {f:?}\n{USAGE}"),
        }
    }
    if o.slot.is_some() && o.layout != Layout::Hop {
        bail!("--producer slot and stamp need --layout hop");
    }
    if o.count == 0 {
        bail!("--count must be at least 1");
    }
    if !o.ring_size.is_power_of_two() || o.ring_size < 2 {
        bail!("--ring-size must be a power of two >= 2");
    }
    if !(1..=64).contains(&o.outputs) || o.outputs > o.ring_size {
        bail!("--outputs must be 1 to 64 and at most --ring-size");
    }
    Ok(o)
}

/// Output ring slot, the runtime's shape (96 bytes in two aligned cache lines of
/// their own): the output, the feed's publish stamp and the engine's, and two stamps
/// the runtime also carries (unused here).
#[derive(Clone, Debug, Default)]
#[repr(align(128))]
struct OutSlot {
    output: Output,
    publish_ns: u64,
    engine_ns: u64,
    _other_stamps: [u64; 2],
}

fn spin(pause: bool) {
    if pause {
        std::hint::spin_loop();
    }
}

/// A ring reader: `disruptor`'s poller of either producer kind (its barrier trait is
/// private, so the two are named here).
trait Reader<E>: Send + 'static {
    /// Calls `f` on every event available; `None` once the ring is shut down.
    fn read(&mut self, f: &mut dyn FnMut(&E)) -> Option<usize>;
}

macro_rules! reader {
    ($barrier:ty) => {
        impl<E: Send + Sync + 'static> Reader<E> for EventPoller<E, $barrier> {
            fn read(&mut self, f: &mut dyn FnMut(&E)) -> Option<usize> {
                match self.poll() {
                    Ok(mut g) => Some((&mut g).map(|e| f(e)).count()),
                    Err(Polling::NoEvents) => Some(0),
                    Err(Polling::Shutdown) => None,
                }
            }
        }
    };
}
reader!(MultiProducerBarrier);
reader!(SingleProducerBarrier);

/// Reads and drops what is available (the journal's or the gateway's copy of a
/// ring); false once the ring is shut down.
fn drain<E>(r: &mut impl Reader<E>) -> bool {
    r.read(&mut |_| {}).is_some()
}

/// The stage histograms (those a layout does not run stay empty).
struct Stages {
    ring_in: Histogram<u64>,
    /// Engine publish → gateway read, every output.
    ring_out: Histogram<u64>,
    /// Engine publish → gateway read, each ticker's last output.
    last_out: Histogram<u64>,
    /// Feed publish → gateway read, every output.
    total: Histogram<u64>,
}

impl Stages {
    fn empty() -> Stages {
        Stages {
            ring_in: histogram(),
            ring_out: histogram(),
            last_out: histogram(),
            total: histogram(),
        }
    }
}

/// The engine's outputs for one input published at `publish_ns`: `--outputs` of
/// them, stamped with one engine-end stamp, one by one or as one batch.
fn publish_outputs(o: &Opts, producer: &mut impl Producer<OutSlot>, publish_ns: u64) {
    let end = mono_ns();
    let fill = |s: &mut OutSlot, k: usize| {
        s.output.seq = k as u64;
        s.output.action = Action::Cancel {
            cid: Default::default(),
            instrument: 0,
        };
        s.publish_ns = publish_ns;
        s.engine_ns = end;
    };
    if o.out_batch {
        producer.batch_publish(o.outputs, |slots| {
            for (k, s) in slots.enumerate() {
                fill(s, k);
            }
        });
    } else {
        for k in 0..o.outputs {
            producer.publish(|s| fill(s, k));
        }
    }
}

/// The gateway's records of what it reads from the output ring.
struct GatewayRecords {
    outputs: usize,
    out: Histogram<u64>,
    last: Histogram<u64>,
    total: Histogram<u64>,
}

impl GatewayRecords {
    fn new(outputs: usize) -> GatewayRecords {
        GatewayRecords {
            outputs,
            out: histogram(),
            last: histogram(),
            total: histogram(),
        }
    }

    fn record(&mut self, s: &OutSlot) {
        let now = mono_ns();
        let out = now.saturating_sub(s.engine_ns);
        let _ = self.out.record(out);
        if s.output.seq as usize + 1 == self.outputs {
            let _ = self.last.record(out);
        }
        let _ = self.total.record(now.saturating_sub(s.publish_ns));
    }
}

/// The feed thread's part, on the calling thread: ticker `i` sent by `send` every
/// `--gap-ns`.
fn paced(o: &Opts, mut send: impl FnMut(u64)) {
    pin(&o.pin, 0);
    let mut next = mono_ns();
    for i in 0..o.count {
        next += o.gap_ns;
        while mono_ns() < next {
            spin(o.pause);
        }
        send(i);
    }
}

fn feed<P: Producer<Input>>(o: &Opts, mut producer: P) {
    let whole = o.fill_whole;
    paced(o, |i| {
        // The runtime's feed thread moves an event out of its parser: the compiler
        // cannot see which variant it is.
        let event = std::hint::black_box(ticker(i));
        producer.publish(move |slot| {
            let now = mono_ns();
            if whole {
                slot.event = event;
            } else {
                event.copy_into(&mut slot.event);
            }
            slot.header.seq = i + 1;
            slot.header.publish_ns = now;
        })
    });
}

/// The `i`-th book ticker sent.
fn ticker(i: u64) -> Event {
    let px = 60_000_000_000_000 + (i as i64 % 100) * 1_000_000;
    Event::BookTicker(BookTicker {
        instrument: 0,
        bid_px: Dec(px),
        bid_qty: Dec(1_000_000),
        ask_px: Dec(px + 1_000_000),
        ask_qty: Dec(1_000_000),
        update_id: i,
    })
}

/// Runs the layout over the input ring's readers (`inputs`: the engine's, then in
/// the pipeline layout the journal's and the gateway's) and its producer.
fn run<P, R>(o: &Opts, mut inputs: Vec<R>, producer: P) -> Stages
where
    P: Producer<Input> + Send + 'static,
    R: Reader<Input>,
{
    let mut engine_in = inputs.remove(0);
    let (gateway_out, out_builder) =
        build_single_producer(o.ring_size, OutSlot::default, BusySpin).new_event_poller();
    let (journal_out, out_builder) = out_builder.new_event_poller();
    let mut out_producer = out_builder.build();
    let (pause, pipeline) = (o.pause, o.layout == Layout::Pipeline);
    let engine = {
        let o = o.clone();
        thread::spawn(move || {
            pin(&o.pin, 1);
            let mut h = histogram();
            // Read where it lies, as the runtime's engine applies it; the stamp
            // follows reading the ticker, so the hop includes fetching all of it.
            let next = NextSlot::<Input>::new(o.ring_size);
            let mut on_input = |slot: &Input| {
                next.read(slot);
                if let Event::BookTicker(t) = &slot.event {
                    std::hint::black_box(t.ask_qty);
                }
                let now = mono_ns();
                let _ = h.record(now.saturating_sub(slot.header.publish_ns));
                if pipeline {
                    publish_outputs(&o, &mut out_producer, slot.header.publish_ns);
                }
            };
            let prefetch = o.prefetch;
            while let Some(n) = engine_in.read(&mut on_input) {
                if n == 0 {
                    if prefetch {
                        next.prefetch(2);
                    }
                    spin(pause);
                }
            }
            h
        })
    };
    let mut others = Vec::new();
    let mut gateway = None;
    if pipeline {
        // With one input reader these are `None`: journal and gateway read the
        // output ring only.
        let (mut gateway_in, mut journal_in) = (inputs.pop(), inputs.pop());
        let (mut journal_out, mut gateway_out) = (journal_out, gateway_out);
        let pin_to = o.pin.clone();
        others.push(thread::spawn(move || {
            pin(&pin_to, 2);
            let (mut a, mut b) = (journal_in.is_some(), true);
            while a || b {
                a = a && journal_in.as_mut().is_some_and(drain);
                b = b && drain(&mut journal_out);
                spin(pause);
            }
        }));
        let (pin_to, outputs) = (o.pin.clone(), o.outputs);
        gateway = Some(thread::spawn(move || {
            pin(&pin_to, 3);
            let mut records = GatewayRecords::new(outputs);
            let (mut a, mut b) = (gateway_in.is_some(), true);
            while a || b {
                a = a && gateway_in.as_mut().is_some_and(drain);
                if b {
                    match gateway_out.read(&mut |s: &OutSlot| records.record(s)) {
                        Some(0) => {}
                        Some(_) => continue,
                        None => b = false,
                    }
                }
                spin(pause);
            }
            records
        }));
    }
    feed(o, producer);
    let ring_in = engine.join().expect("engine thread");
    for t in others {
        t.join().expect("journal thread");
    }
    let mut stages = Stages::empty();
    stages.ring_in = ring_in;
    if let Some(g) = gateway {
        let r = g.join().expect("gateway thread");
        (stages.ring_out, stages.last_out, stages.total) = (r.out, r.last, r.total);
    }
    stages
}

/// The out layout: the paced thread is the engine, publishing `--outputs` per
/// ticker into the output ring; the gateway alone reads it.
fn out_hop(o: &Opts) -> Stages {
    let (mut gateway_out, builder) =
        build_single_producer(o.ring_size, OutSlot::default, BusySpin).new_event_poller();
    let mut producer = builder.build();
    let gateway = {
        let o = o.clone();
        thread::spawn(move || {
            pin(&o.pin, 1);
            let mut records = GatewayRecords::new(o.outputs);
            while let Some(n) = gateway_out.read(&mut |s: &OutSlot| records.record(s)) {
                if n == 0 {
                    spin(o.pause);
                }
            }
            records
        })
    };
    paced(o, |_| publish_outputs(o, &mut producer, mono_ns()));
    drop(producer);
    let r = gateway.join().expect("gateway thread");
    let mut stages = Stages::empty();
    (stages.ring_out, stages.last_out) = (r.out, r.last);
    stages
}

fn measure(o: &Opts) -> Stages {
    let size = o.ring_size;
    match o.slot {
        Some(SlotPayload::Input) => return slot_hop::<Input>(o),
        Some(SlotPayload::Stamp) => return slot_hop::<u64>(o),
        None => {}
    }
    if o.layout == Layout::Out {
        return out_hop(o);
    }
    // The engine reads the input ring alone in the hop layout and with
    // `--input-readers 1`; journal and gateway read it too otherwise.
    let three_readers = o.layout == Layout::Pipeline && o.input_readers == 3;
    match (o.multi, three_readers) {
        (true, false) => {
            let (e, b) = build_multi_producer(size, Input::default, BusySpin).new_event_poller();
            run(o, vec![e], b.build())
        }
        (true, true) => {
            let (e, b) = build_multi_producer(size, Input::default, BusySpin).new_event_poller();
            let (j, b) = b.new_event_poller();
            let (g, b) = b.new_event_poller();
            run(o, vec![e, j, g], b.build())
        }
        (false, false) => {
            let (e, b) = build_single_producer(size, Input::default, BusySpin).new_event_poller();
            run(o, vec![e], b.build())
        }
        (false, true) => {
            let (e, b) = build_single_producer(size, Input::default, BusySpin).new_event_poller();
            let (j, b) = b.new_event_poller();
            let (g, b) = b.new_event_poller();
            run(o, vec![e, j, g], b.build())
        }
    }
}

/// What a [`SlotRing`] carries in `ring_hop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotPayload {
    /// The runtime's `Input` (header and a book ticker): the sequence's line and two more.
    Input,
    /// The publish stamp alone, in the sequence's cache line.
    Stamp,
}

/// What a [`SlotRing`] slot holds: a value stamped at publish.
trait Stamped: Default + Clone + Send + 'static {
    /// The value for ticker `i`, stamped `now`.
    fn fill(&mut self, i: u64, now: u64);
    /// The publish stamp.
    fn stamp(&self) -> u64;
}

impl Stamped for Input {
    fn fill(&mut self, i: u64, now: u64) {
        self.event = ticker(i);
        self.header.seq = i + 1;
        self.header.publish_ns = now;
    }
    fn stamp(&self) -> u64 {
        self.header.publish_ns
    }
}

impl Stamped for u64 {
    fn fill(&mut self, _: u64, now: u64) {
        *self = now;
    }
    fn stamp(&self) -> u64 {
        *self
    }
}

/// One slot of [`SlotRing`]: its sequence number (0: never written) in the same
/// cache line as the start of the value it guards.
#[repr(C, align(64))]
struct SeqSlot<T> {
    seq: AtomicU64,
    value: UnsafeCell<T>,
}

/// Reader's position on its own cache line.
#[repr(align(64))]
struct Padded(AtomicU64);

/// Single-producer, single-reader ring whose slots carry their own sequence number
/// (see the module docs); sequences start at 1.
struct SlotRing<T> {
    slots: Box<[SeqSlot<T>]>,
    /// Sequences the reader has finished with.
    read: Padded,
}

// SAFETY: a slot's value is written only by the one producer while the reader has
// released it (`read` has passed its previous lap), and read only by the one reader
// after the producer's release store of the slot's sequence; see `publish` and
// `next`.
unsafe impl<T: Send> Sync for SlotRing<T> {}

impl<T: Stamped> SlotRing<T> {
    fn new(size: usize) -> SlotRing<T> {
        let slots = (0..size)
            .map(|_| SeqSlot {
                seq: AtomicU64::new(0),
                value: UnsafeCell::new(T::default()),
            })
            .collect();
        SlotRing {
            slots,
            read: Padded(AtomicU64::new(0)),
        }
    }

    fn slot(&self, seq: u64) -> &SeqSlot<T> {
        &self.slots[seq as usize & (self.slots.len() - 1)]
    }

    /// Producer side: fills sequence `seq` (1, 2, ...; one producer only), waiting
    /// while the reader is a whole ring behind.
    fn publish(&self, seq: u64, pause: bool, fill: impl FnOnce(&mut T)) {
        let size = self.slots.len() as u64;
        while self.read.0.load(Ordering::Acquire) + size < seq {
            spin(pause);
        }
        let slot = self.slot(seq);
        // SAFETY: the reader released this slot's previous lap (checked above) and
        // will not read it before the store below; only this thread writes.
        fill(unsafe { &mut *slot.value.get() });
        slot.seq.store(seq, Ordering::Release);
    }

    /// Reader side: waits for sequence `seq` (1, 2, ...; one reader only), copies it
    /// into `into`, and releases the slot.
    fn next(&self, seq: u64, pause: bool, into: &mut T) {
        let slot = self.slot(seq);
        while slot.seq.load(Ordering::Acquire) != seq {
            spin(pause);
        }
        // SAFETY: the acquire load saw the producer's release of this sequence, and
        // the producer will not write the slot again before `read` passes it.
        into.clone_from(unsafe { &*slot.value.get() });
        self.read.0.store(seq, Ordering::Release);
    }
}

/// The hop layout over a [`SlotRing`] of `T`.
fn slot_hop<T: Stamped>(o: &Opts) -> Stages {
    let ring = Arc::new(SlotRing::<T>::new(o.ring_size));
    let engine = {
        let (ring, o) = (ring.clone(), o.clone());
        thread::spawn(move || {
            pin(&o.pin, 1);
            let mut h = histogram();
            let mut cur = T::default();
            for seq in 1..=o.count {
                ring.next(seq, o.pause, &mut cur);
                let _ = h.record(mono_ns().saturating_sub(cur.stamp()));
            }
            h
        })
    };
    paced(o, |i| {
        ring.publish(i + 1, o.pause, |slot| slot.fill(i, mono_ns()))
    });
    let mut stages = Stages::empty();
    stages.ring_in = engine.join().expect("engine thread");
    stages
}

fn report(o: &Opts, s: &Stages) -> String {
    let mut t = format!(
        "ring_hop: layout {}, {} tickers every {} ns, spin {}, {} input ring, {} slots, prefetch {}, fill {}, pinned {:?}\n",
        match (o.layout, o.input_readers) {
            (Layout::Hop, _) => "hop",
            (Layout::Out, _) => "out",
            (Layout::Pipeline, 1) => "pipeline, engine alone on the input ring",
            (Layout::Pipeline, _) => "pipeline",
        },
        o.count,
        o.gap_ns,
        if o.pause { "pause" } else { "poll" },
        match (o.slot, o.multi) {
            _ if o.layout == Layout::Out => "no",
            (Some(SlotPayload::Input), _) => "sequence-in-slot",
            (Some(SlotPayload::Stamp), _) => "sequence-in-slot stamps-only",
            (_, true) => "multi-producer",
            _ => "single-producer",
        },
        o.ring_size,
        if o.prefetch { "on" } else { "off" },
        if o.fill_whole { "whole" } else { "variant" },
        o.pin
    );
    if o.layout != Layout::Hop {
        let how = if o.out_batch {
            "as one batch"
        } else {
            "one by one"
        };
        t.push_str(&format!(
            "{} outputs per ticker, published {how}\n",
            o.outputs
        ));
    }
    t.push_str(&format!("| stage (ns) {HEADER}\n"));
    t.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    if o.layout != Layout::Out {
        t.push_str(&row("ring in (feed publish -> engine read)", &s.ring_in));
        t.push('\n');
    }
    if o.layout != Layout::Hop {
        t.push_str(&row(
            "ring out (engine publish -> gateway read)",
            &s.ring_out,
        ));
        t.push('\n');
        if o.outputs > 1 {
            t.push_str(&row("ring out, each ticker's last output", &s.last_out));
            t.push('\n');
        }
    }
    if o.layout == Layout::Pipeline {
        t.push_str(&row("both hops (feed publish -> gateway read)", &s.total));
        t.push('\n');
    }
    t
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    mono_ns();
    let stages = measure(&o);
    print!("{}", report(&o, &stages));
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_parse_and_bad_ones_are_refused() {
        let o = parse_args(&args(&[
            "--layout",
            "hop",
            "--spin",
            "poll",
            "--producer",
            "single",
            "--pin",
            "0,1",
            "--count",
            "10",
            "--gap-ns",
            "5",
            "--ring-size",
            "8",
            "--input-readers",
            "1",
            "--outputs",
            "4",
            "--out-publish",
            "batch",
            "--prefetch",
            "off",
            "--fill",
            "whole",
        ]))
        .unwrap();
        assert!(o.layout == Layout::Hop && !o.pause && !o.multi && o.slot.is_none());
        assert!(
            !o.prefetch && parse_args(&[]).unwrap().prefetch,
            "prefetch on by default"
        );
        assert!(
            o.fill_whole && !parse_args(&[]).unwrap().fill_whole,
            "the runtime's variant fill by default"
        );
        assert_eq!((o.input_readers, o.outputs, o.out_batch), (1, 4, true));
        assert_eq!(
            (o.pin, o.count, o.gap_ns, o.ring_size),
            (vec![0, 1], 10, 5, 8)
        );
        let o = parse_args(&args(&["--layout", "hop", "--producer", "stamp"])).unwrap();
        assert_eq!(o.slot, Some(SlotPayload::Stamp));
        for bad in [
            &["--layout", "ring"][..],
            &["--spin", "sleep"],
            &["--input-readers", "2"],
            &["--outputs", "0"],
            &["--outputs", "65"],
            &["--outputs", "16", "--ring-size", "8"],
            &["--out-publish", "some"],
            &["--prefetch", "maybe"],
            &["--fill", "some"],
            &["--producer", "slot"],
            &["--ring-size", "6"],
            &["--count", "0"],
            &["--pin", "a"],
            &["--count"],
            &["--frobnicate"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_ticker_crosses_every_hop() {
        // A ring smaller than the count, so every reader must keep up for the
        // producers to finish (a reader left behind would stall the run).
        let layouts = [
            (true, true, 3),
            (false, true, 3),
            (true, true, 1),
            (false, true, 1),
        ];
        let hops = [(true, false, 1), (false, false, 1)];
        for (i, (multi, pipeline, input_readers)) in layouts.into_iter().chain(hops).enumerate() {
            // The pipelines publish 1, 4, 1, 4 outputs per ticker, one by one or batched.
            let outputs = if i % 2 == 1 { 4 } else { 1 };
            let o = Opts {
                layout: if pipeline {
                    Layout::Pipeline
                } else {
                    Layout::Hop
                },
                count: 300,
                gap_ns: 0,
                pause: multi,
                multi,
                slot: None,
                input_readers,
                pin: Vec::new(),
                ring_size: 64,
                outputs,
                out_batch: i == 3,
                // Half the runs prefetch; a ring of 64 slots wraps several times.
                prefetch: i % 2 == 0,
                fill_whole: i % 3 == 0,
            };
            let s = measure(&o);
            assert_eq!(s.ring_in.len(), 300);
            let (outs, lasts) = if pipeline {
                (300 * outputs as u64, 300)
            } else {
                (0, 0)
            };
            assert_eq!((s.ring_out.len(), s.total.len()), (outs, outs));
            assert_eq!(s.last_out.len(), lasts);
            if pipeline {
                assert!(s.total.max() >= s.ring_out.min());
            }
            assert!(report(&o, &s).contains("| ring in (feed publish -> engine read) | 300 |"));
        }
    }

    #[test]
    fn the_out_layout_delivers_every_output_each_way() {
        // 500 tickers of 5 outputs through 64 slots: the engine laps the ring.
        for batch in [false, true] {
            let mut o = args(&["--layout", "out", "--count", "500", "--gap-ns", "0"]);
            o.extend(args(&[
                "--outputs",
                "5",
                "--ring-size",
                "64",
                "--out-publish",
            ]));
            o.push(if batch { "batch" } else { "each" }.into());
            let o = parse_args(&o).unwrap();
            let s = measure(&o);
            assert_eq!((s.ring_in.len(), s.ring_out.len()), (0, 2_500));
            assert_eq!((s.last_out.len(), s.total.len()), (500, 0));
            // A ticker's last output is read no sooner than its first.
            assert!(s.last_out.max() >= s.ring_out.min());
            let how = if batch { "as one batch" } else { "one by one" };
            let r = report(&o, &s);
            assert!(
                r.contains(&format!("5 outputs per ticker, published {how}")),
                "{r}"
            );
            assert!(
                r.contains("| ring out, each ticker's last output | 500 |"),
                "{r}"
            );
            assert!(
                r.contains("layout out,") && r.contains("no input ring"),
                "{r}"
            );
        }
    }

    #[test]
    fn the_slot_ring_delivers_every_input_once_in_order() {
        // Four slots and 20,000 inputs: the producer laps the ring 5,000 times and
        // must wait for the reader every lap.
        let ring = Arc::new(SlotRing::new(4));
        let reader = {
            let ring = ring.clone();
            thread::spawn(move || {
                let mut cur = Input::default();
                (1..=20_000u64).all(|seq| {
                    ring.next(seq, true, &mut cur);
                    cur.event == ticker(seq - 1) && cur.header.seq == seq && cur.stamp() == 7
                })
            })
        };
        for i in 0..20_000u64 {
            ring.publish(i + 1, true, |slot: &mut Input| slot.fill(i, 7));
        }
        assert!(reader.join().unwrap());
        for (producer, name) in [
            ("slot", "sequence-in-slot input"),
            ("stamp", "stamps-only input"),
        ] {
            let o = args(&["--layout", "hop", "--producer", producer, "--count", "50"]);
            let o = parse_args(&o).unwrap();
            let s = measure(&o);
            assert_eq!((s.ring_in.len(), s.ring_out.len()), (50, 0));
            assert!(report(&o, &s).contains(name));
        }
    }
}
