#!/usr/bin/env python3
"""Benchmark driver behind scripts/bench (run that: it builds the release binary first).

vdir benchmark (default): N events and N cards, vdir <-> vdir with collections: initial
sync, no-op sync, one-change sync; wall time and peak memory (max RSS from wait4) of each,
compared with `cp -r` of the same files.

Server benchmark (--server radicale|xandikos): M events, vdir <-> a real server on
loopback: initial upload, no-op sync, one-change sync; wall time, peak memory and the
requests the server saw, by method (from its log).

Prints a Markdown table and writes it to target/bench/<name>.md. Never fails on a time:
targets are reported, not asserted.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_items  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


GNU_TIME = "/usr/bin/time"


def measure_child(cmd, env=None, check=True, stdin=None, merge_stderr=False):
    """Runs cmd; returns (wall seconds, peak RSS in MiB, stdout). `stdin` (bytes) is fed to
    the command; `merge_stderr` folds stderr into the returned text.

    Peak RSS comes from GNU time when installed: Linux keeps a process's memory high-water
    mark across exec, so a child forked straight from this Python process would report at
    least Python's own RSS. GNU time is a small C program, so its child starts near zero.
    Without it, wait4's figure is used and the inherited floor is reported alongside.
    """
    use_time = os.access(GNU_TIME, os.X_OK)
    rss_file = tempfile.NamedTemporaryFile(delete=False)
    rss_file.close()
    full = [GNU_TIME, "-f", "%M", "-o", rss_file.name] + cmd if use_time else cmd
    outf = tempfile.TemporaryFile()
    errf = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    p = subprocess.Popen(full, stdout=outf, stderr=subprocess.STDOUT if merge_stderr else errf,
                         env=env,
                         stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
    if stdin is not None:
        p.stdin.write(stdin)
        p.stdin.close()
    _, status, rusage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if use_time:
        with open(rss_file.name) as f:
            rss_kib = int(f.read().split()[-1])
    else:
        rss_kib = rusage.ru_maxrss
    os.unlink(rss_file.name)
    outf.seek(0)
    out = outf.read().decode(errors="replace")
    if check and code != 0:
        errf.seek(0)
        err = out if merge_stderr else errf.read().decode(errors="replace")
        sys.exit(f"{' '.join(cmd)} exited {code}\n{err[-3000:]}")
    return wall, rss_kib / 1024, out


def memory_note():
    if os.access(GNU_TIME, os.X_OK):
        return "peak memory: max RSS measured by GNU time"
    _, floor, _ = measure_child(["true"])
    return (f"peak memory: max RSS from wait4, which includes about {floor:.1f} MiB inherited "
            "from the Python launcher (install GNU time for exact figures)")


def change_lines(out):
    verbs = ("Copying (", "Deleting item ", "Conflict: ", "Creating collection ")
    return [l for l in out.splitlines() if l.startswith(verbs)]


def fmt_row(name, wall, rss, ref=None, note=""):
    ratio = f"{wall / ref:.2f}x" if ref else ""
    return f"| {name} | {wall * 1000:.0f} ms | {rss:.1f} MiB | {ratio} | {note} |"


def edit_one(path, marker):
    with open(path, newline="") as f:
        text = f.read()
    lines = text.split("\r\n")
    for i, line in enumerate(lines):
        if line.startswith("SUMMARY:") or line.startswith("FN:"):
            lines[i] = line.split(":", 1)[0] + ":" + marker
            break
    with open(path, "w", newline="") as f:
        f.write("\r\n".join(lines))


def vdir_bench(args, work):
    n = args.items
    src = os.path.join(work, "src")
    dst = os.path.join(work, "dst")
    gen = os.path.join(ROOT, "scripts", "gen_items.py")
    subprocess.run([sys.executable, gen, "events", os.path.join(src, "cal", "home"), str(n)], check=True)
    subprocess.run([sys.executable, gen, "cards", os.path.join(src, "ab", "people"), str(n)], check=True)
    status = os.path.join(work, "status")
    config = os.path.join(work, "config.toml")
    with open(config, "w") as f:
        f.write(f"""[general]
status_path = '{status}'

