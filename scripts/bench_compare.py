#!/usr/bin/env python3
"""davsync next to vdirsyncer against real servers and vdir to vdir (driver behind
scripts/bench-compare).

For each server (Radicale, Xandikos; on loopback, installed from PyPI into a venv) and each N
of --items, loads N events and N cards straight into a fresh server store, then runs
davsync and vdirsyncer alternately, RUNS times each, on the same collections, each tool
with its own local vdirs and status:

  initial      sync to empty vdirs (status wiped before each run)
  no-op        sync with nothing changed
  server edit  one item edited on the server (by a plain PUT), then sync
  local edit   one item edited in the tool's vdir, then sync (the other tool's sync that
               picks the upload up runs untimed, so each timed run sees one change)

Reports medians of wall time and peak RSS, the requests the server logged by method, the
ratios davsync/vdirsyncer, and the server floor: one calendar-query + one addressbook-query
REPORT with data of the whole collections by plain HTTP (what an initial sync must at
least wait for), and one sync-collection REPORT per collection with a current token (what a
no-op sync must at least wait for).

vdir <-> vdir (each N of --vdir-items; 0 skips it): both tools sync the same generated
source vdirs (a calendar and an address book, `collections = ["from a"]`) into empty
destination vdirs of their own, alternately: initial, no-op, and one change (one event
edited in the source, then each tool syncs it). The floor is `cp -r` of the source tree.
Compared with the targets for 10,000 + 10,000 items: no-op under 150 ms, initial at least
6x faster than vdirsyncer.

Prints Markdown tables (--out also writes them to a file, --write-docs into the marked
section of docs/performance-servers.md) and merges the raw medians into
target/bench/compare-results.json, keyed by server ("vdir" for vdir <-> vdir) and N, which
scripts/bench_plot.py draws (--plot). Targets are reported, never asserted.
"""
import argparse
import http.client
import json
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
from bench import change_lines, edit_one, free_port, measure_child  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "target", "bench", "compare-results.json")
DOCS = os.path.join(ROOT, "docs", "performance-servers.md")
PLOT = os.path.join(ROOT, "docs", "bench-time-vs-n.svg")
BEGIN, END = "<!-- bench-compare:begin -->", "<!-- bench-compare:end -->"
TOOLS = ("davsync", "vdirsyncer")
SERVER_SCENARIOS = ("initial", "no-op", "server edit", "local edit")
VDIR_SCENARIOS = ("initial", "no-op", "one change")


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
                # Radicale's default failed-login delay (1 s) stays: it is what users get,
                # and what a client that waits for the 401 pays.
                f.write(f"[server]\nhosts = 127.0.0.1:{self.port}\n[auth]\ntype = htpasswd\n"
                        f"htpasswd_filename = {users}\nhtpasswd_encryption = plain\n"
                        f"[storage]\nfilesystem_folder = {self.data}\n"
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

    def root_url(self):
        return f"http://127.0.0.1:{self.port}/"

    def home(self, coll):
        """The home set in which collections of `coll` ("cal", "ab") live."""
        return os.path.dirname(self.paths[coll].rstrip("/")) + "/"

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

    def load_many(self, calendars, books, items, empty):
        """`calendars` calendars and `books` address books of `items` items each, the last
        `empty` of each kind empty: the many-collections case. Returns the collection
        count."""
        cal_home, ab_home = self.home("cal"), self.home("ab")
        colls = ([(f"{cal_home}cal-{i:02}/", "events", i >= calendars - empty)
                  for i in range(calendars)]
                 + [(f"{ab_home}book-{i}/", "cards", i >= books - min(empty, 1))
                    for i in range(books)])
        if self.kind == "xandikos":
            self.start()
            for path, what, _ in colls:
                if what == "events":
                    st, _, data = self.request("MKCALENDAR", path, MKCALENDAR)
                else:
                    st, _, data = self.request("MKCOL", path, MKCOL_ADDRESSBOOK)
                if st not in (200, 201):
                    self.stop()
                    sys.exit(f"creating {path} on xandikos: {st} {data[:300]!r}")
            self.stop()
        for k, (path, what, is_empty) in enumerate(colls):
            if self.kind == "radicale":
                d = os.path.join(self.data, "collection-root", path.strip("/"))
                os.makedirs(d, exist_ok=True)
                tag = "VCALENDAR" if what == "events" else "VADDRESSBOOK"
                with open(os.path.join(d, ".Radicale.props"), "w") as f:
                    f.write(f'{{"tag": "{tag}"}}')
            else:
                d = os.path.join(self.data, path.strip("/"))
            if is_empty:
                continue
            make, ext = (gen_items.event, ".ics") if what == "events" else (gen_items.card, ".vcf")
            for i in range(items):
                uid = f"{what[:-1]}-{k}-{i}"
                with open(os.path.join(d, uid + ext), "w", newline="") as f:
                    f.write(make(uid, i))
            if self.kind == "xandikos":
                self.commit_all(d)
        # Xandikos --defaults also made an (empty) calendar and address book.
        return len(colls) + (2 if self.kind == "xandikos" else 0)

    def commit_all(self, d):
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
        """Requests logged since `since`, counted by "METHOD STATUS" (e.g. "PROPFIND 401")."""
        time.sleep(0.3)  # let the server flush its log
        counts = Counter()
        with open(self.log, errors="replace") as f:
            f.seek(since)
            for line in f:
                if self.kind == "radicale":
                    # "... [INFO] PROPFIND response status for '/x/' ... : 207 Multi-Status"
                    head, sep, tail = line.partition(" response status for ")
                    if sep:
                        m = re.search(r": (\d{3})\b[^:]*$", tail)
                        counts[f"{head.rsplit(' ', 1)[-1]} {m.group(1) if m else '?'}"] += 1
                else:
                    # Access log: ... "PROPFIND /x/ HTTP/1.1" 207 ...
                    parts = line.split('"')
                    if len(parts) > 2 and parts[1].split():
                        status = (parts[2].split() or ["?"])[0]
                        counts[f"{parts[1].split()[0]} {status}"] += 1
        return counts


WARM_LISTING = b"""<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:sync-token/></D:prop></D:propfind>"""
MKCALENDAR = b"""<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>
<D:displayname>bench</D:displayname></D:prop></D:set></C:mkcalendar>"""
MKCOL_ADDRESSBOOK = b"""<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>
<D:resourcetype><D:collection/><C:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>"""
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
    """One synchronizer with its config, local vdirs and status under `work`.

    mode "root" (the main case, what most users configure): both storages of each pair at
    the server's root URL, `collections = ["from b"]`, username and password, the default
    `auth`. mode "direct": each storage points straight at one collection (no discovery),
    `auth = "basic"` for davsync (vdirsyncer always sends Basic unasked).
    """

    def __init__(self, name, work, server, davsync_bin, venv, mode="root"):
        self.name = name
        self.mode = mode
        self.dir = os.path.join(work, f"{server.kind}-{mode}-{name}")
        self.local = {c: os.path.join(self.dir, "local", c) for c in ("cal", "ab")}
        self.status = os.path.join(self.dir, "status")
        self.config = os.path.join(self.dir, "config")
        self.vdirsyncer = os.path.join(venv, "bin", "vdirsyncer")
        os.makedirs(self.dir)
        creds = ""
        if server.auth:
            creds = f'username = "{server.auth[0]}"\npassword = "{server.auth[1]}"\n'
        root = mode == "root"
        url = {c: server.root_url() if root else server.url(c) for c in ("cal", "ab")}
        if name == "davsync":
            text = f"[general]\nstatus_path = '{self.status}'\n"
            for c, ext, typ in (("cal", ".ics", "caldav"), ("ab", ".vcf", "carddav")):
                text += (f"[storage.{c}_local]\ntype = \"vdir\"\npath = '{self.local[c]}'\n"
                         f"fileext = \"{ext}\"\n[storage.{c}_remote]\ntype = \"{typ}\"\n"
                         f"url = \"{url[c]}\"\n{creds}"
                         + ('auth = "basic"\n' if server.auth and not root else "")
                         + f"[pair.{c}]\na = \"{c}_local\"\nb = \"{c}_remote\"\n"
                         + ('collections = ["from b"]\n' if root else "")
                         + "conflict_resolution = \"b wins\"\n")
            self.cmd = [davsync_bin, "--config", self.config, "sync"]
            self.env = None
        else:
            text = f"[general]\nstatus_path = \"{self.status}/\"\n"
            for c, ext, typ in (("cal", ".ics", "caldav"), ("ab", ".vcf", "carddav")):
                text += (f"[pair {c}]\na = \"{c}_local\"\nb = \"{c}_remote\"\n"
                         + ('collections = ["from b"]\n' if root else "collections = null\n")
                         + "conflict_resolution = \"b wins\"\n"
                         f"[storage {c}_local]\ntype = \"filesystem\"\n"
                         f"path = \"{self.local[c]}/\"\n"
                         f"fileext = \"{ext}\"\n[storage {c}_remote]\ntype = \"{typ}\"\n"
                         f"url = \"{url[c]}\"\n{creds}")
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
                    stdin=b"y\n" * 100)

    def sync(self):
        return measure(self.cmd, env=self.env)

    def count_local(self):
        return sum(1 for p in self.local.values() for _, _, files in os.walk(p)
                   for f in files if f.endswith((".ics", ".vcf")))

    def calendar_folder(self):
        """A local folder holding events (the calendar's own folder in mode root)."""
        for d, _, files in sorted(os.walk(self.local["cal"])):
            if any(f.endswith(".ics") for f in files):
                return d
        sys.exit(f"no .ics under {self.local['cal']}")


