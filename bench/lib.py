"""Shared parts of the benchmark suite: the deterministic corpus, the two
servers (sora and Dovecot 2.3, each under its own temp dir, loopback only),
and /proc accounting (CPU seconds, RSS/PSS summed over a process tree).

Standard library only (/usr/bin/python3).
"""

import base64
import hashlib
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
DOMAIN = "example.org"
PASSWORD = "bench-pw"
MAIL_USER = "sorabench"          # unprivileged owner of Dovecot's Maildirs
SEARCH_WORD = "quixotically"     # planted in 1 of 1000 big-mailbox messages


_T0 = time.monotonic()


def log(msg):
    print(f"{time.monotonic() - _T0:6.0f}s {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=20.0, what="server"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} at startup")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f} s")


def ssha512(password, salt):
    return "{SSHA512}" + base64.b64encode(
        hashlib.sha512(password.encode() + salt).digest() + salt).decode()


# --------------------------------------------------------------------------
# /proc accounting

def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(st.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid):
    """pid and all its live descendants."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_seconds(pid):
    """CPU seconds (user+system) of pid's tree: the live processes plus the
    reaped children (cutime/cstime) — Dovecot forks a process per session."""
    total = 0
    for p in tree(pid):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / CLK


def memory_kib(pid):
    """(RSS, PSS, process count) summed over pid's tree, in KiB."""
    rss = pss = n = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
            n += 1
        except OSError:
            continue
    return rss, pss, n


def mem_available_kib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------
# the corpus

WORDS_SEED = 20261201


