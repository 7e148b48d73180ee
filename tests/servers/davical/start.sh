#!/usr/bin/env bash
# DAViCal (Debian package) on a private PostgreSQL (unix socket only) under `php -S`.
# Usage: [DAVICAL_AUTH=digest] start.sh RUNDIR PORT. User test/test (Basic; Digest with
# DAVICAL_AUTH=digest); calendar /caldav.php/test/calendar/, address book
# /caldav.php/test/addresses/. Conventions: ../lib.sh.
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib.sh"
setup davical "$@"
need_packages davical postgresql php-cli php-pgsql curl
# DAViCal reads /etc/davical/<SERVER_NAME>-conf.php; `php -S` sets SERVER_NAME=127.0.0.1. The
# database comes from the environment, so one file serves every instance.
conf=/etc/davical/127.0.0.1-conf.php
want=$(cat <<'PHP'
<?php
// Written by davsync's tests/servers/davical/start.sh: one file for every test instance.
$c->pg_connect[] = getenv('DAVICAL_PG_CONNECT') ?: 'dbname=davical user=davical_app';
$c->admin_email = 'admin@example.com';
$c->system_name = 'DAViCal (davsync tests)';
if (getenv('DAVICAL_AUTH') === 'digest') $c->http_auth_mode = 'Digest';
PHP
)
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
    printf '%s\n' "$want" >"$conf.$$" && mv "$conf.$$" "$conf"
fi
fresh_rundir
pg_start
( cd /tmp && runuser -u postgres -- env PGHOST="$RUN/sock" PGPORT=5432 \
    /usr/share/davical/dba/create-database.sh davical adminpass ) >"$RUN/createdb.log" 2>&1 \
    || { tail -20 "$RUN/createdb.log" >&2; fail "creating the database failed"; }
export DAVICAL_PG_CONNECT="dbname=davical user=davical_app host=$RUN/sock port=5432"
export PORT
php -d display_errors=stderr -r '
    chdir("/usr/share/davical/htdocs");
    $_SERVER += ["SERVER_NAME" => "127.0.0.1", "SERVER_PORT" => getenv("PORT"), "SCRIPT_NAME" => "/caldav.php",
                 "DOCUMENT_ROOT" => "/usr/share/davical/htdocs", "REQUEST_METHOD" => "GET", "REQUEST_URI" => "/",
                 "REMOTE_ADDR" => "127.0.0.1"];
    require_once("./always.php"); require_once("Principal.php"); require_once("auth-functions.php");
    $p = new Principal("username", "test");
    if (!$p->Exists()) {
        $p->Create(["username" => "test", "password" => "**test", "fullname" => "Test", "email" => "test@example.com", "active" => true]);
        CreateHomeCollections("test");
    }' >"$RUN/mkuser.log" 2>&1 || { cat "$RUN/mkuser.log" >&2; fail "creating user test failed"; }
# /.well-known/ goes to caldav.php, as DAViCal's Apache configuration does.
cat >"$RUN/router.php" <<'PHP'
<?php
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if (preg_match('#^/\.well-known/#', $path)) {
    $_SERVER['SCRIPT_NAME'] = '/caldav.php';
    $_SERVER['SCRIPT_FILENAME'] = '/usr/share/davical/htdocs/caldav.php';
    $_SERVER['PATH_INFO'] = $path;
    chdir('/usr/share/davical/htdocs');
    require '/usr/share/davical/htdocs/caldav.php';
    return true;
}
return false;
PHP
cd /usr/share/davical/htdocs
PHP_CLI_SERVER_WORKERS=4 setsid php -d display_errors=0 -d log_errors=1 -S "127.0.0.1:$PORT" \
    -t /usr/share/davical/htdocs "$RUN/router.php" >"$RUN/php.log" 2>&1 </dev/null &
echo $! >"$RUN/php.pid"
watchdog
wait_207 "http://127.0.0.1:$PORT/caldav.php/test/calendar/" --anyauth || { tail "$RUN/php.log" >&2; exit 1; }
started "http://127.0.0.1:$PORT/caldav.php/"