def bench_server(kind, n, args, work, mode="root"):
    """Floors and results ((tool, scenario) -> [(wall, rss, Counter)]) for N items each."""
    server = Server(kind, args.venv, work)
    print(f"[{kind}] loading {n} events + {n} cards", file=sys.stderr)
    server.load(n)
    server.start()
    try:
        # Warm the server (Radicale builds its caches on first read).
        server_floor(server, 1)
        floor_query, floor_token = server_floor(server, args.runs)
        if args.multiget_sweep:
            sweep = multiget_sweep(server, n, [10, 25, 50, 100, 200, 500, 1000], args.runs)
            return floor_query, floor_token, sweep
        tools = [Tool(name, work, server, args.bin, args.venv, mode) for name in args.tools]
        results = {}  # (tool, scenario) -> list of (wall, rss, Counter)

        def timed(tool, scenario):
            since = server.log_offset()
            wall, rss, out = tool.sync()
            counts = server.requests_since(since)
            results.setdefault((tool.name, scenario), []).append((wall, rss, counts))
            return out

        for r in range(args.runs):
            for t in tools:
                print(f"[{kind} {n} {mode}] initial {t.name} run {r + 1}", file=sys.stderr)
                t.reset()
                timed(t, "initial")
                if t.count_local() != 2 * n:
                    sys.exit(f"{t.name} initial sync left {t.count_local()} items locally, "
                             f"expected {2 * n}")
        print(f"[{kind} {n} {mode}] no-op, server edit, local edit", file=sys.stderr)
        for r in range(args.runs):
            for t in tools:
                timed(t, "no-op")
        for r in range(args.runs):
            edit_on_server(server, f"event-{(r * 7 + 1) % n}.ics", f"server edit {r}")
            time.sleep(0.5)  # the edit's own log line must land before the count starts
            for t in tools:
                timed(t, "server edit")
        for r in range(args.runs):
            for i, t in enumerate(tools):
                edit_local(t.calendar_folder(), f"local edit {t.name} {r}")
                timed(t, "local edit")
                # The other tool picks the upload up untimed, so its timed run sees one change.
                if len(tools) == 2:
                    tools[1 - i].sync()
        return floor_query, floor_token, results
    finally:
        server.stop()


