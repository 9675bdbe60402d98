#!/bin/sh
# Installs the Debian 12 packages the build, the tests and `make run` need,
# when any is missing. Quiet and quick when everything is there already.
set -eu

PKGS="gcc make meson ninja-build pkg-config libssl-dev openssl libcmocka-dev
clang libclang-rt-14-dev python3 python3-pytest curl swaks libnet-ssleay-perl haproxy
libcrypt-dev libargon2-dev procps libsqlite3-dev libcurl4-openssl-dev
awscli libgmime-3.0-dev fetchmail hydra util-linux
sieve-connect python3-sievelib postfix sasl2-bin
zlib1g-dev isync offlineimap3 neomutt tmux
postgresql libpq-dev
libpcre2-dev libunistring-dev dovecot-core dovecot-sieve"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# npm (for the S3 test server) comes with the image's Node.js; Debian's own
# npm package conflicts with it, so ask for it only when there is none
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run as root, or: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "deps: installing$missing"
# keep Debian from starting haproxy & co. with their default configs
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
fi
export DEBIAN_FRONTEND=noninteractive
# postfix: no prompt, no system instance (tests run their own under /tmp)
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
