#!/usr/bin/env bash
# mkcol.sh RUNDIR NAME calendar|addressbook [DISPLAYNAME]: creates a collection of user test
# in the server's storage. Calypso answers 501 to extended MKCOL, and its MKCALENDAR makes a
# collection of no type, so the tests create collections the way its admin would.
set -euo pipefail
RUN=$1 NAME=$2 TYPE=$3 DISPLAY=${4:-}
export HOME="$RUN/home" GIT_CONFIG_NOSYSTEM=1
dir="$RUN/data/test/$NAME"
mkdir -p "$dir"
cd "$dir"
git init -q
{
    echo '[collection]'
    echo "is-$TYPE = 1"
    [ -z "$DISPLAY" ] || echo "displayname = $DISPLAY"
} >.calypso-collection
git add .calypso-collection
git commit -q -m "create $NAME"