def bench_many(kind, args, work):
    """The many-collections case: initial (1 run, untimed second sync so both tools hold
    their tokens), then `runs` no-ops. Returns (collections, results)."""
    server = Server(kind, args.venv, work)
    cals, books, items, empty = args.many
    print(f"[{kind} many] loading {cals} calendars + {books} address books of {items} items "
          f"({empty} calendars and 1 address book empty)", file=sys.stderr)
    count = server.load_many(cals, books, items, empty)
    server.start()
    try:
        # Warm the server as the other cases do (Radicale builds its item cache on the first
        # read of each collection; a server in use has it).
        for home in sorted({server.home("cal"), server.home("ab")}):
            server.request("PROPFIND", home, WARM_LISTING, {"Depth": "1"})
        tools = [Tool(name, work, server, args.bin, args.venv, "root") for name in args.tools]
        results = {}

        def timed(tool, scenario):
            since = server.log_offset()
            wall, rss, _ = tool.sync()
            results.setdefault((tool.name, scenario), []).append(
                (wall, rss, server.requests_since(since)))

        for t in tools:
            print(f"[{kind} many] initial {t.name}", file=sys.stderr)
            t.reset()
            timed(t, "initial")
            t.sync()
        for r in range(args.runs):
            for t in tools:
                timed(t, "no-op")
        return count, results
    finally:
        server.stop()


