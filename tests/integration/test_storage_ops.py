"""Storage operations on the local (fs + SQLite) deployment: durability of
deliveries under kill -9, the cleanup pass (sora-admin cleanup run) and the
sora-admin mailbox / uploader / cache commands. The S3 side (staging,
uploader, cache, key rotation) is in s3/test_uploader.py."""

import imaplib
import random
import re
import smtplib
import subprocess
import threading
import time

from sora_testlib import SORA_ADMIN, T

CONFIG = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [cleanup]
    grace_period = "14d"
    wake_interval = "1h"

    [servers.lmtp]
    addr = "127.0.0.1:{port_lmtp}"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
    max_connections_per_ip = 50
"""

USER = "alice@example.org"


def admin(srv, *args, check=None):
    r = subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), *args],
                       capture_output=True, text=True, timeout=T(120))
    if check is not None:
        assert r.returncode == check, f"{args}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def setup_server(sora, text=CONFIG, start=True):
    srv = sora.new()
    srv.write_config(text)
    admin(srv, "accounts", "create", "--email", USER, "--password", "pw", "--hash", "ssha512",
          check=0)
    if start:
        srv.start(text)
    return srv


def restart(srv, text=CONFIG):
    srv.proc = None
    srv.start(text)


def imap_login(srv):
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"), timeout=T(20))
    m.login(USER, "pw")
    return m


def fetch_all(m, mailbox="INBOX"):
    """Every message of mailbox as bytes, by UID."""
    typ, _ = m.select(mailbox)
    assert typ == "OK"
    typ, data = m.uid("SEARCH", "ALL")
    assert typ == "OK", data
    uids = [int(u) for u in data[0].split()]
    out = {}
    # in slices: the server answers [LIMIT] past 48 MB in one response
    for i in range(0, len(uids), 50):
        chunk = uids[i:i + 50]
        typ, data = m.uid("FETCH", f"{chunk[0]}:{chunk[-1]}", "(BODY.PEEK[])")
        assert typ == "OK", data
        for item in data:
            if isinstance(item, tuple):
                out[int(re.search(rb"UID (\d+)", item[0]).group(1))] = item[1]
    return out


HEADER_LINE = re.compile(rb"^([A-Za-z0-9-]+:|[ \t])")


def assert_prefixed(stored, sent):
    """stored is sent with header lines prepended (Received, Delivered-To)."""
    assert stored.endswith(sent), (stored[:200], sent[:200])
    prefix = stored[:len(stored) - len(sent)]
    for line in prefix.split(b"\r\n")[:-1]:
        assert HEADER_LINE.match(line), prefix[:500]


def message(seq, size):
    body = (f"line {seq} ".encode() * (size // 10 + 1))[:size]
    body = b"\r\n".join(body[i:i + 76] for i in range(0, len(body), 76))
    return (f"From: sender@example.net\r\nTo: {USER}\r\nSubject: seq {seq}\r\n"
            f"X-Seq: {seq}\r\n\r\n").encode() + body + b"\r\n"


def test_kill9_during_deliveries(sora):
    """kill -9 at random moments during a stream of LMTP deliveries, ten
    times over: every message that got its 250 is there byte-exact after
    the restarts, and nothing stored is partial."""
    srv = setup_server(sora)
    sent, acked = {}, set()
    seq = 0
    rng = random.Random(4)
    for iteration in range(10):
        stop = threading.Event()

        def stream():
            nonlocal seq
            try:
                with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(10)) as c:
                    while not stop.is_set():
                        seq += 1
                        n = seq
                        sent[n] = message(n, rng.choice((200, 5000, 150000)))
                        if c.sendmail("sender@example.net", [USER], sent[n]) == {}:
                            acked.add(n)
            except (OSError, smtplib.SMTPException):
                pass  # the server died under us

        t = threading.Thread(target=stream)
        t.start()
        time.sleep(T(rng.uniform(0.3, 1.0)))
        srv.kill()  # SIGKILL: no shutdown of any kind
        stop.set()
        t.join(T(30))
        assert not t.is_alive()
        restart(srv)
    assert len(acked) >= 10, f"too few deliveries acknowledged: {len(acked)}"

    m = imap_login(srv)
    stored = fetch_all(m)
    m.logout()
    by_seq = {}
    for uid, data in stored.items():
        found = re.search(rb"\r\nX-Seq: (\d+)\r\n", data)
        assert found, data[:300]
        n = int(found.group(1))
        assert n not in by_seq, f"message {n} stored twice"
        by_seq[n] = data
        assert_prefixed(data, sent[n])  # complete, never partial
    missing = sorted(acked - set(by_seq))
    assert not missing, f"acknowledged but lost: {missing}"


def blob_files(srv):
    root = srv.dir / "data" / "blobs" / "example.org" / "alice"
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


def test_cleanup_run(sora):
    srv = setup_server(sora)
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(10)) as c:
        for n in (1, 2, 3):
            assert c.sendmail("sender@example.net", [USER], message(n, 300)) == {}
    assert len(blob_files(srv)) == 3
    m = imap_login(srv)
    before = fetch_all(m)
    m.select("INBOX")
    # message 1 lives on in Archive; 1 and 2 leave INBOX; 3 stays
    assert m.uid("COPY", "1", "Archive")[0] == "OK"
    assert m.uid("STORE", "1:2", "+FLAGS.SILENT", r"(\Deleted)")[0] == "OK"
    assert m.expunge()[0] == "OK"
    m.logout()

    # within the grace period (14d): nothing goes
    r = admin(srv, "cleanup", "run", check=0)
    assert "done" in r.stdout and "blobs_deleted=0" in r.stdout, r.stdout
    assert len(blob_files(srv)) == 3

    r = admin(srv, "cleanup", "run", "--grace-period", "0", check=0)
    assert re.search(r"done\s+tombstones=2 .*blobs_deleted=1 blob_errors=0 rows=1", r.stdout), \
        r.stdout
    files = blob_files(srv)
    assert len(files) == 2
    # the body kept by the Archive copy is still there and readable
    m = imap_login(srv)
    archive = fetch_all(m, "Archive")
    inbox = fetch_all(m)
    m.logout()
    assert list(archive.values()) == [before[1]]
    assert list(inbox.values()) == [before[3]]
    # idempotent: a second pass finds nothing more
    r = admin(srv, "cleanup", "run", "--grace-period", "0", check=0)
    assert "blobs_deleted=0" in r.stdout

    # a deleted account: its bodies and then its rows go
    admin(srv, "accounts", "delete", "--email", USER, check=0)
    r = admin(srv, "cleanup", "run", "--grace-period", "0", check=0)
    assert re.search(r"done\s+.*blobs_deleted=2 .*accounts=1", r.stdout), r.stdout
    assert blob_files(srv) == []
    r = admin(srv, "accounts", "show", "--email", USER)
    assert r.returncode == 1

    # usage errors
    r = admin(srv, "cleanup", "run", "--grace-period", "soon")
    assert r.returncode == 2 and "--grace-period" in r.stderr
    r = admin(srv, "cleanup", "--help", check=0)
    assert "cleanup run" in r.stdout


def test_cleanup_worker(sora):
    """The server's own worker runs the same pass every wake_interval."""
    text = CONFIG.replace('grace_period = "14d"', 'grace_period = "0s"').replace(
        'wake_interval = "1h"', 'wake_interval = "1m"')
    srv = setup_server(sora, text)
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(10)) as c:
        assert c.sendmail("sender@example.net", [USER], message(1, 300)) == {}
    m = imap_login(srv)
    m.select("INBOX")
    assert m.uid("STORE", "1", "+FLAGS.SILENT", r"(\Deleted)")[0] == "OK"
    assert m.expunge()[0] == "OK"
    m.logout()
    srv.wait_log(r"event=cleanup\.done tombstones=1 .*blobs_deleted=1", timeout=90)
    assert blob_files(srv) == []


