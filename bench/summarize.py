#!/usr/bin/env python3
"""Prints the bench/run table (Markdown) from a results directory: medians over the runs."""
import json
import os
import re
import statistics
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(path):
    text = open(path).read()

    def latency(percent):
        match = re.search(r"^\s*%d%%\s+([\d.]+)(us|ms|s)\s*$" % percent, text, re.M)
        return float(match.group(1)) * UNITS[match.group(2)] if match else None

    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    requests = re.search(r"(\d+) requests in", text)
    return {
        "rps": float(rps.group(1)) if rps else None,
        "p50": latency(50),
        "p99": latency(99),
        "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
        "requests": int(requests.group(1)) if requests else 0,
    }


def main(out):
    runs = sorted(d for d in os.listdir(out) if d.startswith("run"))

    def values(target, kind, key):
        found = []
        for run in runs:
            path = os.path.join(out, run, f"{target}.{kind}")
            if not os.path.exists(path):
                continue
            data = json.load(open(path)) if kind.endswith(".json") else parse_wrk(path)
            if data.get(key) is not None:
                found.append(data[key])
        return found

    def median(target, kind, key):
        found = values(target, kind, key)
        return statistics.median(found) if found else None

    rss = {}
    for line in open(os.path.join(out, "rss.txt")):
        _, phase, target, kb = line.split()
        rss.setdefault((phase.rstrip("0123456789"), target), []).append(int(kb))

    def mb(kb):
        return f"{kb / 1024:.1f} MB" if kb is not None else "–"

    def num(value, fmt="{:.3f}"):
        return fmt.format(value) if value is not None else "–"

    def ratio(a, b):
        return f"{a / b:.2f}" if a is not None and b else "–"

    pairs = [("nginx", "foap"), ("nginx-nolog", "foap-nolog")]
    header = ["", "direct", "nginx", "foap", "foap/nginx", "nginx (no log)", "foap (no log)", "foap/nginx (no log)"]
    rows = []

    def row(label, cells_for):
        cells = [label, cells_for("direct")[0]]
        for reference, ours in pairs:
            ref_text, ref_value = cells_for(reference)
            our_text, our_value = cells_for(ours)
            cells += [ref_text, our_text, ratio(our_value, ref_value)]
        rows.append(cells)

    def wrk_metric(kind, key, fmt):
        def cells(target):
            value = median(target, kind, key)
            return num(value, fmt), value
        return cells

    def added(kind, key):
        def cells(target):
            value, direct = median(target, kind, key), median("direct", kind, key)
            if target == "direct" or value is None or direct is None:
                return "–", None
            return f"+{value - direct:.3f}", value - direct
        return cells

    row("req/s, 64 conns", wrk_metric("c64.txt", "rps", "{:,.0f}"))
    row("p50 ms, 1 conn", wrk_metric("c1.txt", "p50", "{:.3f}"))
    row("p99 ms, 1 conn", wrk_metric("c1.txt", "p99", "{:.3f}"))
    row("added p50 ms, 1 conn", added("c1.txt", "p50"))
    row("added p99 ms, 1 conn", added("c1.txt", "p99"))
    row("p50 ms, 64 conns", wrk_metric("c64.txt", "p50", "{:.3f}"))
    row("p99 ms, 64 conns", wrk_metric("c64.txt", "p99", "{:.3f}"))
    row("RSS per worker, idle", lambda t: (mb(rss.get(("idle", t), [None])[0]), rss.get(("idle", t), [None])[0]))
    row("RSS per worker, after load (max)",
        lambda t: (mb(max(rss[("load", t)])), max(rss[("load", t)])) if ("load", t) in rss else ("–", None))

    def errors(target):
        total = sum(sum(values(target, kind, "errors")) for kind in ("c1.txt", "c64.txt", "1mb.txt"))
        return str(total), None
    row("errors (non-2xx + socket), all runs", errors)
    row("1 MB body: req/s, 8 conns", wrk_metric("1mb.txt", "rps", "{:,.0f}"))
    row("1 MB body: p50 ms, 8 conns", wrk_metric("1mb.txt", "p50", "{:.2f}"))
    row("stream: first event ms", wrk_metric("stream.json", "first_event_ms_p50", "{:.3f}"))
    row("stream: added to first event ms", added("stream.json", "first_event_ms_p50"))
    row("stream: gap p50 / max ms (sent every 20)", lambda t: (
        f"{num(median(t, 'stream.json', 'gap_ms_p50'), '{:.2f}')} / {num(median(t, 'stream.json', 'gap_ms_max'), '{:.2f}')}"
        if median(t, "stream.json", "gap_ms_p50") is not None else "–", None))
    row("stream: reads holding >1 event (of 255/run)",
        lambda t: (str(sum(values(t, "stream.json", "coalesced_reads"))) if values(t, "stream.json", "events") else "–",
                   None))
    for kind, name in (("upload", "20 MB upload"), ("download", "20 MB download")):
        row(f"{name}: MB/s", wrk_metric(f"{kind}.json", "mb_per_s", "{:,.0f}"))

        def growth(target, kind=kind):
            befores = [b for b in values(target, f"{kind}.json", "rss_before_kb") if b]
            peaks = values(target, f"{kind}.json", "rss_peak_kb")
            if not befores:
                return "–", None
            return f"{min(befores) / 1024:.1f} → {max(peaks) / 1024:.1f} MB", None
        row(f"{name}: worker RSS before → peak", growth)

    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")

    def own_ratios(reference, ours):
        """foap's req/s over nginx's in each run, as bench/ab's rounds' own B/A: a run loads the two within half a
        minute, so a drift of the machine's speed between runs cancels out of each (the medians above mix runs)."""
        found = []
        for run in runs:
            paths = [os.path.join(out, run, f"{target}.c64.txt") for target in (reference, ours)]
            if all(os.path.exists(path) for path in paths):
                theirs, foap = (parse_wrk(path)["rps"] for path in paths)
                if theirs and foap is not None:
                    found.append(foap / theirs)
        if not found:
            return "–"
        return ", ".join(f"{r:.2f}" for r in found) + f" (median {statistics.median(found):.2f})"

    print()
    print(f"foap/nginx req/s at 64 conns, each run's own: {own_ratios('nginx', 'foap')}; "
          f"no log: {own_ratios('nginx-nolog', 'foap-nolog')}")

    def comparison(title, first, second, first_label, second_label):
        """A table of `second` next to `first` (same build, same run), with the errors of `second`."""
        if not values(second, "c64.txt", "rps"):
            return
        print()
        print(f"| {title} | {first_label} | {second_label} | ratio |")
        print("| --- | ---: | ---: | ---: |")
        for label, kind, key, fmt in (
            ("req/s, 64 conns", "c64.txt", "rps", "{:,.0f}"),
            ("p99 ms, 64 conns", "c64.txt", "p99", "{:.3f}"),
            ("p50 ms, 1 conn", "c1.txt", "p50", "{:.3f}"),
            ("p99 ms, 1 conn", "c1.txt", "p99", "{:.3f}"),
        ):
            a, b = median(first, kind, key), median(second, kind, key)
            print(f"| {label} | {num(a, fmt)} | {num(b, fmt)} | {ratio(b, a)} |")
        errors = sum(sum(values(second, kind, "errors")) for kind in ("c1.txt", "c64.txt"))
        print(f"| errors, all runs | | {errors} | |")

    comparison("foap, access log on", "foap", "foap-pool", "one upstream", "3 upstreams (pool)")
    comparison("foap, access log on, a client key", "foap-key", "foap-limits", "no limits", "limits (none refuses)")

    soak = os.path.join(out, "soak.txt")
    if os.path.exists(soak):
        samples = [line.split() for line in open(soak)]
        wrk_text = open(os.path.join(out, "soak.wrk.txt")).read() if os.path.exists(os.path.join(out, "soak.wrk.txt")) else ""
        soak_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", wrk_text))
        soak_errors += sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", wrk_text))
        print()
        print(f"soak (foap, access log on, 64 conns): {int(samples[-1][1]):,} requests, {soak_errors} errors, "
              f"worker RSS {mb(int(samples[0][2]))} at start → {mb(int(samples[1][2]))} after the first segment → "
              f"{mb(int(samples[-1][2]))} at the end")
    print()
    print(f"runs: {len(runs)}; " + " ".join(open(os.path.join(out, "machine.txt")).read().split("\n")).strip())


if __name__ == "__main__":
    main(sys.argv[1])