def many_table(kind, entry):
    sc, count = entry["scenarios"], entry["collections"]
    cals, books, items, empty = entry["shape"]
    rows = [f"### {kind}, many collections from the root: {cals} calendars + {books} address "
            f"books of {items} items ({empty} calendars and 1 address book empty), "
            f"{runs_text(entry['runs'])}, load {entry['load']}", "",
            "| | davsync | vdirsyncer |", "| --- | ---: | ---: |"]
    for name in ("initial", "no-op"):
        d, v = sc[name]["davsync"], sc[name]["vdirsyncer"]
        rows.append(f"| {name} | {d['wall_ms']:.0f} ms | {v['wall_ms']:.0f} ms |")
    d, v = sc["no-op"]["davsync"], sc["no-op"]["vdirsyncer"]
    nd, nv = sum(d["requests"].values()), sum(v["requests"].values())
    rows += [f"| no-op requests | {reqs(d['requests'])} | {reqs(v['requests'])} |",
             f"| no-op requests per collection ({count}) | {nd / count:.2f} | "
             f"{nv / count:.2f} |", ""]
    return rows


class VdirTool:
    """One synchronizer syncing the shared source vdirs into destination vdirs of its own."""

    def __init__(self, name, work, src, davsync_bin, venv):
        self.name = name
        self.dir = os.path.join(work, name)
        self.dst = os.path.join(self.dir, "dst")
        self.status = os.path.join(self.dir, "status")
        self.config = os.path.join(self.dir, "config")
        self.vdirsyncer = os.path.join(venv, "bin", "vdirsyncer")
        os.makedirs(self.dir)
        colls = (("cal", ".ics"), ("ab", ".vcf"))
        if name == "davsync":
            text = f"[general]\nstatus_path = '{self.status}'\n"
            for c, ext in colls:
                for side, root in (("src", src), ("dst", self.dst)):
                    text += (f"[storage.{c}_{side}]\ntype = \"vdir\"\n"
                             f"path = '{os.path.join(root, c)}'\nfileext = \"{ext}\"\n")
                text += (f"[pair.{c}]\na = \"{c}_src\"\nb = \"{c}_dst\"\n"
                         "collections = [\"from a\"]\n")
            self.cmd = [davsync_bin, "--config", self.config, "sync"]
            self.env = None
        else:
            text = f"[general]\nstatus_path = \"{self.status}/\"\n"
            for c, ext in colls:
                text += (f"[pair {c}]\na = \"{c}_src\"\nb = \"{c}_dst\"\n"
                         "collections = [\"from a\"]\n")
                for side, root in (("src", src), ("dst", self.dst)):
                    text += (f"[storage {c}_{side}]\ntype = \"filesystem\"\n"
                             f"path = \"{os.path.join(root, c)}\"\nfileext = \"{ext}\"\n")
            self.cmd = [self.vdirsyncer, "-c", self.config, "sync"]
            self.env = dict(os.environ, VDIRSYNCER_CONFIG=self.config)
        with open(self.config, "w") as f:
            f.write(text)

    def reset(self):
        for p in (self.status, self.dst):
            shutil.rmtree(p, ignore_errors=True)
        for c in ("cal", "ab"):
            os.makedirs(os.path.join(self.dst, c))
        # Let the disk finish the deletion first, or the next timed run pays for it.
        os.sync()
        if self.name == "vdirsyncer":
            # Untimed: vdirsyncer needs its collections discovered (and the destination
            # collections created) before the first sync.
            measure([self.vdirsyncer, "-c", self.config, "discover"], env=self.env,
                    stdin=b"y\n" * 10)

    def sync(self):
        return measure(self.cmd, env=self.env)

    def count_dst(self):
        return sum(1 for _, _, files in os.walk(self.dst)
                   for f in files if f.endswith((".ics", ".vcf")))


