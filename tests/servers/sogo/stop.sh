#!/usr/bin/env bash
# Stops what start.sh RUNDIR started: sogod, memcached, PostgreSQL. Idempotent.
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib.sh"
RUN="${1:?usage: stop.sh RUNDIR}"
kill_group "$RUN/watchdog.pid"
kill_group "$RUN/sogo.pid"
kill_group "$RUN/memcached.pid"
pg_stop
