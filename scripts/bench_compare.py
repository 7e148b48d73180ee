#!/usr/bin/env python3
"""davsync next to vdirsyncer against real servers (driver behind scripts/bench-compare).

For each server (Radicale, Xandikos; on loopback, installed from PyPI into a venv), loads
N events and N cards straight into the server's store, then runs davsync and vdirsyncer
alternately, RUNS times each, on the same collections, each tool with its own local vdirs
and status:

  initial      sync to empty vdirs (status wiped before each run)
  no-op        sync with nothing changed
  server edit  one item edited on the server (by a plain PUT), then sync
  local edit   one item edited in the tool's vdir, then sync (the other tool's sync that
               picks the upload up runs untimed, so each timed run sees one change)

Reports medians of wall time and peak RSS, the requests the server logged by method, the
ratios davsync/vdirsyncer, and the server floor: one calendar-query + one addressbook-query
REPORT with data of the whole collections by plain HTTP (what an initial sync must at
least wait for), and one sync-collection REPORT per collection with a current token (what a
no-op sync must at least wait for). Writes a Markdown table. Targets are reported, never
asserted.
"""
import argparse
import http.client
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_items  # noqa: E402
from bench import free_port, measure_child  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(cmd, env=None, stdin=None):
    """(wall seconds, peak RSS MiB, stdout+stderr); exits on failure. See bench.measure_child."""
    return measure_child(cmd, env=env, stdin=stdin, merge_stderr=True)


