#!/usr/bin/env bash
# SOGo 5.8 (Debian package): sogod serving HTTP itself (no Apache), a private PostgreSQL for
# storage and users, memcached, both on unix sockets. Usage: start.sh RUNDIR PORT. User
# test/test (Basic); calendar /SOGo/dav/test/Calendar/personal/, address book
# /SOGo/dav/test/Contacts/personal/. Conventions: ../lib.sh.
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib.sh"
setup sogo "$@"
need_packages sogo postgresql memcached curl
fresh_rundir
mkdir -p "$RUN/home" "$RUN/log"
chmod 1777 "$RUN/log"; chown sogo "$RUN/home"
pg_start
psql -qX -h "$RUN/sock" -U postgres -v ON_ERROR_STOP=1 postgres >"$RUN/sql.log" <<'SQL'
CREATE USER sogo PASSWORD 'sogo';
CREATE DATABASE sogo OWNER sogo;
\c sogo sogo
CREATE TABLE sogo_users (c_uid varchar(255) PRIMARY KEY, c_name varchar(255),
    c_password varchar(255), c_cn varchar(255), mail varchar(255));
INSERT INTO sogo_users VALUES ('test', 'test', 'test', 'Test', 'test@example.com');
SQL
setsid memcached -u memcache -s "$RUN/sock/memcached" -a 0777 -m 32 </dev/null >"$RUN/log/memcached.log" 2>&1 &
echo $! >"$RUN/memcached.pid"
# Every setting as a command-line default (they override /etc/sogo/sogo.conf).
db="postgresql://sogo:sogo@%2F${RUN//\//%2F}%2Fsock:5432/sogo"
args=(
    -WONoDetach YES -WOPort "127.0.0.1:$PORT" -WOWorkersCount 3
    -WOLogFile "$RUN/log/sogo.log" -WOPidFile "$RUN/log/sogod.pid"
    -SOGoProfileURL "$db/sogo_user_profile" -OCSFolderInfoURL "$db/sogo_folder_info"
    -OCSSessionsFolderURL "$db/sogo_sessions_folder" -OCSEMailAlarmsFolderURL "$db/sogo_alarms_folder"
    -OCSStoreURL "$db/sogo_store" -OCSAclURL "$db/sogo_acl" -OCSCacheFolderURL "$db/sogo_cache_folder"
    -SOGoUserSources "({type = sql; id = users; viewURL = \"$db/sogo_users\"; canAuthenticate = YES; isAddressBook = NO; userPasswordAlgorithm = plain;})"
    -SOGoMemcachedHost "$RUN/sock/memcached" -SOGoTimeZone UTC -SOGoMailDomain example.com
    -SOGoAppointmentSendEMailNotifications NO -SOGoEnableEMailAlarms NO -SOGoPasswordChangeEnabled NO
)
cd "$RUN/home"
setsid runuser -u sogo -- env HOME="$RUN/home" /usr/sbin/sogod "${args[@]}" >"$RUN/sogod.out" 2>&1 </dev/null &
echo $! >"$RUN/sogo.pid"
watchdog
wait_207 "http://127.0.0.1:$PORT/SOGo/dav/test/Calendar/personal/" || { tail "$RUN/log/sogo.log" >&2; exit 1; }
# The address book exists once it has been asked for.
wait_207 "http://127.0.0.1:$PORT/SOGo/dav/test/Contacts/personal/" || exit 1
started "http://127.0.0.1:$PORT/SOGo/dav/"
