# Shared by tests/servers/<name>/{start,stop}.sh. Sourced, not run.
#
# Conventions of every start.sh:  start.sh RUNDIR PORT
#   - installs the server's Debian packages when missing (root on Debian only);
#   - starts the server on 127.0.0.1:PORT with all its state under RUNDIR (wiped first);
#   - creates the user test / test with one calendar and one address book;
#   - prints the base URL on stdout once the server answers a PROPFIND with 207.
#   Exit 3: the server cannot be had here (not Debian, not root, package missing); the reason
#   is on stderr. Any other failure: exit 1 with the server's log tail on stderr.
#   With OWNER_PID set, a watchdog stops the server when that process is gone, so a test run
#   killed before it could clean up leaves no server behind.
# stop.sh RUNDIR stops exactly what start.sh started there, by the PIDs it recorded.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PGBIN=/usr/lib/postgresql/15/bin

unavailable() { echo "$SERVER: $*" >&2; exit 3; }
fail() { echo "$SERVER: $*" >&2; exit 1; }

# need_packages PKG...: installs what is missing, serialized across parallel starts.
need_packages() {
    local missing=() p
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ -r /etc/debian_version ] || unavailable "needs the Debian packages ${missing[*]}, and this is not Debian"
    [ "$(id -u)" = 0 ] || unavailable "needs the Debian packages ${missing[*]}: run as root, or: sudo tests/servers/install.sh $SERVER"
    (
        flock 9
        # Lists never fetched on this machine: once, here (scripts/test does it up front in CI).
        if [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial)" ]; then
            apt-get update -q >/dev/null
        fi
        apt-get install -y -q --no-install-recommends "${missing[@]}" >"${TMPDIR:-/tmp}/davsync-apt-$SERVER.log" 2>&1 \
            || { tail -20 "${TMPDIR:-/tmp}/davsync-apt-$SERVER.log" >&2; exit 1; }
    ) 9>/tmp/davsync-tests-apt.lock || unavailable "installing ${missing[*]} failed (log: ${TMPDIR:-/tmp}/davsync-apt-$SERVER.log)"
}

# fresh_rundir: RUNDIR wiped (after stopping what ran there) and readable by the servers'
# own users (postgres, sogo, cyrus).
fresh_rundir() {
    if [ -d "$RUN" ]; then "$HERE/stop.sh" "$RUN" >/dev/null 2>&1 || true; fi
    rm -rf "$RUN"; mkdir -p "$RUN"; chmod 755 "$RUN"
    local d; d=$(dirname "$RUN"); chmod o+x "$d" 2>/dev/null || true
}

# wait_207 URL [curl auth args]: until a PROPFIND Depth 0 answers 207 (15 s at most).
wait_207() {
    local url=$1 code=000 i; shift
    for i in $(seq 1 150); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$@" -u test:test -X PROPFIND -H 'Depth: 0' "$url" 2>/dev/null || true)
        [ "$code" = 207 ] && return 0
        sleep 0.1
    done
    echo "$SERVER did not answer 207 at $url (last status $code)" >&2
    return 1
}

# kill_group PIDFILE: TERM the process group led by the PID (setsid), KILL after 5 s.
kill_group() {
    local f=$1 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
}

# pg_start: a private PostgreSQL on a unix socket in $RUN/sock (no TCP), no fsync.
pg_start() {
    mkdir -p "$RUN/sock" "$RUN/pgdata"
    touch "$RUN/pg.log"
    chown postgres:postgres "$RUN/sock" "$RUN/pgdata" "$RUN/pg.log"; chmod 700 "$RUN/pgdata"; chmod 777 "$RUN/sock"
    runuser -u postgres -- "$PGBIN/initdb" -D "$RUN/pgdata" -A trust -U postgres -E UTF8 --no-sync >"$RUN/initdb.log" 2>&1 \
        || { cat "$RUN/initdb.log" >&2; fail "initdb failed"; }
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$RUN/pgdata" -l "$RUN/pg.log" -w -o \
        "-c listen_addresses='' -c unix_socket_directories=$RUN/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || { tail "$RUN/pg.log" >&2; fail "PostgreSQL did not start"; }
}

pg_stop() {
    if [ -f "$RUN/pgdata/postmaster.pid" ]; then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$RUN/pgdata" -m immediate -w stop >/dev/null 2>&1 || true
    fi
}

# watchdog: stops the server once OWNER_PID is gone (see above).
watchdog() {
    [ -n "${OWNER_PID:-}" ] || return 0
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -d "$3" ]; do sleep 1; done; "$2" "$3" >/dev/null 2>&1' \
        _ "$OWNER_PID" "$HERE/stop.sh" "$RUN" </dev/null >/dev/null 2>&1 &
    echo $! >"$RUN/watchdog.pid"
}

# started: the base URL on stdout, the start time on stderr.
started() {
    echo "$SERVER started in $(( $(date +%s%N) / 1000000 - T0 )) ms" >&2
    echo "$1"
}

setup() {
    SERVER=$1
    RUN="${2:?usage: start.sh RUNDIR PORT}"
    PORT="${3:?usage: start.sh RUNDIR PORT}"
    mkdir -p "$RUN"; RUN=$(cd "$RUN" && pwd)
    T0=$(( $(date +%s%N) / 1000000 ))
}