def test_admin_mailbox(sora):
    srv = setup_server(sora, start=False)
    r = admin(srv, "mailbox", "create", "--email", USER, "--mailbox", "Projects/2026",
              check=0)
    assert "created mailbox Projects/2026" in r.stdout
    admin(srv, "mailbox", "create", "--email", USER, "--mailbox", "Receipts",
          "--special-use", "flagged", check=0)
    r = admin(srv, "mailbox", "list", "--email", USER, check=0)
    names = [line.split()[0] for line in r.stdout.splitlines()[1:]]
    assert names[:1] == ["INBOX"] and "Projects" in names and "Projects/2026" in names
    assert re.search(r"^Receipts .*\\Flagged", r.stdout, re.M), r.stdout
    admin(srv, "mailbox", "rename", "--email", USER, "--mailbox", "Projects",
          "--new-name", "Work", check=0)
    r = admin(srv, "mailbox", "list", "--email", USER, check=0)
    assert "Work/2026" in r.stdout and "Projects" not in r.stdout
    admin(srv, "mailbox", "delete", "--email", USER, "--mailbox", "Work/2026", check=0)
    r = admin(srv, "mailbox", "list", "--email", USER, check=0)
    assert "Work/2026" not in r.stdout

    # errors: stderr, non-zero
    r = admin(srv, "mailbox", "create", "--email", USER, "--mailbox", "Receipts")
    assert r.returncode == 1 and "Receipts" in r.stderr and r.stdout == ""
    r = admin(srv, "mailbox", "delete", "--email", USER, "--mailbox", "INBOX")
    assert r.returncode == 1 and r.stderr
    r = admin(srv, "mailbox", "list", "--email", "nobody@example.org")
    assert r.returncode == 1 and "nobody@example.org" in r.stderr
    r = admin(srv, "mailbox", "create", "--mailbox", "X")
    assert r.returncode == 2 and "--email" in r.stderr
    r = admin(srv, "mailbox", "create", "--email", USER, "--mailbox", "X",
              "--special-use", "bogus")
    assert r.returncode == 2 and "bogus" in r.stderr
    r = admin(srv, "mailbox", "frobnicate", "--email", USER)
    assert r.returncode == 2 and "frobnicate" in r.stderr
    for group in (("mailbox",), ("mailbox", "create"), ("uploader",), ("cache",),
                  ("blobs",), ("cleanup", "run")):
        r = admin(srv, *group, "--help", check=0)
        assert r.stdout.startswith("Usage: sora-admin"), (group, r.stdout)
    r = admin(srv, "uploader")
    assert r.returncode == 2 and "Usage" in r.stderr
    r = admin(srv, "blobs", "reencrypt")
    assert r.returncode == 1 and "encrypt" in r.stderr


