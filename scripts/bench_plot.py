#!/usr/bin/env python3
"""Draws wall time against N from scripts/bench_compare.py's results (run by
`scripts/bench-compare --plot`, which installs matplotlib into the bench venv first).

One panel per server and configuration ("vdir" for vdir <-> vdir; "xandikos from root" for
discovery from the root), one colour per scenario, davsync solid, vdirsyncer dashed where it
was run, the floors dotted (the server's whole-collection queries, or `cp -r` for vdir, in
the initial colour; its token sync-collection in the no-op colour), log-log axes. A last
panel shows davsync's peak memory (the largest RSS over the scenarios) against N for each
panel, with the 64 MiB target. Results of one configuration only (the many-collections
case, N = 0) are not drawn.
The SVG is written with a fixed hash salt, no date and text kept as text, so the same
results give the same file and it can be committed.

    bench_plot.py [--results target/bench/compare-results.json] [--out docs/bench-time-vs-n.svg]
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDER = ("radicale", "xandikos", "vdir", "radicale from root", "xandikos from root")
TITLES = {"radicale": "Radicale, direct URLs", "xandikos": "Xandikos, direct URLs",
          "vdir": "vdir <-> vdir", "radicale from root": "Radicale, discovery from the root",
          "xandikos from root": "Xandikos, discovery from the root"}
MEMORY_TARGET_MIB = 64
COLOURS = {"initial": "tab:blue", "no-op": "tab:green", "server edit": "tab:orange",
           "local edit": "tab:red", "one change": "tab:purple"}
# Which floor bounds which scenario: floor key -> scenario whose colour it takes.
FLOORS = {"query_ms": "initial", "token_ms": "no-op", "cp_ms": "initial"}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=os.path.join(ROOT, "target", "bench",
                                                      "compare-results.json"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "bench-time-vs-n.svg"))
    args = ap.parse_args()
    try:
        with open(args.results) as f:
            data = json.load(f)
    except FileNotFoundError:
        sys.exit(f"{args.results} missing: run scripts/bench-compare first")
    # Only results measured at several N (not the many-collections case, stored at N = 0).
    data = {k: {n: e for n, e in v.items() if e["n"] > 0} for k, v in data.items()}
    panels = [k for k in ORDER if data.get(k)] + sorted(k for k in data
                                                        if k not in ORDER and data[k])
    if not panels:
        sys.exit(f"{args.results} holds no results")

    plt.rcParams["svg.hashsalt"] = "davsync-bench"
    plt.rcParams["svg.fonttype"] = "none"
    cols = min(3, len(panels) + 1)
    rows = -(-(len(panels) + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.4 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(panels) + 1:]:
        ax.set_visible(False)
    scenarios_seen = []
    seconds = FuncFormatter(lambda y, _: f"{y:g}")
    for ax, key in zip(flat, panels):
        entries = sorted(data[key].values(), key=lambda e: e["n"])
        ns = [e["n"] for e in entries]
        scenarios = sorted(entries[-1]["scenarios"],
                           key=lambda sc: list(COLOURS).index(sc) if sc in COLOURS else 99)
        for sc in scenarios:
            if sc not in scenarios_seen:
                scenarios_seen.append(sc)
            colour = COLOURS.get(sc, "tab:gray")
            for tool, style in (("davsync", "-"), ("vdirsyncer", "--")):
                pts = [(e["n"], e["scenarios"][sc][tool]["wall_ms"] / 1000) for e in entries
                       if tool in e["scenarios"].get(sc, {})]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle=style,
                        marker="o", markersize=3.5, color=colour)
        for floor, sc in FLOORS.items():
            pts = [(e["n"], e["floors"][floor] / 1000) for e in entries if floor in e["floors"]]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle=":",
                        marker=".", color=COLOURS[sc])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ns)
        ax.set_xticklabels([f"{n:,}" for n in ns])
        ax.minorticks_off()
        ax.yaxis.set_major_formatter(seconds)
        ax.set_title(TITLES.get(key, key), fontsize=11)
        ax.set_xlabel("N (N events + N cards)")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_ylabel("wall time, s (median)")
    memory_panel(flat[len(panels)], data, panels)
    handles = [Line2D([], [], color=COLOURS.get(sc, "tab:gray"), label=sc)
               for sc in scenarios_seen]
    handles += [Line2D([], [], color="black", linestyle="-", label="davsync"),
                Line2D([], [], color="black", linestyle="--", label="vdirsyncer"),
                Line2D([], [], color=COLOURS["initial"], linestyle=":",
                       label="floor of initial (server: queries with data; vdir: cp -r)"),
                Line2D([], [], color=COLOURS["no-op"], linestyle=":",
                       label="floor of no-op (sync-collection with a token)")]
    fig.suptitle("Wall time against N, median of the runs: davsync solid, vdirsyncer dashed",
                 fontsize=12)
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1 / rows, 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.out.endswith(".svg"):
        fig.savefig(args.out, metadata={"Date": None})
    else:
        fig.savefig(args.out, dpi=110)  # a PNG to look at; the SVG is what the docs use
    print(f"wrote {args.out}", file=sys.stderr)


def memory_panel(ax, data, panels):
    """davsync's peak RSS (the largest over the scenarios of each N) against N, one line per
    panel, and the target."""
    ns = set()
    for i, key in enumerate(panels):
        entries = sorted(data[key].values(), key=lambda e: e["n"])
        pts = [(e["n"], max(s["davsync"]["rss_mib"] for s in e["scenarios"].values()))
               for e in entries]
        ns.update(n for n, _ in pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3.5,
                color=f"C{i}", label=TITLES.get(key, key))
    ax.axhline(MEMORY_TARGET_MIB, color="black", linestyle=":", linewidth=1,
               label=f"target {MEMORY_TARGET_MIB} MiB")
    ax.set_xscale("log")
    ax.set_xticks(sorted(ns))
    ax.set_xticklabels([f"{n:,}" for n in sorted(ns)])
    ax.minorticks_off()
    ax.set_ylim(0, MEMORY_TARGET_MIB * 1.25)
    ax.set_title("davsync peak memory (RSS)", fontsize=11)
    ax.set_xlabel("N (N events + N cards)")
    ax.set_ylabel("MiB, largest of the scenarios")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, frameon=False)


if __name__ == "__main__":
    main()