def bench_vdir(n, args, work):
    """cp -r floor and results ((tool, scenario) -> [(wall, rss, Counter)]), N items each."""
    print(f"[vdir {n}] generating {n} events + {n} cards", file=sys.stderr)
    src = os.path.join(work, "src")
    gen = os.path.join(ROOT, "scripts", "gen_items.py")
    subprocess.run([sys.executable, gen, "events", os.path.join(src, "cal", "home"), str(n)],
                   check=True)
    subprocess.run([sys.executable, gen, "cards", os.path.join(src, "ab", "people"), str(n)],
                   check=True)
    # Warm the page cache so that no run pays for the first read of the source.
    warm = os.path.join(work, "warm")
    subprocess.run(["cp", "-r", src, warm], check=True)
    shutil.rmtree(warm)
    os.sync()
    cp_runs = []
    for _ in range(args.runs):
        cp_runs.append(measure(["cp", "-r", src, warm])[0])
        shutil.rmtree(warm)
        os.sync()
    tools = [VdirTool(name, work, src, args.bin, args.venv) for name in args.tools]
    results = {}

    def timed(tool, scenario, want_changes):
        wall, rss, out = tool.sync()
        changes = change_lines(out)
        if want_changes is not None and len(changes) != want_changes:
            sys.exit(f"{tool.name} {scenario} sync printed {len(changes)} change lines, "
                     f"expected {want_changes}:\n{out[:2000]}")
        results.setdefault((tool.name, scenario), []).append((wall, rss, Counter()))

    for r in range(args.runs):
        for t in tools:
            print(f"[vdir {n}] initial {t.name} run {r + 1}", file=sys.stderr)
            t.reset()
            timed(t, "initial", None)
            if t.count_dst() != 2 * n:
                sys.exit(f"{t.name} initial sync left {t.count_dst()} items in its "
                         f"destination, expected {2 * n}")
    print(f"[vdir {n}] no-op, one change", file=sys.stderr)
    for r in range(args.runs):
        for t in tools:
            timed(t, "no-op", 0)
    for r in range(args.runs):
        edit_one(os.path.join(src, "cal", "home", f"event-{r * 997 % n}.ics"),
                 f"changed {r}")
        for t in tools:
            timed(t, "one change", 1)
    return statistics.median(cp_runs), results


def summarize(results, scenarios):
    """Medians per scenario and tool, as stored in the JSON: wall ms, peak RSS MiB, and the
    requests of the last run (by method and status: a no-op's steady state, after the runs
    before it took their sync tokens)."""
    out = {}
    for sc in scenarios:
        out[sc] = {}
        for tool in [t for t in TOOLS if (t, sc) in results]:
            rs = results[(tool, sc)]
            out[sc][tool] = {
                "wall_ms": round(statistics.median(w for w, _, _ in rs) * 1000, 1),
                "rss_mib": round(statistics.median(m for _, m, _ in rs), 1),
                "requests": dict(sorted(rs[-1][2].items())),
            }
    return out


def reqs(c):
    return ", ".join(f"{m} {k}" for m, k in sorted(c.items())) or "none"


def runs_text(runs):
    return f"median of {runs} runs" if runs != 1 else "1 run"


def ratio_cells(d, v):
    return f"{d / v:.3f} ({v / d:.1f}x faster)"