def test_admin_uploader_cache_on_fs(sora):
    """On the fs driver nothing is staged or cached; the commands say so."""
    srv = setup_server(sora, start=False)
    r = admin(srv, "uploader", "status", check=0)
    assert 'not "s3"' in r.stdout and re.search(r"^staged\s+0$", r.stdout, re.M), r.stdout
    r = admin(srv, "cache", "stats", check=0)
    assert re.search(r"^entries\s+0$", r.stdout, re.M) and "none saved yet" in r.stdout


def test_config_keys(sora):
    """[s3] previous_encryption_keys and [uploader] max_staging_size load and
    are checked; a bad key is named by position, never echoed."""
    srv = sora.new()
    good = "ab" * 32
    bad = "zz" + "ab" * 31
    text = CONFIG + f"""
    [s3]
    previous_encryption_keys = ["{good}", "{bad}", 7]

    [uploader]
    max_staging_size = "2gb"
"""
    srv.write_config(text)
    r = admin(srv, "config", "validate")
    assert r.returncode != 0
    assert "s3.previous_encryption_keys[1]: must be exactly 64 hex characters" in r.stderr, \
        r.stderr
    assert "s3.previous_encryption_keys[2]" in r.stderr
    assert bad not in r.stderr + r.stdout and good not in r.stderr + r.stdout
    srv.write_config(text.replace(f', "{bad}", 7', ""))
    r = admin(srv, "config", "validate", "--strict", check=0)
    r = admin(srv, "uploader", "status", check=0)
    assert re.search(r"^max_staging_size\s+2147483648 ", r.stdout, re.M), r.stdout
