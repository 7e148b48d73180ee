#!/usr/bin/env bash
# SabreDAV 1.8 (Debian php-sabre-dav): the packaged groupware example on SQLite under `php -S`.
# Usage: [SABRE_AUTH=basic] start.sh RUNDIR PORT. User test/test, HTTP Digest (realm SabreDAV)
# unless SABRE_AUTH=basic; calendar /calendars/test/default/, address book
# /addressbooks/test/default/. Conventions: ../lib.sh.
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib.sh"
setup sabredav "$@"
need_packages php-sabre-dav php-sqlite3 php-cli sqlite3 curl
EX=/usr/share/doc/php-sabre-dav/examples
fresh_rundir
mkdir -p "$RUN/data"
digest=$(printf '%s' 'test:SabreDAV:test' | md5sum | cut -d' ' -f1)
{
    for t in principals users calendars addressbooks locks; do cat "$EX/sql/sqlite.$t.sql"; echo ';'; done
    cat <<SQL
INSERT INTO users (username, digesta1) VALUES ('test', '$digest');
INSERT INTO principals (uri, email, displayname) VALUES ('principals/test', 'test@example.com', 'Test');
INSERT INTO principals (uri) VALUES ('principals/test/calendar-proxy-read');
INSERT INTO principals (uri) VALUES ('principals/test/calendar-proxy-write');
INSERT INTO calendars (principaluri, displayname, uri, ctag, description, calendarorder, calendarcolor, timezone, components, transparent)
    VALUES ('principals/test', 'Default', 'default', 1, '', 0, '', '', 'VEVENT,VTODO', 0);
INSERT INTO addressbooks (principaluri, displayname, uri, description, ctag)
    VALUES ('principals/test', 'Default', 'default', '', 1);
SQL
} | sqlite3 "$RUN/data/db.sqlite"
# The example server with: an absolute database path; PHP 8 deprecation notices not turned
# into exceptions by the example's error handler; /.well-known/{caldav,carddav} redirected to
# the root (RFC 6764), as a web server in front of it would.
{
    echo '<?php'
    echo 'if (preg_match("#^/\.well-known/(caldav|carddav)#", $_SERVER["REQUEST_URI"])) { header("Location: /", true, 301); return; }'
    sed -e '1d' \
        -e "s#sqlite:data/db.sqlite#sqlite:$RUN/data/db.sqlite#" \
        -e 's#^function exception_error_handler(\$errno, \$errstr, \$errfile, \$errline ) {#&\n    if ($errno \& (E_DEPRECATED | E_USER_DEPRECATED)) return true;#' \
        "$EX/groupwareserver.php"
} >"$RUN/server.php"
if [ "${SABRE_AUTH:-digest}" = basic ]; then
    python3 - "$RUN/server.php" <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
old = "$authBackend      = new \\Sabre\\DAV\\Auth\\Backend\\PDO($pdo);"
new = """$authBackend = new class($pdo) extends \\Sabre\\DAV\\Auth\\Backend\\AbstractBasic {
    private $db;
    function __construct($db) { $this->db = $db; }
    protected function validateUserPass($user, $pass) {
        $q = $this->db->prepare('SELECT digesta1 FROM users WHERE username = ?');
        $q->execute([$user]);
        $a1 = $q->fetchColumn();
        return $a1 !== false && hash_equals($a1, md5("$user:SabreDAV:$pass"));
    }
};"""
if old not in src:
    sys.exit("sabredav/start.sh: the example's auth backend line moved")
open(path, "w").write(src.replace(old, new))
PY
fi
cd "$RUN"
setsid php -d display_errors=0 -d log_errors=1 -S "127.0.0.1:$PORT" "$RUN/server.php" >"$RUN/php.log" 2>&1 </dev/null &
echo $! >"$RUN/php.pid"
watchdog
wait_207 "http://127.0.0.1:$PORT/calendars/test/default/" "--${SABRE_AUTH:-digest}" || { tail "$RUN/php.log" >&2; exit 1; }
started "http://127.0.0.1:$PORT/"