def server_table(kind, entry, heading="###"):
    n, sc = entry["n"], entry["scenarios"]
    how = {"root": "discovery from the root, username + password, default auth",
           "direct": "storages at one collection each (direct URL)"}[entry.get("mode", "direct")]
    rows = [f"{heading} {kind}, {how}, {n} events + {n} cards, {runs_text(entry['runs'])}, "
            f"load average {entry.get('load', '?')}", "",
            "| scenario | davsync | vdirsyncer | davsync / vdirsyncer | davsync RSS | "
            "vdirsyncer RSS | davsync requests | vdirsyncer requests |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for name in SERVER_SCENARIOS:
        d, v = sc[name]["davsync"], sc[name].get("vdirsyncer")
        if v:
            rows.append(f"| {name} | {d['wall_ms']:.0f} ms | {v['wall_ms']:.0f} ms | "
                        f"{ratio_cells(d['wall_ms'], v['wall_ms'])} | {d['rss_mib']:.1f} MiB | "
                        f"{v['rss_mib']:.1f} MiB | {reqs(d['requests'])} | "
                        f"{reqs(v['requests'])} |")
        else:
            rows.append(f"| {name} | {d['wall_ms']:.0f} ms | not run | | {d['rss_mib']:.1f} MiB "
                        f"| | {reqs(d['requests'])} | |")
    fq, ft = entry["floors"]["query_ms"], entry["floors"]["token_ms"]
    rows += ["",
             f"Server floor (plain HTTP from Python, both collections): whole-collection "
             f"queries with data {fq:.0f} ms (davsync initial = "
             f"{sc['initial']['davsync']['wall_ms'] / fq:.2f}x of it); sync-collection with a "
             f"current token {ft:.0f} ms (davsync no-op = "
             f"{sc['no-op']['davsync']['wall_ms'] / ft:.2f}x of it).",
             ""]
    return rows


def growth_table(key, by_n):
    """davsync's time per item and peak memory against N for one server configuration, from
    the accumulated results: whether both grow linearly (targets: time per item at the
    largest N within 1.3x of the next smaller N's, peak memory under 64 MiB)."""
    entries = sorted(by_n.values(), key=lambda e: e["n"])
    rows = [f"### Growth: {key}, davsync, time per item and peak memory against N", "",
            "| N (events + cards) | runs | load | " + " | ".join(
                f"{sc} ms (per item)" for sc in SERVER_SCENARIOS)
            + " | peak RSS | initial vs vdirsyncer |",
            "| ---: | ---: | --- |" + " ---: |" * len(SERVER_SCENARIOS) + " ---: | ---: |"]
    for e in entries:
        n, sc = e["n"], e["scenarios"]
        cells = [f"{sc[s]['davsync']['wall_ms']:.0f} ({sc[s]['davsync']['wall_ms'] * 1000 / (2 * n):.0f} µs)"
                 for s in SERVER_SCENARIOS]
        rss = max(sc[s]["davsync"]["rss_mib"] for s in SERVER_SCENARIOS)
        v = sc["initial"].get("vdirsyncer")
        vs = f"{v['wall_ms'] / sc['initial']['davsync']['wall_ms']:.1f}x faster" if v else "not run"
        rows.append(f"| {n:,} + {n:,} | {e['runs']} | {e.get('load', '?')} | "
                    + " | ".join(cells) + f" | {rss:.1f} MiB | {vs} |")
    rows.append("")
    if len(entries) >= 2:
        a, b = entries[-2], entries[-1]
        per = [e["scenarios"]["initial"]["davsync"]["wall_ms"] / (2 * e["n"]) for e in (a, b)]
        rss = max(b["scenarios"][s]["davsync"]["rss_mib"] for s in SERVER_SCENARIOS)
        growth = per[1] / per[0]
        rows += [f"Initial sync time per item at N = {b['n']:,}: {growth:.2f}x that at "
                 f"N = {a['n']:,} (target at most 1.3x: {'met' if growth <= 1.3 else 'MISSED'}); "
                 f"peak memory {rss:.1f} MiB (target under 64 MiB: "
                 f"{'met' if rss < 64 else 'MISSED'}).", ""]
    return rows


def vdir_table(entry, heading="###"):
    n, sc = entry["n"], entry["scenarios"]
    rows = [f"{heading} vdir <-> vdir, {n} events + {n} cards ({2 * n} files), "
            f"{runs_text(entry['runs'])}", "",
            "| scenario | davsync | vdirsyncer | davsync / vdirsyncer | davsync RSS | "
            "vdirsyncer RSS |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in VDIR_SCENARIOS:
        d, v = sc[name]["davsync"], sc[name]["vdirsyncer"]
        rows.append(f"| {name} | {d['wall_ms']:.0f} ms | {v['wall_ms']:.0f} ms | "
                    f"{ratio_cells(d['wall_ms'], v['wall_ms'])} | {d['rss_mib']:.1f} MiB | "
                    f"{v['rss_mib']:.1f} MiB |")
    cp = entry["floors"]["cp_ms"]
    init_d = sc["initial"]["davsync"]["wall_ms"]
    init_v = sc["initial"]["vdirsyncer"]["wall_ms"]
    noop_d = sc["no-op"]["davsync"]["wall_ms"]
    faster = init_v / init_d
    scope = "" if n == 10000 else " (set for 10,000 + 10,000 items; this run has a different N)"
    rows += ["",
             f"Floor: `cp -r` of the same {2 * n} files {cp:.0f} ms (davsync initial = "
             f"{init_d / cp:.2f}x of it, vdirsyncer initial = {init_v / cp:.2f}x).", "",
             f"| target{scope} | measured | |", "| --- | ---: | --- |",
             f"| no-op under 150 ms | {noop_d:.0f} ms | "
             + ("met" if noop_d < 150 else "MISSED") + " |",
             f"| initial at least 6x faster than vdirsyncer | {faster:.1f}x | "
             + ("met" if faster >= 6 else "MISSED") + " |",
             ""]
    return rows


def merge_results(path, key, n, entry):
    """Adds one (server, N) entry to the JSON file, keeping the others, so separate
    invocations (N = 1000, then N = 5000) accumulate."""
    data = {}
    if os.path.exists(path):
        with open(path) as f:
            data = json.load(f)
    data.setdefault(key, {})[str(n)] = entry
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def write_docs(path, text):
    """Replaces what lies between the bench-compare markers in `path` with `text`."""
    with open(path) as f:
        doc = f.read()
    b, e = doc.find(BEGIN), doc.find(END)
    if b < 0 or e < b:
        sys.exit(f"{path}: markers {BEGIN} ... {END} not found")
    doc = doc[:b + len(BEGIN)] + "\n" + text.strip("\n") + "\n" + doc[e:]
    with open(path, "w") as f:
        f.write(doc)
    print(f"wrote the tables into {path}", file=sys.stderr)


def int_list(text):
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of counts: {text}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the davsync binary (release build)")
    ap.add_argument("--venv", required=True, help="venv with radicale, xandikos, vdirsyncer")
    ap.add_argument("--items", type=int_list, default=[1000],
                    help="events and cards each per server; a comma list runs each N in turn "
                         "(e.g. 1000,5000)")
    ap.add_argument("--vdir-items", type=int_list, default=[10000],
                    help="events and cards each for vdir <-> vdir (default 10000, so 20,000 "
                         "items); a comma list runs each; 0 skips it")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--servers", default="radicale,xandikos",
                    help="comma list; 'none' runs only vdir <-> vdir")
    ap.add_argument("--out", help="also write the Markdown here")
    ap.add_argument("--results", default=RESULTS,
                    help="JSON the medians are merged into (default target/bench/"
                         "compare-results.json)")
    ap.add_argument("--plot", action="store_true",
                    help=f"draw {os.path.relpath(PLOT, ROOT)} from the results afterwards "
                         "(needs matplotlib in the venv)")
    ap.add_argument("--write-docs", action="store_true",
                    help="put the tables between the bench-compare markers of "
                         "docs/performance-servers.md")
    ap.add_argument("--modes", default="root,direct",
                    help="comma list of configurations per server: root (discovery from the "
                         "server root, the main case) and direct (URL of each collection)")
    ap.add_argument("--many", type=int_list, default=[20, 5, 300, 3],
                    help="the many-collections case: calendars, address books, items each, "
                         "empty calendars (default 20,5,300,3); 0 skips it")
    ap.add_argument("--tools", default=",".join(TOOLS),
                    help="comma list of the tools to run (default davsync,vdirsyncer); "
                         "'davsync' alone runs the server cases without vdirsyncer, for "
                         "large N where vdirsyncer takes very long")
    ap.add_argument("--growth", action="store_true",
                    help="after the run, print davsync's time per item and peak memory "
                         "against N for each server and configuration measured, from all the "
                         "accumulated results")
    ap.add_argument("--multiget-sweep", action="store_true",
                    help="only time whole-calendar reads by multiget batch size")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    args.venv = os.path.abspath(args.venv)
    args.tools = [t for t in TOOLS if t in args.tools.split(",")]
    if "davsync" not in args.tools:
        sys.exit(f"--tools must include davsync (one of {', '.join(TOOLS)})")
    if "vdirsyncer" not in args.tools and (any(n > 0 for n in args.vdir_items)
                                           or (args.many and args.many[0] > 0)):
        sys.exit("--tools davsync runs the server cases only: add --vdir-items 0 --many 0")
    servers = [s for s in args.servers.split(",") if s and s != "none"]
    vdir_items = [n for n in args.vdir_items if n > 0] if not args.multiget_sweep else []
    if any(n <= 0 for n in args.items) and servers:
        sys.exit("--items: every N must be positive (use --servers none to skip servers)")
    work = tempfile.mkdtemp(prefix="davsync-bench-compare-")
    now = datetime.now(timezone.utc)
    machine = (f"Measured {now:%Y-%m-%d %H:%M} UTC on "
               f"{platform.machine()} {platform.system()} {platform.release()}, "
               f"{os.cpu_count()} CPUs ({cpu_model()}), load average "
               f"{os.getloadavg()[0]:.1f} at the start, Python {platform.python_version()}; "
               f"{versions(args.venv)}; davsync {davsync_version(args.bin)}.")
    rows = [machine, ""]
    started = time.monotonic()

    def entry_for(n, floors, results, scenarios, load=None):
        return {"n": n, "runs": args.runs, "measured": f"{now:%Y-%m-%dT%H:%M}Z",
                "machine": machine, "floors": floors, "load": load or load_text(),
                "scenarios": summarize(results, scenarios)}

    modes = [m for m in args.modes.split(",") if m]

    try:
        for kind, n, mode in [(k, n, m) for m in modes for k in servers for n in args.items]:
            nwork = os.path.join(work, f"{kind}-{n}-{mode}")
            os.makedirs(nwork)
            load_before = load_text()
            fq, ft, results = bench_server(kind, n, args, nwork, mode)
            shutil.rmtree(nwork, ignore_errors=True)
            os.sync()
            if args.multiget_sweep:
                rows += [f"### {kind}: reading {n} events by multiget, by batch size",
                         "", "| hrefs per REPORT | " + " | ".join(map(str, results)) + " |",
                         "| --- |" + " ---: |" * len(results),
                         "| whole calendar | " + " | ".join(f"{t * 1000:.0f} ms"
                                                        for t in results.values()) + " |",
                         f"| (one calendar-query with data, for reference: both "
                         f"collections {fq * 1000:.0f} ms) |" + " |" * len(results), ""]
                continue
            floors = {"query_ms": round(fq * 1000, 1), "token_ms": round(ft * 1000, 1)}
            entry = entry_for(n, floors, results, SERVER_SCENARIOS,
                              f"{load_before} before, {load_text()} after")
            entry["mode"] = mode
            key = kind if mode == "direct" else f"{kind} from root"
            merge_results(args.results, key, n, entry)
            rows += server_table(kind, entry)
        if args.many and args.many[0] > 0 and not args.multiget_sweep:
            for kind in servers:
                nwork = os.path.join(work, f"{kind}-many")
                os.makedirs(nwork)
                load_before = load_text()
                count, results = bench_many(kind, args, nwork)
                shutil.rmtree(nwork, ignore_errors=True)
                entry = entry_for(0, {}, results, ("initial", "no-op"),
                                  f"{load_before} before, {load_text()} after")
                entry.update(collections=count, shape=args.many)
                merge_results(args.results, f"{kind} many collections", 0, entry)
                rows += many_table(kind, entry)
        for n in vdir_items:
            nwork = os.path.join(work, f"vdir-{n}")
            os.makedirs(nwork)
            cp, results = bench_vdir(n, args, nwork)
            shutil.rmtree(nwork, ignore_errors=True)
            os.sync()
            entry = entry_for(n, {"cp_ms": round(cp * 1000, 1)}, results, VDIR_SCENARIOS)
            merge_results(args.results, "vdir", n, entry)
            rows += vdir_table(entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"measured in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if args.growth:
        with open(args.results) as f:
            data = json.load(f)
        for mode in modes:
            for kind in servers:
                key = kind if mode == "direct" else f"{kind} from root"
                if data.get(key):
                    rows += growth_table(key, data[key])
    text = "\n".join(rows) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)
    if args.plot:
        subprocess.run([os.path.join(args.venv, "bin", "python"),
                        os.path.join(ROOT, "scripts", "bench_plot.py"),
                        "--results", args.results, "--out", PLOT], check=True)
    if args.write_docs:
        if os.path.exists(PLOT):
            text += ("\n![Wall time against N, davsync solid, vdirsyncer dashed, floors "
                     f"dotted]({os.path.basename(PLOT)})\n")
        write_docs(DOCS, text)


def load_text():
    """The 1-minute load average now: the machine may be shared, so each figure says how
    busy it was."""
    return f"{os.getloadavg()[0]:.2f}"


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
