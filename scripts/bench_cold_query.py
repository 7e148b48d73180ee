#!/usr/bin/env python3
"""What a server's first whole read of a collection costs, cold and warm, by each way of
reading it (the question behind the many-collections initial sync on Xandikos).

Loads the many-collections shape of scripts/bench_compare.py (calendars of ITEMS events)
into a fresh server store, starts the server, and times by plain HTTP, sequentially unless
said otherwise, each on collections nothing has read yet since the server started:

  query cold        one calendar-query with data (what davsync's first sync sends)
  query again       the same query on the same collection right after
  listing+multiget  PROPFIND Depth 1 (etags), then multiget REPORTs of 100 hrefs (what
                    vdirsyncer sends)
  4 queries at once the cold query on 4 collections in parallel, then 4 more in a row

Prints a Markdown table with the load average. Run with the bench venv's Python:

    target/bench-venv/bin/python scripts/bench_cold_query.py [--server xandikos] [--items 300]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_compare as bc  # noqa: E402

LISTING = (b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
           b'<D:getetag/></D:prop></D:propfind>')


def multiget(hrefs):
    return ('<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/>'
            '</D:prop>' + "".join(f"<D:href>{h}</D:href>" for h in hrefs)
            + "</C:calendar-multiget>").encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="xandikos", choices=("xandikos", "radicale"))
    ap.add_argument("--items", type=int, default=300, help="events per calendar")
    ap.add_argument("--venv", default=os.path.join(bc.ROOT, "target", "bench-venv"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="davsync-cold-query-")
    server = bc.Server(args.server, os.path.abspath(args.venv), work)
    server.load_many(20, 1, args.items, 0)
    load_before = bc.load_text()
    server.start()
    cal = server.home("cal")
    colls = [f"{cal}cal-{i:02}/" for i in range(20)]

    def timed(method, path, body, depth="1"):
        t0 = time.perf_counter()
        st, _, data = server.request(method, path, body, {"Depth": depth})
        if st != 207:
            sys.exit(f"{method} {path}: {st} {data[:300]!r}")
        return (time.perf_counter() - t0) * 1000, data

    rows = {}
    try:
        cold, again = [], []
        for path in colls[0:4]:
            ms, data = timed("REPORT", path, bc.CAL_QUERY)
            if data.count(b"BEGIN:VEVENT") != args.items:
                sys.exit(f"query of {path}: {data.count(b'BEGIN:VEVENT')} events")
            cold.append(ms)
            again.append(timed("REPORT", path, bc.CAL_QUERY)[0])
        rows["calendar-query with data, cold"] = cold
        rows["the same query again"] = again
        lm = []
        for k, path in enumerate(colls[4:8]):
            ms, _ = timed("PROPFIND", path, LISTING)
            hrefs = [f"{path}event-{k + 4}-{i}.ics" for i in range(args.items)]
            for j in range(0, len(hrefs), 100):
                ms += timed("REPORT", path, multiget(hrefs[j:j + 100]))[0]
            lm.append(ms)
        rows["listing + multiget of 100, cold"] = lm
        rows["calendar-query after that listing + multiget"] = [
            timed("REPORT", path, bc.CAL_QUERY)[0] for path in colls[4:8]]
        par = {}

        def one(path):
            par[path] = timed("REPORT", path, bc.CAL_QUERY)[0]

        t0 = time.perf_counter()
        threads = [threading.Thread(target=one, args=(p,)) for p in colls[8:12]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        at_once = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        for path in colls[12:16]:
            one(path)
        in_row = (time.perf_counter() - t0) * 1000
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"### {args.server}: first reads of calendars of {args.items} events, load average "
          f"{load_before} before, {bc.load_text()} after\n")
    print("| read | per calendar (4 calendars) | median |\n| --- | --- | ---: |")
    for name, ms in rows.items():
        print(f"| {name} | {', '.join(f'{m:.0f}' for m in ms)} ms | "
              f"{statistics.median(ms):.0f} ms |")
    print(f"| 4 cold queries at once, 4 more in a row | {at_once:.0f} ms, {in_row:.0f} ms | |")


if __name__ == "__main__":
    main()