[storage.cal_src]
type = "vdir"
path = '{src}/cal'
fileext = ".ics"

[storage.cal_dst]
type = "vdir"
path = '{dst}/cal'
fileext = ".ics"

[storage.ab_src]
type = "vdir"
path = '{src}/ab'
fileext = ".vcf"

[storage.ab_dst]
type = "vdir"
path = '{dst}/ab'
fileext = ".vcf"

[pair.cal]
a = "cal_src"
b = "cal_dst"
collections = ["from a"]

[pair.ab]
a = "ab_src"
b = "ab_dst"
collections = ["from a"]
""")
    os.makedirs(os.path.join(dst, "cal"))
    os.makedirs(os.path.join(dst, "ab"))
    sync = [args.bin, "--config", config, "sync"]

    def reset():
        shutil.rmtree(dst)
        shutil.rmtree(status, ignore_errors=True)
        os.makedirs(os.path.join(dst, "cal"))
        os.makedirs(os.path.join(dst, "ab"))
        # Let the disk finish the deletion first, or the next timed run pays for it.
        os.sync()

    # Warm the page cache so neither cp nor davsync pays for the first read.
    subprocess.run(["cp", "-r", src, os.path.join(work, "warm")], check=True)
    shutil.rmtree(os.path.join(work, "warm"))
    os.sync()

    cp_runs = []
    for _ in range(args.runs):
        target = os.path.join(work, "cp")
        cp_runs.append(measure_child(["cp", "-r", src, target]))
        shutil.rmtree(target)
        os.sync()

    initial = []
    for r in range(args.runs):
        if r:
            reset()
        wall, rss, out = measure_child(sync)
        changes = change_lines(out)
        if len(changes) != 2 * n + 2:
            sys.exit(f"initial sync printed {len(changes)} change lines, expected {2 * n + 2}")
        initial.append((wall, rss, out))
    copied = sum(len(fs) for _, _, fs in os.walk(dst))
    if copied < 2 * n:
        sys.exit(f"initial sync copied {copied} files, expected {2 * n}")

    noop = []
    for _ in range(max(args.runs, 5)):
        wall, rss, out = measure_child(sync)
        if change_lines(out):
            sys.exit(f"no-op sync made changes:\n{out[:2000]}")
        noop.append((wall, rss, out))

    one = []
    for r in range(max(args.runs, 5)):
        edit_one(os.path.join(src, "cal", "home", f"event-{r * 997 % n}.ics"), f"changed {r}")
        wall, rss, out = measure_child(sync)
        if len(change_lines(out)) != 1:
            sys.exit(f"one-change sync printed {len(change_lines(out))} change lines:\n{out[:2000]}")
        one.append((wall, rss, out))

    def med(runs):
        return statistics.median(w for w, _, _ in runs), max(r for _, r, _ in runs)

    cp_w, cp_r = med(cp_runs)
    in_w, in_r = med(initial)
    no_w, no_r = med(noop)
    one_w, one_r = med(one)
    rows = [
        f"vdir <-> vdir, {n} events + {n} cards ({2 * n} files), median of {args.runs}+ runs, "
        "peak = max RSS over the runs",
        memory_note(),
        "",
        "| run | wall time | peak memory | vs cp -r | target |",
        "| --- | ---: | ---: | ---: | --- |",
        fmt_row(f"cp -r of the same {2 * n} files", cp_w, cp_r),
        fmt_row("initial sync", in_w, in_r, cp_w,
                "within 3x of cp -r: " + ("met" if in_w <= 3 * cp_w else "MISSED")),
        fmt_row("no-op sync", no_w, no_r, cp_w,
                "under 150 ms and 40 MiB: " + ("met" if no_w < 0.150 and no_r < 40 else "MISSED")),
        fmt_row("one-change sync", one_w, one_r, cp_w),
    ]
    return "vdir", rows


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, log):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"server exited:\n{open(log).read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("server did not start")


def request_counts(log, kind, since):
    counts = Counter()
    with open(log, errors="replace") as f:
        f.seek(since)
        for line in f:
            if kind == "radicale":
                head, sep, _ = line.partition(" request for ")
                if sep:
                    counts[head.rsplit(" ", 1)[-1]] += 1
            else:
                parts = line.split('"')
                if len(parts) > 1 and parts[1].split():
                    counts[parts[1].split()[0]] += 1
    return counts


def server_bench(args, work):
    kind = args.server
    venv = os.environ.get("DAVSYNC_TEST_VENV") or os.path.join(ROOT, ".venv")
    exe = os.path.join(venv, "bin", kind)
    if not os.access(exe, os.X_OK):
        sys.exit(f"{exe} missing: run scripts/test once to create the venv")
    n = args.server_items
    port = free_port()
    log = os.path.join(work, "server.log")
    data = os.path.join(work, "data")
    if kind == "radicale":
        users = os.path.join(work, "users")
        with open(users, "w") as f:
            f.write("bench:bench\n")
        coll = os.path.join(data, "collection-root", "bench", "cal")
        os.makedirs(coll)
        with open(os.path.join(coll, ".Radicale.props"), "w") as f:
            f.write('{"tag": "VCALENDAR"}')
        conf = os.path.join(work, "radicale.conf")
        with open(conf, "w") as f:
            f.write(f"[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = htpasswd\n"
                    f"htpasswd_filename = {users}\nhtpasswd_encryption = plain\ndelay = 0\n"
                    f"[storage]\nfilesystem_folder = {data}\n[web]\ntype = none\n")
        cmd = [exe, "--config", conf]
        url = f"http://127.0.0.1:{port}/bench/cal/"
        creds = 'username = "bench"\npassword = "bench"\nauth = "basic"\n'
    else:
        cmd = [exe, "serve", "--defaults", "-d", data, "-l", "127.0.0.1", "-p", str(port),
               "--state-dir", os.path.join(work, "state"), "--no-detect-systemd"]
        url = f"http://127.0.0.1:{port}/user/calendars/calendar/"
        creds = ""
    local = os.path.join(work, "local")
    gen = os.path.join(ROOT, "scripts", "gen_items.py")
    subprocess.run([sys.executable, gen, "events", local, str(n)], check=True)
    config = os.path.join(work, "config.toml")
    with open(config, "w") as f:
        f.write(f"""[general]