class Corpus:
    """One deterministic set of messages (CRLF, RFC 5322): 55 % text/plain,
    35 % multipart/alternative, 10 % multipart/mixed with a base64
    attachment of 1 KB – 2 MB (log-uniform); RFC 2047 encoded subjects and
    names in a third; threads of up to 60 messages (In-Reply-To/References).
    Same seed → same bytes (sha256 recorded in the results)."""

    def __init__(self, n=1500, seed=WORDS_SEED):
        rnd = random.Random(seed)
        letters = "etaoinshrdlcumwfgypbvkjxqz"
        self.vocab = ["".join(rnd.choice(letters[:12 + i % 14]) for _ in range(rnd.randint(2, 10)))
                      for i in range(4000)]
        self.vocab = [w for w in self.vocab if w != SEARCH_WORD]
        self.rnd = rnd
        self.messages = []
        base = datetime(2026, 1, 1, tzinfo=timezone.utc)
        threads = []  # [subject, [message ids]]
        for i in range(n):
            when = base + timedelta(seconds=rnd.randint(0, 330 * 86400))
            if threads and rnd.random() < 0.4:
                th = rnd.choice(threads[-20:])
            else:
                th = [self.sentence(rnd.randint(3, 8)).capitalize(), []]
                threads.append(th)
            self.messages.append(self.message(i, when, th, rnd))
        h = hashlib.sha256()
        for m in self.messages:
            h.update(m)
        self.sha256 = h.hexdigest()
        self.bytes = sum(len(m) for m in self.messages)

    def sentence(self, n, rnd=None):
        rnd = rnd or self.rnd
        return " ".join(rnd.choice(self.vocab) for _ in range(n))

    def text(self, size, rnd):
        lines, total = [], 0
        while total < size:
            ln = self.sentence(rnd.randint(6, 12), rnd).capitalize() + "."
            lines.append(ln)
            total += len(ln) + 2
        return "\r\n".join(lines)

    @staticmethod
    def enc2047(s, rnd):
        if rnd.random() < 0.5:
            return "=?UTF-8?B?" + base64.b64encode(s.encode()).decode() + "?="
        q = "".join(c if c.isascii() and c.isalnum() else "_" if c == " " else "=%02X" % ord(c)
                    for c in s.encode("latin-1", "replace").decode("latin-1"))
        return "=?ISO-8859-1?Q?" + q + "?="

    def message(self, i, when, th, rnd):
        subj, ids = th
        mid = f"<bench.{i}.{rnd.getrandbits(40):x}@corpus.{DOMAIN}>"
        name = self.sentence(2, rnd).title()
        encoded = rnd.random() < 0.33
        if encoded:
            name = self.enc2047(name + " Müller", rnd)
            subject = self.enc2047(("Re: " if ids else "") + subj + " — ü", rnd)
        else:
            subject = ("Re: " if ids else "") + subj
        hdr = [f"From: {name} <{self.vocab[i % 500]}@sender.example>",
               f"To: recipient@{DOMAIN}",
               f"Subject: {subject}",
               f"Date: {format_datetime(when)}",
               f"Message-ID: {mid}",
               "MIME-Version: 1.0"]
        if ids:
            hdr.append(f"In-Reply-To: {ids[-1]}")
            hdr.append("References: " + " ".join(ids[-10:]))
        if len(ids) < 60:
            ids.append(mid)
        kind = rnd.random()
        body_size = int(300 * (30 ** rnd.random()))  # 300 B – 9 KB
        if kind < 0.55:
            hdr.append("Content-Type: text/plain; charset=utf-8")
            body = self.text(body_size, rnd)
        elif kind < 0.90:
            b = f"alt-{i}"
            t = self.text(body_size, rnd)
            html = "<html><body><p>" + t.replace("\r\n", "</p>\r\n<p>") + "</p></body></html>"
            hdr.append(f'Content-Type: multipart/alternative; boundary="{b}"')
            body = (f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{t}\r\n"
                    f"--{b}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--{b}--")
        else:
            b = f"mix-{i}"
            size = int(1024 * (2048 ** rnd.random()))  # 1 KB – 2 MB
            blob = base64.encodebytes(rnd.randbytes(size)).decode().replace("\n", "\r\n")
            t = self.text(body_size, rnd)
            hdr.append(f'Content-Type: multipart/mixed; boundary="{b}"')
            body = (f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{t}\r\n"
                    f"--{b}\r\nContent-Type: application/octet-stream\r\n"
                    f"Content-Transfer-Encoding: base64\r\n"
                    f'Content-Disposition: attachment; filename="file{i}.bin"\r\n\r\n'
                    f"{blob}--{b}--")
        return ("\r\n".join(hdr) + "\r\n\r\n" + body + "\r\n").encode()

    def small(self):
        """The messages under 16 KB (the big mailbox is made of these)."""
        return [m for m in self.messages if len(m) < 16384]

    def big_mailbox_message(self, k, smalls):
        """Message k of the big mailbox: a small corpus message with its own
        Message-ID and Date; every 1000th carries SEARCH_WORD."""
        planted = k % 1000 == 500
        if planted:  # a text/plain one: a word in a multipart preamble is not text
            m = next(x for x in smalls if b"Content-Type: text/plain" in x.split(b"\r\n\r\n")[0])
        else:
            m = smalls[k % len(smalls)]
        head, body = m.split(b"\r\n\r\n", 1)
        lines = [ln for ln in head.split(b"\r\n")
                 if not ln.startswith((b"Message-ID:", b"Date:"))]
        when = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=7 * k)
        lines.append(f"Date: {format_datetime(when)}".encode())
        lines.append(f"Message-ID: <big.{k}@{DOMAIN}>".encode())
        if planted:
            body = f"The {SEARCH_WORD} planted word.\r\n".encode() + body
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def one_mb_message(self):
        rnd = random.Random(7)
        blob = base64.encodebytes(rnd.randbytes(768 * 1024)).decode().replace("\n", "\r\n")
        return ("From: big@sender.example\r\nTo: big@example.org\r\nSubject: one megabyte\r\n"
                "Date: Mon, 1 Jun 2026 12:00:00 +0000\r\nMessage-ID: <onemb@example.org>\r\n"
                "MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n" + blob).encode()


# --------------------------------------------------------------------------
# servers

