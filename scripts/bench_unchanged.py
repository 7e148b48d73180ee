#!/usr/bin/env python3
"""What each candidate "nothing changed?" check costs a server (Radicale, Xandikos on
loopback, plain HTTP from Python, sequential, medians): the numbers behind the DAV storage's
choice of one home-set listing carrying each collection's change token (docs/performance.md).

  python3 scripts/bench_unchanged.py --venv .venv [--items 1000] [--runs 7]

For each server, with N events + N cards loaded (as scripts/bench_compare.py does):
  listing bare        PROPFIND Depth 1 on the home set(s): resourcetype only
  listing + token     the same with sync-token (what davsync asks)
  listing + both      the same with sync-token and getctag
  token per coll      PROPFIND Depth 0 sync-token on each collection
  report per coll     sync-collection REPORT with the current token on each collection
"""
import argparse
import os
import re
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_compare import Server, sync_collection  # noqa: E402


def propfind(props, depth):
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
            'xmlns:CS="http://calendarserver.org/ns/"><D:prop>'
            + "".join(props) + "</D:prop></D:propfind>").encode()
    return body, {"Depth": depth}


def timed(runs, fn):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--venv", required=True)
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--servers", default="radicale,xandikos")
    args = ap.parse_args()
    print(f"N = {args.items} events + {args.items} cards, median of {args.runs}, "
          f"load average {os.getloadavg()[0]:.2f} at the start\n")
    print("| server | listing bare | listing + sync-token | listing + both tokens | "
          "sync-token per collection | sync-collection REPORT per collection |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind in args.servers.split(","):
        work = tempfile.mkdtemp(prefix="davsync-bench-unchanged-")
        server = Server(kind, os.path.abspath(args.venv), work)
        server.load(args.items)
        server.start()
        try:
            colls = [server.paths["cal"], server.paths["ab"]]
            homes = sorted({server.home("cal"), server.home("ab")})

            def ask(paths, req, want=207):
                for p in paths:
                    st, _, data = server.request("PROPFIND" if req[0].startswith(b"<?xml")
                                                 and b"propfind" in req[0] else "REPORT",
                                                 p, req[0], req[1])
                    if st != want:
                        sys.exit(f"{kind} {p}: {st} {data[:200]!r}")

            rt, tok, ctag = "<D:resourcetype/>", "<D:sync-token/>", "<CS:getctag/>"
            tokens = {}
            for p in colls:
                _, _, data = server.request("REPORT", p, sync_collection(""))
                tokens[p] = re.search(rb"sync-token>([^<]+)<", data).group(1).decode()
            ask(homes, propfind([rt, tok], "1"))  # warm caches
            cells = [
                timed(args.runs, lambda: ask(homes, propfind([rt], "1"))),
                timed(args.runs, lambda: ask(homes, propfind([rt, tok], "1"))),
                timed(args.runs, lambda: ask(homes, propfind([rt, tok, ctag], "1"))),
                timed(args.runs, lambda: ask(colls, propfind([tok], "0"))),
                timed(args.runs, lambda: [ask([p], (sync_collection(tokens[p]), {}))
                                          for p in colls]),
            ]
            print(f"| {kind} | " + " | ".join(f"{c:.0f} ms" for c in cells) + " |")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
