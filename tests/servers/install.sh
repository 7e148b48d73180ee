#!/usr/bin/env bash
# Installs the Debian packages of the named test servers (all five without arguments) in one
# apt-get run, after one `apt-get update`. Root on Debian only. Used by scripts/test in CI;
# start.sh installs what is missing by itself otherwise.
set -euo pipefail
declare -A PKGS=(
    [davical]="davical postgresql php-cli php-pgsql"
    [cyrus]="cyrus-imapd cyrus-caldav sasl2-bin"
    [sabredav]="php-sabre-dav php-sqlite3 php-cli sqlite3"
    [sogo]="sogo postgresql memcached"
    [calypso]="calypso git"
)
names=("$@"); [ ${#names[@]} -gt 0 ] || names=(davical cyrus sabredav sogo calypso)
want=()
for n in "${names[@]}"; do
    [ -n "${PKGS[$n]:-}" ] || { echo "install.sh: unknown server $n (known: ${!PKGS[*]})" >&2; exit 2; }
    for p in ${PKGS[$n]} curl; do dpkg -s "$p" >/dev/null 2>&1 || want+=("$p"); done
done
[ ${#want[@]} -eq 0 ] && exit 0
[ -r /etc/debian_version ] || { echo "install.sh: not Debian; install ${want[*]} by other means" >&2; exit 3; }
[ "$(id -u)" = 0 ] || { echo "install.sh: must run as root to install ${want[*]}" >&2; exit 3; }
export DEBIAN_FRONTEND=noninteractive
(
    flock 9
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${want[@]}"
) 9>/tmp/davsync-tests-apt.lock
