#!/usr/bin/env bash
# Stops what start.sh RUNDIR started (cyrmaster stops its children on TERM). Idempotent.
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib.sh"
RUN="${1:?usage: stop.sh RUNDIR}"
kill_group "$RUN/watchdog.pid"
kill_group "$RUN/master.pid"
