"""A throwaway Postfix instance from Debian's postfix package for the
integration tests: its own config_directory, queue_directory and
data_directory under /tmp, an smtpd on a loopback port, no chroot, its log
in a file. Never the system's instance (policy-rc.d keeps that one from
starting). Root is needed (Postfix's master runs its daemons as the
postfix user)."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sora_testlib import T, free_port, wait_port_open

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

MASTER_CF = """\
127.0.0.1:{smtp_port} inet n - n - - smtpd{smtpd_opts}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       1       1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """Postfix(transport={"example.org": "lmtp:inet:127.0.0.1:2424"}).start()
    accepts SMTP on .smtp_port from loopback for the domains of the
    transport map and hands them to the given transports. extra_main: more
    main.cf lines; smtpd_opts: " -o name=value" options for that smtpd;
    sasl_users: {"user@realm": "password"} makes SMTP AUTH mandatory."""

    def __init__(self, transport, extra_main="", smtpd_opts="", sasl_users=None):
        if os.geteuid() != 0:
            raise RuntimeError("the Postfix tests need root")
        self.dir = Path(tempfile.mkdtemp(prefix="sora-postfix-", dir="/tmp"))
        os.chmod(self.dir, 0o755)  # the postfix user walks into it
        self.smtp_port = free_port()
        self.log_path = self.dir / "postfix.log"
        self.etc = self.dir / "etc"
        for d in ("etc", "spool", "data"):
            (self.dir / d).mkdir()
        shutil.chown(self.dir / "data", "postfix")
        domains = ", ".join(transport)
        tmap = " ".join(f"{d}={t}" for d, t in transport.items())
        (self.etc / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {self.dir}/spool
data_directory = {self.dir}/data
mail_owner = postfix
myhostname = mx.postfix.test
mydomain = postfix.test
myorigin = postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = {domains}
transport_maps = inline:{{ {tmap} }}
smtpd_recipient_restrictions = permit_mynetworks, reject
maillog_file = {self.log_path}
maillog_file_prefixes = /tmp
alias_maps =
alias_database =
biff = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
lmtp_destination_recipient_limit = 50
{extra_main}
""")
        if sasl_users:
            self._sasl(sasl_users)
            smtpd_opts += (" -o smtpd_sasl_auth_enable=yes"
                           " -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject")
        (self.etc / "master.cf").write_text(MASTER_CF.format(smtp_port=self.smtp_port,
                                                             smtpd_opts=smtpd_opts))

    def _sasl(self, users):
        """Cyrus SASL with a sasldb of users {"name@realm": password}; the
        smtpd then relays for authenticated clients only. Debian's Postfix
        reads <config_directory>/sasl/smtpd.conf."""
        db = self.dir / "sasldb2"
        (self.etc / "sasl").mkdir()
        (self.etc / "sasl" / "smtpd.conf").write_text(
            f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {db}\n"
            "mech_list: PLAIN LOGIN\n")
        for user, password in users.items():
            name, realm = user.split("@", 1)
            subprocess.run(["saslpasswd2", "-p", "-c", "-f", str(db), "-u", realm, name],
                           input=password, text=True, check=True, timeout=T(30))
        shutil.chown(db, "postfix")
        with open(self.etc / "main.cf", "a") as f:
            f.write("smtpd_sasl_type = cyrus\nsmtpd_sasl_path = smtpd\n"
                    "smtpd_sasl_security_options = noanonymous\n")

    def start(self):
        r = subprocess.run([POSTFIX, "-c", str(self.etc), "start"], capture_output=True,
                           text=True, timeout=T(60))
        if r.returncode != 0:
            raise RuntimeError(f"postfix start failed: {r.stdout}{r.stderr}\n{self.log()}")
        wait_port_open(self.smtp_port, timeout=20)
        return self

    def halt(self):
        """Stops the daemons, keeps the directories: start() again later."""
        subprocess.run([POSTFIX, "-c", str(self.etc), "stop"], capture_output=True,
                       timeout=T(60))
        deadline = time.monotonic() + T(10)
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.smtp_port), timeout=0.5).close()
            except OSError:
                return
            time.sleep(0.1)

    def stop(self):
        subprocess.run([POSTFIX, "-c", str(self.etc), "stop"], capture_output=True,
                       timeout=T(60))
        # master exits a moment after "stop"; its pid file says which
        pid_file = self.dir / "spool" / "pid" / "master.pid"
        deadline = time.monotonic() + T(10)
        while pid_file.exists() and time.monotonic() < deadline:
            try:
                os.kill(int(pid_file.read_text().split()[0]), 0)
            except (OSError, ValueError):
                break
            time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)

    def flush(self):
        subprocess.run([POSTFIX, "-c", str(self.etc), "flush"], capture_output=True,
                       timeout=T(30))

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=30.0, count=1):
        rx = re.compile(pattern)
        deadline = time.monotonic() + T(timeout)
        while True:
            found = rx.findall(self.log())
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"postfix log never matched {pattern!r}:\n"
                                     f"{self.log()[-4000:]}")
            time.sleep(0.1)
