#!/bin/sh
# Packages only the benchmark needs (scripts/deps.sh has the build's):
# Dovecot 2.3 as the reference server, gnuplot for the charts, perf for
# profiles. Quiet and quick when everything is there already.
set -eu

PKGS="dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd gnuplot-nox linux-perf procps"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "bench deps: missing packages:$missing" >&2
	echo "bench deps: run as root, or: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "bench deps: installing$missing"
# Dovecot's package would start a system instance on *:143 and *:110:
# policy-rc.d exiting 101 keeps every package from starting services
# (the bench starts its own Dovecot, loopback only, under a temp dir)
if [ ! -e /usr/sbin/policy-rc.d ] || ! grep -q 'exit 101' /usr/sbin/policy-rc.d; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
