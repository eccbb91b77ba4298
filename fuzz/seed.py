#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets from the shared data (never copied into
the repository): fuzz/seed.py DATA_DIR CORPUS_DIR. Idempotent; small seeds only."""
import gzip, json, os, sys

data, corpus = sys.argv[1], sys.argv[2]
MAX = 4096


def put(target, name, payload):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(payload, str):
        payload = payload.encode()
    if len(payload) <= MAX:
        with open(os.path.join(d, name), "wb") as f:
            f.write(payload)


def path(*p):
    return os.path.join(data, *p)


def lines(p, n):
    opener = gzip.open if p.endswith(".gz") else open
    out = []
    try:
        with opener(p, "rb") as f:
            for i, l in enumerate(f):
                if i >= n:
                    break
                out.append(l)
    except FileNotFoundError:
        pass
    return out


def vectors(name):
    try:
        with open(path("binance", "vectors", name)) as f:
            v = json.load(f)
    except FileNotFoundError:
        return []
    out = []
    for e in v.get("examples", []) + v.get("vectors", []):
        if isinstance(e, dict) and "json" in e:
            out.append(json.dumps(e["json"]))
    return out


# Stream payloads: hftbacktest captures (after the timestamp) and the vectors.
for f in ["spot/btcusdt_20240808.gz", "usdm/btcusdt_20240808.gz"]:
    ls = lines(path("hftbacktest", f), 60)
    for i, l in enumerate(ls):
        body = l.split(b" ", 1)[-1]
        put("binance_stream", f"{f.replace('/', '_')}_{i}", body)
    acc = b""
    for l in ls:
        if len(acc) + len(l) > MAX:
            break
        acc += l
    put("recorded_feed", f.replace("/", "_"), acc)
for n in ["book_ticker.json", "depth_update.json", "partial_depth.json", "trade.json",
          "agg_trade.json", "kline.json"]:
    for i, j in enumerate(vectors(n)):
        put("binance_stream", f"{n}_{i}", j)
for i, j in enumerate(vectors("depth_snapshot.json")):
    put("binance_snapshot", f"vec_{i}", j)
for f in ["BINANCE.http.0.0", "BINANCE_FUTURES.http.0.0"]:
    for i, l in enumerate(lines(path("cryptofeed", f), 4)):
        body = l.split(b": ", 1)[-1]
        put("binance_snapshot", f"{f}_{i}", body[:MAX])
for f in ["BINANCE.ws.1.0", "BINANCE_FUTURES.ws.1.0", "BINANCE.http.0.0"]:
    put("cryptofeed_capture", f, b"".join(l for l in lines(path("cryptofeed", f), 12) if len(l) < 1500))
# A small exchangeInfo: the first two symbols of the spot file.
for f in ["BINANCE.0", "BINANCE_FUTURES.0"]:
    ls = lines(path("cryptofeed", f), 1)
    if ls:
        url, _, body = ls[0].partition(b": ")
        try:
            info = json.loads(body)
            info["symbols"] = info["symbols"][:2]
            put("binance_exchange_info", f, json.dumps(info))
        except ValueError:
            pass
# Reports: the first byte picks the parser (0 user event, 1 order object, 2 order list,
# 3 trade list, 4 error body).
for n, k in [("execution_report.json", 0), ("futures_order_trade_update.json", 0),
             ("account_events.json", 0), ("ws_api_order.json", 1),
             ("rest_order_response.json", 1), ("errors.json", 4)]:
    for i, j in enumerate(vectors(n)):
        put("binance_reports", f"{n}_{i}", bytes([k]) + j.encode())
# CSV layouts.
put("csv_reader", "quotes", "ts_ns,symbol,bid_px,bid_qty,ask_px,ask_qty\n1,BTCUSDT,100.5,1,100.6,2\n2,BTCUSDT,100.4,1,100.7,2\n")
put("csv_reader", "trades", "ts_ns,symbol,px,qty,side\n1,BTCUSDT,100.5,0.1,buy\n2,ETHUSDT,10,3,sell\n")
for f in os.listdir(path("nautilus_trader", "tardis")) if os.path.isdir(path("nautilus_trader", "tardis")) else []:
    put("tardis_csv", f, b"".join(lines(path("nautilus_trader", "tardis", f), 8)))
for f in ["btcusdt-depth-snap.csv", "btcusdt-depth-update.csv"]:
    put("binance_depth_csv", f, b"".join(lines(path("nautilus_trader", "binance", f), 12)))
# Signals.
for i, s in enumerate([
    '{"id":"m-1","pair":"BTCUSDT","side":"buy","amount":"0.25","entry_price":"64000.5","stop_loss":"0.02","take_profit":"0.05","confidence":"0.9","action":"OPEN"}',
    '{"id":"m-1","pair":"BTC/USDT","side":"long","action":"CLOSE"}',
    '{"ticker":"BTCUSDT","action":"sell","contracts":"1","market_position":"flat","prev_market_position":"long","id":"x-1","passphrase":"p"}',
    '[{"id":"a","pair":"ETH-USDT","side":"sell","amount":"1","action":"OPEN"},{"id":"b"}]',
    '{"signals":[{"id":"a","pair":"ETHUSDT","side":"buy","amount":"1","action":"OPEN","secret":"s"}]}',
]):
    put("signal_parse", f"s{i}", s)
# Configs: the embedded default and the examples.
here = os.path.dirname(os.path.abspath(__file__))
for p in [os.path.join(here, "..", "tools", "src", "default.toml")] + [
        os.path.join(here, "..", "examples", f) for f in sorted(os.listdir(os.path.join(here, "..", "examples")))
        if f.endswith(".toml")]:
    with open(p, "rb") as f:
        put("config_toml", os.path.basename(p), f.read())
put("config_toml", "risk", open(os.path.join(here, "..", "tools", "src", "default.toml")).read()
    + '\n[risk]\nmax_order_qty = "1"\nprice_band = "0.05"\nmax_orders_per_second = 10\n[risk.instruments.BTCUSDT]\nmax_position = "2"\n')
# Journal records: the target builds valid ones itself; a few shapes to start from.
for k in range(8):
    put("journal_decode", f"t{k}", bytes([k, 3, 0, 0]))