class Server:
    """One server process on loopback with its store in `work`."""

    def __init__(self, kind, venv, work):
        self.kind = kind
        self.exe = os.path.join(venv, "bin", kind)
        self.python = os.path.join(venv, "bin", "python")
        self.work = os.path.join(work, kind)
        os.makedirs(self.work)
        self.port = free_port()
        self.log = os.path.join(self.work, "server.log")
        self.data = os.path.join(self.work, "data")
        self.proc = None
        if kind == "radicale":
            users = os.path.join(self.work, "users")
            with open(users, "w") as f:
                f.write("bench:bench\n")
            conf = os.path.join(self.work, "radicale.conf")
            with open(conf, "w") as f:
                f.write(f"[server]\nhosts = 127.0.0.1:{self.port}\n[auth]\ntype = htpasswd\n"
                        f"htpasswd_filename = {users}\nhtpasswd_encryption = plain\n"
                        f"delay = 0\n[storage]\nfilesystem_folder = {self.data}\n"
                        "[web]\ntype = none\n[logging]\nlevel = info\n")
            self.cmd = [self.exe, "--config", conf]
            self.paths = {"cal": "/bench/cal/", "ab": "/bench/ab/"}
            self.auth = ("bench", "bench")
        else:
            self.cmd = [self.exe, "serve", "--defaults", "-d", self.data, "-l", "127.0.0.1",
                        "-p", str(self.port), "--state-dir", os.path.join(self.work, "state"),
                        "--no-detect-systemd"]
            self.paths = {"cal": "/user/calendars/calendar/", "ab": "/user/contacts/addressbook/"}
            self.auth = None

    def url(self, coll):
        return f"http://127.0.0.1:{self.port}{self.paths[coll]}"

    def start(self):
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(self.cmd, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        for _ in range(300):
            if self.proc.poll() is not None:
                sys.exit(f"{self.kind} exited:\n{open(self.log).read()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        sys.exit(f"{self.kind} did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def coll_dir(self, coll):
        if self.kind == "radicale":
            return os.path.join(self.data, "collection-root", "bench", coll)
        return os.path.join(self.data, self.paths[coll].strip("/"))

    def load(self, n):
        """N events and N cards written into the store while the server is stopped."""
        if self.kind == "xandikos":
            self.start()  # --defaults creates the collections
            self.stop()
        for coll, what, tag in (("cal", "events", "VCALENDAR"), ("ab", "cards", "VADDRESSBOOK")):
            d = self.coll_dir(coll)
            os.makedirs(d, exist_ok=True)
            if self.kind == "radicale":
                with open(os.path.join(d, ".Radicale.props"), "w") as f:
                    f.write(f'{{"tag": "{tag}"}}')
            make, ext = (gen_items.event, ".ics") if what == "events" else (gen_items.card, ".vcf")
            for i in range(n):
                uid = f"{what[:-1]}-{i}"
                with open(os.path.join(d, uid + ext), "w", newline="") as f:
                    f.write(make(uid, i))
            if self.kind == "xandikos":
                # One commit for all, where a PUT per item would make a commit each.
                subprocess.run([self.python, "-c",
                                "import os, sys\nfrom dulwich import porcelain\nr = sys.argv[1]\n"
                                "paths = [os.path.join(r, x) for x in os.listdir(r) "
                                "if not x.startswith('.')]\nporcelain.add(r, paths=paths)\n"
                                "who = b'bench <bench@example.org>'\n"
                                "porcelain.commit(r, message=b'load', author=who, committer=who)\n",
                                d], check=True)

    def request(self, method, path, body=b"", headers=None):
        import base64
        h = {"Content-Type": "application/xml; charset=utf-8"}
        if self.auth:
            h["Authorization"] = "Basic " + base64.b64encode(
                f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        h.update(headers or {})
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def log_offset(self):
        return os.path.getsize(self.log)

    def requests_since(self, since):
        time.sleep(0.3)  # let the server flush its log
        counts = Counter()
        with open(self.log, errors="replace") as f:
            f.seek(since)
            for line in f:
                if self.kind == "radicale":
                    head, sep, _ = line.partition(" request for ")
                    if sep:
                        counts[head.rsplit(" ", 1)[-1]] += 1
                else:
                    parts = line.split('"')
                    if len(parts) > 1 and parts[1].split():
                        counts[parts[1].split()[0]] += 1
        return counts


CAL_QUERY = b"""<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><C:calendar-data/></D:prop>
<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>"""
CARD_QUERY = b"""<?xml version="1.0" encoding="utf-8"?>
<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
<D:prop><D:getetag/><C:address-data/></D:prop></C:addressbook-query>"""


def sync_collection(token):
    return (f'<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
            f'<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>'
            f'<D:prop><D:getetag/></D:prop></D:sync-collection>').encode()


def server_floor(server, runs):
    """Median seconds of (both whole-collection queries, both token syncs)."""
    queries, tokens = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        for coll, body in (("cal", CAL_QUERY), ("ab", CARD_QUERY)):
            st, _, data = server.request("REPORT", server.paths[coll], body, {"Depth": "1"})
            if st != 207 or data.count(b"getetag>") < 2:
                sys.exit(f"floor query on {server.kind}/{coll}: {st} {data[:300]!r}")
        queries.append(time.perf_counter() - t0)
        toks = {}
        for coll in ("cal", "ab"):
            st, _, data = server.request("REPORT", server.paths[coll], sync_collection(""))
            m = re.search(rb"sync-token>([^<]+)<", data)
            if st != 207 or not m:
                sys.exit(f"sync-collection on {server.kind}/{coll}: {st} {data[:300]!r}")
            toks[coll] = m.group(1).decode()
        t0 = time.perf_counter()
        for coll in ("cal", "ab"):
            st, _, _ = server.request("REPORT", server.paths[coll], sync_collection(toks[coll]))
            if st != 207:
                sys.exit(f"token sync-collection on {server.kind}/{coll}: {st}")
        tokens.append(time.perf_counter() - t0)
    return statistics.median(queries), statistics.median(tokens)


def multiget_sweep(server, n, sizes, runs):
    """Seconds to read the whole calendar by multiget REPORTs of each batch size (sequential,
    plain HTTP): the server's cost per batch size, which sets davsync's default."""
    hrefs = [f"{server.paths['cal']}event-{i}.ics" for i in range(n)]
    out = {}
    for size in sizes:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            for k in range(0, n, size):
                body = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget '
                        'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>'
                        '<D:getetag/><C:calendar-data/></D:prop>'
                        + "".join(f"<D:href>{h}</D:href>" for h in hrefs[k:k + size])
                        + "</C:calendar-multiget>").encode()
                st, _, _ = server.request("REPORT", server.paths["cal"], body, {"Depth": "1"})
                if st != 207:
                    sys.exit(f"multiget of {size} on {server.kind}: {st}")
            times.append(time.perf_counter() - t0)
        out[size] = statistics.median(times)
    return out


def edit_on_server(server, name, marker):
    path = server.paths["cal"] + name
    st, h, data = server.request("GET", path)
    if st != 200:
        sys.exit(f"GET {path}: {st}")
    text = re.sub(rb"SUMMARY:[^\r\n]*", b"SUMMARY:" + marker.encode(), data, count=1)
    st, _, _ = server.request("PUT", path, text, {"If-Match": h["etag"],
                                                  "Content-Type": "text/calendar"})
    if st not in (200, 201, 204):
        sys.exit(f"PUT {path}: {st}")


def edit_local(folder, marker):
    for name in sorted(os.listdir(folder)):
        if name.endswith(".ics"):
            p = os.path.join(folder, name)
            with open(p, newline="") as f:
                text = f.read()
            text = re.sub(r"SUMMARY:[^\r\n]*", "SUMMARY:" + marker, text, count=1)
            with open(p, "w", newline="") as f:
                f.write(text)
            return
    sys.exit(f"no .ics in {folder}")


class Tool:
    """One synchronizer with its config, local vdirs and status under `work`."""

    def __init__(self, name, work, server, davsync_bin, venv):
        self.name = name
        self.dir = os.path.join(work, f"{server.kind}-{name}")
        self.local = {c: os.path.join(self.dir, "local", c) for c in ("cal", "ab")}
        self.status = os.path.join(self.dir, "status")
        self.config = os.path.join(self.dir, "config")
        self.vdirsyncer = os.path.join(venv, "bin", "vdirsyncer")
        os.makedirs(self.dir)
        creds = ""
        if server.auth:
            creds = f'username = "{server.auth[0]}"\npassword = "{server.auth[1]}"\n'
        if name == "davsync":
            text = f"[general]\nstatus_path = '{self.status}'\n"
            for c, ext, typ in (("cal", ".ics", "caldav"), ("ab", ".vcf", "carddav")):
                text += (f"[storage.{c}_local]\ntype = \"vdir\"\npath = '{self.local[c]}'\n"
                         f"fileext = \"{ext}\"\n[storage.{c}_remote]\ntype = \"{typ}\"\n"
                         f"url = \"{server.url(c)}\"\n{creds}"
                         + ('auth = "basic"\n' if server.auth else "")
                         + f"[pair.{c}]\na = \"{c}_local\"\nb = \"{c}_remote\"\n"
                         "conflict_resolution = \"b wins\"\n")
            self.cmd = [davsync_bin, "--config", self.config, "sync"]
            self.env = None
        else:
            text = f"[general]\nstatus_path = \"{self.status}/\"\n"
            for c, ext, typ in (("cal", ".ics", "caldav"), ("ab", ".vcf", "carddav")):
                text += (f"[pair {c}]\na = \"{c}_local\"\nb = \"{c}_remote\"\n"
                         "collections = null\nconflict_resolution = \"b wins\"\n"
                         f"[storage {c}_local]\ntype = \"filesystem\"\npath = \"{self.local[c]}\"\n"
                         f"fileext = \"{ext}\"\n[storage {c}_remote]\ntype = \"{typ}\"\n"
                         f"url = \"{server.url(c)}\"\n{creds}")
            self.cmd = [self.vdirsyncer, "-c", self.config, "sync"]
            self.env = dict(os.environ, VDIRSYNCER_CONFIG=self.config)
        with open(self.config, "w") as f:
            f.write(text)

    def reset(self):
        for p in [self.status] + list(self.local.values()):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.local.values():
            os.makedirs(p)
        # Let the disk finish the deletion first, or the next timed run pays for it.
        os.sync()
        if self.name == "vdirsyncer":
            # Untimed: vdirsyncer needs its collections discovered before the first sync.
            measure([self.vdirsyncer, "-c", self.config, "discover"], env=self.env,
                    stdin=b"y\n" * 10)

    def sync(self):
        return measure(self.cmd, env=self.env)

    def count_local(self):
        return sum(len([n for n in os.listdir(p) if not n.startswith(".")])
                   for p in self.local.values())


def bench_server(kind, args, work):
    server = Server(kind, args.venv, work)
    print(f"[{kind}] loading {args.items} events + {args.items} cards", file=sys.stderr)
    server.load(args.items)
    server.start()
    try:
        # Warm the server (Radicale builds its caches on first read).
        server_floor(server, 1)
        floor_query, floor_token = server_floor(server, args.runs)
        if args.multiget_sweep:
            sweep = multiget_sweep(server, args.items, [10, 25, 50, 100, 200, 500, 1000],
                                   args.runs)
            return server, floor_query, floor_token, sweep
        tools = [Tool("davsync", work, server, args.bin, args.venv),
                 Tool("vdirsyncer", work, server, args.bin, args.venv)]
        results = {}  # (tool, scenario) -> list of (wall, rss, Counter)

        def timed(tool, scenario):
            since = server.log_offset()
            wall, rss, out = tool.sync()
            counts = server.requests_since(since)
            results.setdefault((tool.name, scenario), []).append((wall, rss, counts))
            return out

        for r in range(args.runs):
            for t in tools:
                print(f"[{kind}] initial {t.name} run {r + 1}", file=sys.stderr)
                t.reset()
                timed(t, "initial")
                if t.count_local() != 2 * args.items:
                    sys.exit(f"{t.name} initial sync left {t.count_local()} items locally, "
                             f"expected {2 * args.items}")
        for r in range(args.runs):
            for t in tools:
                timed(t, "no-op")
        for r in range(args.runs):
            edit_on_server(server, f"event-{r * 7 + 1}.ics", f"server edit {r}")
            time.sleep(0.5)  # the edit's own log line must land before the count starts
            for t in tools:
                timed(t, "server edit")
        for r in range(args.runs):
            for i, t in enumerate(tools):
                edit_local(t.local["cal"], f"local edit {t.name} {r}")
                timed(t, "local edit")
                # The other tool picks the upload up untimed, so its timed run sees one change.
                tools[1 - i].sync()
        return server, floor_query, floor_token, results
    finally:
        server.stop()


def table(kind, n, runs, floor_query, floor_token, results):
    def med(tool, sc):
        rs = results[(tool, sc)]
        wall = statistics.median(w for w, _, _ in rs)
        rss = statistics.median(m for _, m, _ in rs)
        counts = rs[len(rs) // 2][2]
        return wall, rss, counts

    def reqs(c):
        return ", ".join(f"{m} {k}" for m, k in sorted(c.items())) or "none"

    rows = [f"### {kind}, {n} events + {n} cards, median of {runs} runs", "",
            "| scenario | davsync | vdirsyncer | davsync / vdirsyncer | davsync RSS | "
            "vdirsyncer RSS | davsync requests | vdirsyncer requests |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for sc in ("initial", "no-op", "server edit", "local edit"):
        dw, dr, dc = med("davsync", sc)
        vw, vr, vc = med("vdirsyncer", sc)
        rows.append(f"| {sc} | {dw * 1000:.0f} ms | {vw * 1000:.0f} ms | {dw / vw:.3f} "
                    f"({vw / dw:.1f}x faster) | {dr:.1f} MiB | {vr:.1f} MiB | {reqs(dc)} | "
                    f"{reqs(vc)} |")
    dw_init = med("davsync", "initial")[0]
    dw_noop = med("davsync", "no-op")[0]
    rows += ["",
             f"Server floor (plain HTTP from Python, both collections): whole-collection "
             f"queries with data {floor_query * 1000:.0f} ms (davsync initial = "
             f"{dw_init / floor_query:.2f}x of it); sync-collection with a current token "
             f"{floor_token * 1000:.0f} ms (davsync no-op = {dw_noop / floor_token:.2f}x of it).",
             ""]
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the davsync binary (release build)")
    ap.add_argument("--venv", required=True, help="venv with radicale, xandikos, vdirsyncer")
    ap.add_argument("--items", type=int, default=1000, help="events and cards each")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--servers", default="radicale,xandikos")
    ap.add_argument("--out", help="also write the Markdown here")
    ap.add_argument("--multiget-sweep", action="store_true",
                    help="only time whole-calendar reads by multiget batch size")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    work = tempfile.mkdtemp(prefix="davsync-bench-compare-")
    rows = [f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on "
            f"{platform.machine()} {platform.system()} {platform.release()}, "
            f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}; "
            f"{versions(args.venv)}; davsync {davsync_version(args.bin)}.", ""]
    try:
        for kind in args.servers.split(","):
            _, fq, ft, results = bench_server(kind, args, work)
            if args.multiget_sweep:
                rows += [f"### {kind}: reading {args.items} events by multiget, by batch size",
                         "", "| hrefs per REPORT | " + " | ".join(map(str, results)) + " |",
                         "| --- |" + " ---: |" * len(results),
                         "| whole calendar | " + " | ".join(f"{t * 1000:.0f} ms"
                                                        for t in results.values()) + " |",
                         f"| (one calendar-query with data, for reference: both collections "
                         f"{fq * 1000:.0f} ms) |" + " |" * len(results), ""]
                continue
            rows += table(kind, args.items, args.runs, fq, ft, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(rows) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def versions(venv):
    out = subprocess.run([os.path.join(venv, "bin", "pip"), "list", "--format=freeze"],
                         capture_output=True, text=True).stdout
    want = {"radicale", "xandikos", "vdirsyncer"}
    return ", ".join(l.replace("==", " ") for l in out.splitlines()
                     if l.split("==")[0].lower() in want)


def davsync_version(binary):
    return subprocess.run([binary, "--version"], capture_output=True,
                          text=True).stdout.strip().split()[-1:][0] if binary else "?"


if __name__ == "__main__":
    main()