status_path = '{work}/status'

[storage.local]
type = "vdir"
path = '{local}'
fileext = ".ics"

[storage.remote]
type = "caldav"
url = "{url}"
{creds}
[pair.p]
a = "local"
b = "remote"
""")
    with open(log, "w") as logf:
        server = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
    try:
        wait_port(port, server, log)
        sync = [args.bin, "--config", config, "sync"]
        rows = [
            f"vdir <-> {kind} on loopback, {n} events (one run each)",
            "",
            "| run | wall time | peak memory | requests |",
            "| --- | ---: | ---: | --- |",
        ]
        for name, prepare in [
            ("initial upload", lambda: None),
            ("no-op sync", lambda: None),
            ("one-change sync", lambda: edit_one(os.path.join(local, "event-7.ics"), "changed")),
        ]:
            prepare()
            since = os.path.getsize(log)
            wall, rss, _ = measure_child(sync)
            time.sleep(0.2)  # let the server flush its log
            counts = request_counts(log, kind, since)
            reqs = ", ".join(f"{m} {c}" for m, c in sorted(counts.items())) or "none logged"
            rows.append(f"| {name} | {wall * 1000:.0f} ms | {rss:.1f} MiB | {reqs} |")
        return kind, rows
    finally:
        server.kill()
        server.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the davsync binary to measure")
    ap.add_argument("--items", type=int, default=10000, help="events and cards each (vdir)")
    ap.add_argument("--runs", type=int, default=3, help="repetitions (median reported)")
    ap.add_argument("--server", choices=["radicale", "xandikos"], help="run the server benchmark")
    ap.add_argument("--server-items", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    work = tempfile.mkdtemp(prefix="davsync-bench-")
    try:
        name, rows = server_bench(args, work) if args.server else vdir_bench(args, work)
    finally:
        if args.keep:
            print(f"work directory kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    out_dir = os.path.join(ROOT, "target", "bench")
    os.makedirs(out_dir, exist_ok=True)
    text = "\n".join(rows) + "\n"
    with open(os.path.join(out_dir, f"{name}.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