def _nofile():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    """Common parts: a name, a pid whose tree is the server, ports."""
    name = "?"
    proc = None

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def memory(self):
        return memory_kib(self.proc.pid)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Sora(Server):
    """sora, embedded default (SQLite + fs blobs), or S3 (s3rver) + AES-GCM."""

    def __init__(self, binary, workdir, s3_endpoint=None, label="sora"):
        self.name = label
        self.bin = Path(binary)
        self.admin_bin = self.bin.with_name("sora-admin")
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.imap_port, self.lmtp_port, self.pop3_port = free_port(), free_port(), free_port()
        storage = f'[storage]\npath = "{self.dir}/blobs"\n'
        if s3_endpoint:
            storage = (f'[storage]\ndriver = "s3"\n\n[s3]\nendpoint = "{s3_endpoint}"\n'
                       f'disable_tls = true\naccess_key = "S3RVER"\nsecret_key = "S3RVER"\n'
                       f'bucket = "mail"\nencrypt = true\nencryption_key = "{"5a" * 32}"\n'
                       f'\n[local_cache]\npath = "{self.dir}/cache"\n'
                       f'\n[uploader]\npath = "{self.dir}/uploads"\n')
            for sub in ("cache", "uploads"):
                (self.dir / sub).mkdir(exist_ok=True)
        self.config = self.dir / "sora.toml"
        self.config.write_text(f"""
[logging]
output = "stderr"
level = "warn"

[runtime]
event_loops = 0
worker_threads = 0
shutdown_timeout = "3s"

[database]
path = "{self.dir}/sora.db"

# stored hashes stay as created (Dovecot never rewrites them either): an
# {{SSHA512}} login stays an {{SSHA512}} check instead of becoming bcrypt-12
[auth]
rehash_on_login = false

{storage}
[servers.imap]
addr = "127.0.0.1:{self.imap_port}"
max_connections = 0
max_connections_per_ip = 0
auth_idle_timeout = "1h"

[servers.imap.auth_rate_limit]
enabled = false

[servers.pop3]
addr = "127.0.0.1:{self.pop3_port}"
max_connections = 0
max_connections_per_ip = 0

[servers.pop3.auth_rate_limit]
enabled = false

[servers.lmtp]
addr = "127.0.0.1:{self.lmtp_port}"
max_connections = 0
max_connections_per_ip = 0
""")

    def add_users(self, users):
        """users: [(localpart, stored hash or None for bcrypt-12 of PASSWORD)]."""
        for local, stored in users:
            args = ["accounts", "create", "--email", f"{local}@{DOMAIN}"]
            args += ["--password-hash", stored] if stored else ["--password", PASSWORD]
            r = subprocess.run([str(self.admin_bin), "--config", str(self.config), *args],
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise RuntimeError(f"sora-admin {' '.join(args)}: {r.stderr.strip()}")

    def stored_hash(self, local):
        import sqlite3
        db = sqlite3.connect(self.dir / "sora.db")
        try:
            return db.execute("SELECT password_hash FROM credentials WHERE address = ?",
                              (f"{local}@{DOMAIN}",)).fetchone()[0]
        finally:
            db.close()

    def login_name(self, local):
        return f"{local}@{DOMAIN}", PASSWORD

    def start(self):
        self.stderr = open(self.dir / "sora.stderr", "ab")
        self.proc = subprocess.Popen([str(self.bin), "--config", str(self.config)],
                                     cwd=self.dir, stdin=subprocess.DEVNULL, stdout=self.stderr,
                                     stderr=self.stderr, preexec_fn=_nofile)
        try:
            wait_port(self.imap_port, self.proc, what="sora")
            wait_port(self.lmtp_port, self.proc, what="sora")
            wait_port(self.pop3_port, self.proc, what="sora")
        except RuntimeError as e:
            self.stderr.flush()
            raise RuntimeError(f"{e}; log:\n{self.log_tail(8)}") from None
        return self

    def log_tail(self, n=20):
        try:
            return "\n".join((self.dir / "sora.stderr").read_text(
                errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def ensure_mail_user():
    """An unprivileged system user owning Dovecot's mail (created once)."""
    import pwd
    try:
        return pwd.getpwnam(MAIL_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", MAIL_USER], check=True)
        return pwd.getpwnam(MAIL_USER)


class Dovecot(Server):
    """Dovecot 2.3 with its own config under workdir: Maildir, passwd-file
    with the same users/hashes, plaintext on loopback like sora, fsync on
    (mail_fsync = always), mail processes as MAIL_USER."""

    def __init__(self, workdir, hibernate=False, label="dovecot"):
        self.name = label
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pw = ensure_mail_user()
        self.imap_port, self.lmtp_port, self.pop3_port = free_port(), free_port(), free_port()
        self.hibernate = hibernate
        self.users = {}
        for sub in ("run", "mail", "state"):
            (self.dir / sub).mkdir(exist_ok=True)
        os.chown(self.dir / "mail", self.pw.pw_uid, self.pw.pw_gid)
        self.passwd = self.dir / "passwd"
        self.passwd.write_text("")
        self.config = self.dir / "dovecot.conf"
        hib = ""
        if hibernate:
            hib = f"""
imap_hibernate_timeout = 2s
service imap-hibernate {{
  unix_listener imap-hibernate {{
    mode = 0660
    user = {MAIL_USER}
  }}
}}
service imap {{
  unix_listener imap-master {{
    user = dovecot
  }}
}}
"""
        self.config.write_text(f"""
instance_name = bench-{os.getpid()}-{label}
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
info_log_path = /dev/null
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_cache_size = 0
# loopback clients get no auth penalty (anvil's per-IP delay after failed
# logins): sora's rate limiter is off in the bench too
login_trusted_networks = 127.0.0.0/8
first_valid_uid = {self.pw.pw_uid}
last_valid_uid = {self.pw.pw_uid}
mail_location = maildir:{self.dir}/mail/%d/%n/Maildir
mail_fsync = always
mailbox_list_index = yes
default_process_limit = 64
default_client_limit = 1000
default_vsz_limit = 512M
shutdown_clients = yes
lmtp_save_to_detail_mailbox = no
protocol imap {{
  mail_max_userip_connections = 20000
}}
protocol pop3 {{
  mail_max_userip_connections = 20000
}}
protocol lmtp {{
  postmaster_address = postmaster@{DOMAIN}
}}
passdb {{
  driver = passwd-file
  args = scheme=SSHA512 {self.passwd}
}}
userdb {{
  driver = static
  args = uid={self.pw.pw_uid} gid={self.pw.pw_gid} home={self.dir}/mail/%d/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  service_count = 0
  process_min_avail = {os.cpu_count() or 1}
  client_limit = 11000
  process_limit = {os.cpu_count() or 1}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0
  }}
}}
service imap {{
  process_limit = 11000
}}
service imap-urlauth-login {{
  process_limit = 1
}}
service auth {{
  client_limit = 12000
}}
service anvil {{
  client_limit = 12000
}}
{hib}
""")

    def add_users(self, users):
        """users: [(localpart, stored hash)]: the same strings sora keeps."""
        with open(self.passwd, "a") as f:
            for local, stored in users:
                f.write(f"{local}@{DOMAIN}:{stored}\n")
                self.users[local] = stored

    def login_name(self, local):
        return f"{local}@{DOMAIN}", PASSWORD

    def maildir(self, local):
        return self.dir / "mail" / DOMAIN / local / "Maildir"

    def start(self):
        self.stderr = open(self.dir / "dovecot.stderr", "ab")
        self.proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", str(self.config)],
                                     cwd=self.dir, stdin=subprocess.DEVNULL, stdout=self.stderr,
                                     stderr=self.stderr, preexec_fn=_nofile)
        try:
            wait_port(self.imap_port, self.proc, what="dovecot")
            wait_port(self.lmtp_port, self.proc, what="dovecot")
            wait_port(self.pop3_port, self.proc, what="dovecot")
        except RuntimeError as e:
            raise RuntimeError(f"{e}; log:\n{self.log_tail(8)}") from None
        return self

    def doveadm(self, *args):
        return subprocess.run(["doveadm", "-c", str(self.config), *args], capture_output=True,
                              text=True, timeout=1800)

    def log_tail(self, n=20):
        try:
            return "\n".join((self.dir / "dovecot.log").read_text(
                errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class S3rver:
    """s3rver 3.7.1 (scripts/s3rver.sh) for sora's scale-out mode."""

    def __init__(self, workdir):
        self.dir = Path(workdir)
        self.port = free_port()
        subprocess.run([str(REPO / "scripts" / "s3rver.sh"), "install"], check=True)
        self.log = open(self.dir.parent / "s3rver.log", "ab")
        self.proc = subprocess.Popen([str(REPO / "scripts" / "s3rver.sh"), "run", "v3",
                                      str(self.port), str(self.dir)],
                                     stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        wait_port(self.port, self.proc, what="s3rver")
        self.endpoint = f"127.0.0.1:{self.port}"

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.log.close()


def rmtree(p):
    shutil.rmtree(p, ignore_errors=True)
