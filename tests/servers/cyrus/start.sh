#!/usr/bin/env bash
# Cyrus IMAP 3.6 httpd (Debian cyrus-imapd + cyrus-caldav), FastMail's CalDAV/CardDAV server,
# with a private configuration and spool. Usage: start.sh RUNDIR PORT. User test/test (Basic,
# SASL sasldb); calendar /dav/calendars/user/test/Default/, address book
# /dav/addressbooks/user/test/Default/. Conventions: ../lib.sh.
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib.sh"
setup cyrus "$@"
need_packages cyrus-imapd cyrus-caldav sasl2-bin curl
fresh_rundir
mkdir -p "$RUN"/{spool,proc,lock,socket,sieve,log} "$RUN"/conf/{db,socket,sieve,user,quota,proc,log,msg,ptclient,sync}
cat >"$RUN/imapd.conf" <<CONF
configdirectory: $RUN/conf
proc_path: $RUN/proc
mboxname_lockpath: $RUN/lock
defaultpartition: default
partition-default: $RUN/spool
sievedir: $RUN/sieve
lmtpsocket: $RUN/socket/lmtp
idlesocket: $RUN/socket/idle
notifysocket: $RUN/socket/notify
servername: localhost
admins: admin
allowplaintext: yes
sasl_mech_list: PLAIN LOGIN
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $RUN/sasldb2
httpmodules: caldav carddav
httpallowcompress: no
caldav_create_default: 1
caldav_create_sched: 1
caldav_realm: davsync-tests
carddav_realm: davsync-tests
unixhierarchysep: yes
altnamespace: yes
syslog_prefix: davsync-cyrus-$PORT
CONF
cat >"$RUN/cyrus.conf" <<CONF
START {
  recover cmd="ctl_cyrusdb -r -C $RUN/imapd.conf"
}
SERVICES {
  http cmd="httpd -C $RUN/imapd.conf" listen="127.0.0.1:$PORT" prefork=1
  imap cmd="imapd -C $RUN/imapd.conf" listen="$RUN/socket/imap" prefork=0
}
EVENTS {
  checkpoint cmd="ctl_cyrusdb -c -C $RUN/imapd.conf" period=30
}
CONF
for u in test admin; do echo "$u" | saslpasswd2 -p -c -f "$RUN/sasldb2" -u localhost "$u"; done
chown -R cyrus:mail "$RUN"; chmod 600 "$RUN/sasldb2"
/usr/sbin/cyrmaster -C "$RUN/imapd.conf" -M "$RUN/cyrus.conf" -p "$RUN/master.pid" -L "$RUN/log/master.log" -d
watchdog
for i in $(seq 1 100); do [ -S "$RUN/socket/imap" ] && break; sleep 0.1; done
# The user's mailbox must exist before its DAV collections: created as admin over IMAP on the
# unix socket; httpd then provisions the default calendar and address book.
/usr/bin/python3 - "$RUN/socket/imap" <<'PY'
import imaplib, socket, sys

class OverUnixSocket(imaplib.IMAP4):
    def open(self, host=None, port=None, timeout=None):
        self.host, self.port = host, port
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[1])
        self.file = self.sock.makefile("rb")

imap = OverUnixSocket()
imap.login("admin", "admin")
status, detail = imap.create("user/test")
if status != "OK" and b"exists" not in b" ".join(detail).lower():
    sys.exit(f"creating user/test: {status} {detail}")
imap.logout()
PY
wait_207 "http://127.0.0.1:$PORT/dav/calendars/user/test/Default/" || exit 1
wait_207 "http://127.0.0.1:$PORT/dav/addressbooks/user/test/Default/" || exit 1
started "http://127.0.0.1:$PORT/dav/"
