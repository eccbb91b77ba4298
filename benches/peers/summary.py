#!/usr/bin/env python3
"""Turns the log `run.sh` writes into the side-by-side tables (Markdown).

Usage: summary.py LOG [--clock wall|cpu]

The log holds sections opened by `### <engine> <mode> <data> [journal]` lines, each
followed by the output of one engine's script (`<engine> mode=... quotes=Q trades=T
...`, then `run i: wall=...s [cpu=...s] ... submitted=... canceled=... fills=...`),
`#! key value` lines (versions, load averages) and `### skip <engine> <reason>` lines.
Events are quotes + trades, as the peers' scripts count them; throughput is events over
the median time of the runs. Standard library only.
"""
import re
import statistics
import sys

RUN = re.compile(r"^run \d+: wall=([0-9.]+)s(?: cpu=([0-9.]+|n/a)s?)?")
HEAD = re.compile(r"^(kestrel|hftbacktest|nautilus_trader) mode=(\S+) quotes=(\d+) trades=(\d+)")
FIELD = re.compile(r"\b(submitted|canceled|fills)=(\d+)")
NAMES = {"kestrel": "Kestrel", "kestrel-pgo": "Kestrel (PGO)", "hftbacktest": "hftbacktest",
         "nautilus": "NautilusTrader"}


def parse(lines, clock):
    sections, info, skips, cur = [], {}, [], None
    for line in lines:
        line = line.rstrip("\n")
        if line.startswith("#! "):
            parts = line[3:].split(" ", 1)
            info.setdefault(parts[0], []).append(parts[1] if len(parts) > 1 else "")
        elif line.startswith("### skip "):
            skips.append(line[len("### skip "):])
        elif line.startswith("### "):
            f = line[4:].split()
            cur = dict(engine=f[0], mode=f[1], data=f[2], journal=len(f) > 3 and f[3] == "journal",
                       times=[], events=None, counts={})
            sections.append(cur)
        elif cur is not None:
            m = HEAD.match(line)
            if m:
                cur["events"] = int(m.group(3)) + int(m.group(4))
                continue
            m = RUN.match(line)
            if m:
                t = m.group(1)
                if clock == "cpu" and cur["engine"].startswith("kestrel") and m.group(2) not in (None, "n/a"):
                    t = m.group(2)
                cur["times"].append(float(t))
                cur["counts"] = {k: int(v) for k, v in FIELD.findall(line)}
    return [s for s in sections if s["times"] and s["events"]], info, skips


def rate(s):
    return s["events"] / statistics.median(s["times"])


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    clock = "cpu" if "--clock" in sys.argv and sys.argv[sys.argv.index("--clock") + 1] == "cpu" else "wall"
    with open(sys.argv[1]) as f:
        sections, info, skips = parse(f, clock)
    unit = "CPU s" if clock == "cpu" else "wall s"
    print(f"| engine | mode | data | journal | events | {unit} (median of runs) | events/s | orders / cancels / fills |")
    print("|---|---|---|---|---|---|---|---|")
    for s in sections:
        c = s["counts"]
        orders = f"{c.get('submitted', 0):,} / {c.get('canceled', 0):,} / {c.get('fills', 0):,}" if c else ""
        med = statistics.median(s["times"])
        print(f"| {NAMES.get(s['engine'], s['engine'])} | {s['mode']} | {s['data']} | "
              f"{'yes' if s['journal'] else 'no'} | {s['events']:,} | {med:.3f} ({len(s['times'])}) | "
              f"{rate(s):,.0f} | {orders} |")
    print()
    goals = {("hftbacktest", "mm"): 2, ("nautilus", "mm"): 10}
    print("| Kestrel ÷ peer | mode | data | Kestrel events/s | peer events/s | ratio | goal |")
    print("|---|---|---|---|---|---|---|")
    builds = [b for b in ("kestrel", "kestrel-pgo") if any(s["engine"] == b for s in sections)]
    kest = {(s["engine"], s["mode"], s["data"], s["journal"]): s
            for s in sections if s["engine"].startswith("kestrel")}
    for p in (s for s in sections if not s["engine"].startswith("kestrel")):
        for build in builds:
            for journal in (False, True):
                k = kest.get((build, p["mode"], p["data"], journal))
                if not k:
                    continue
                if k["events"] != p["events"]:
                    print(f"| (events differ: Kestrel {k['events']} vs {p['engine']} {p['events']}) |||||||")
                goal = None if journal else goals.get((p["engine"], p["mode"]))
                r = rate(k) / rate(p)
                print(f"| {NAMES[build]}{' (journaled)' if journal else ''} ÷ {NAMES.get(p['engine'], p['engine'])} | "
                      f"{p['mode']} | {p['data']} | {rate(k):,.0f} | {rate(p):,.0f} | {r:.2f}x | "
                      f"{'' if goal is None else ('≥%dx %s' % (goal, 'met' if r >= goal else 'not met'))} |")
    if skips:
        print()
        for s in skips:
            print(f"- skipped: {s}")
    if info:
        print()
        for k, vs in info.items():
            print(f"- {k}: {'; '.join(vs)}")


if __name__ == "__main__":
    main()
