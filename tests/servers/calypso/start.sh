#!/usr/bin/env bash
# Calypso (Debian package, Python, each collection a git repository).
# Usage: start.sh RUNDIR PORT. User test/test (Basic, plain htpasswd); calendar
# /test/calendar/, address book /test/addressbook/. Conventions: ../lib.sh.
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib.sh"
setup calypso "$@"
need_packages calypso git curl
fresh_rundir
mkdir -p "$RUN/home" "$RUN/data"
# Calypso commits every change: git needs an identity, kept inside RUNDIR.
export HOME="$RUN/home" GIT_CONFIG_NOSYSTEM=1
git config --global user.name calypso
git config --global user.email calypso@localhost
git config --global init.defaultBranch main
echo "test:test" >"$RUN/htpasswd"
cat >"$RUN/config" <<CONF
[server]
host = 127.0.0.1
port = $PORT
ssl = False
pidfile = $RUN/calypso.pid
[acl]
type = htpasswd
encryption = plain
filename = $RUN/htpasswd
personal = True
[storage]
folder = $RUN/data
CONF
"$HERE/mkcol.sh" "$RUN" calendar calendar
"$HERE/mkcol.sh" "$RUN" addressbook addressbook
export CALYPSO_CONFIG="$RUN/config"
setsid calypso -f >"$RUN/calypso.log" 2>&1 </dev/null &
echo $! >"$RUN/launcher.pid"
watchdog
wait_207 "http://127.0.0.1:$PORT/test/calendar/" || { tail "$RUN/calypso.log" >&2; exit 1; }
started "http://127.0.0.1:$PORT/"
