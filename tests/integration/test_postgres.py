"""sora on PostgreSQL (database.driver = "postgres", Sora's [database.write]
keys) against a real server that scripts/pg.sh starts for this module on
its own port and directory (it is stopped and started by the tests):

- LMTP delivery (smtplib.LMTP), then IMAP (imaplib) fetches the message
  byte-exact and finds it by full-text SEARCH;
- two sora processes on one database share auth blocks: a fast block
  triggered on node A refuses the right password on node B, through the
  persisted store records; sora-admin auth blocked lists it and auth
  unblock lifts it on both;
- an IDLE session on node B sees a delivery made through node A at once
  (LISTEN/NOTIFY carries the change between the processes);
- PostgreSQL stopped (pg_ctl stop -m fast): LMTP answers 451 4.x.x, IMAP
  answers NO (never BAD), sora keeps running; PostgreSQL started again:
  delivery and IMAP work without restarting sora.

Without PostgreSQL installed the module is skipped, unless CI is set: then
pg.sh fails and so does the module."""

import imaplib
import os
import smtplib
import subprocess
import time
import uuid

import pytest

from sora_testlib import REPO, SORA_ADMIN, T, Client, free_port

PG_SH = str(REPO / "scripts" / "pg.sh")

CONFIG = """
    [database]
    driver = "postgres"
    query_timeout = "30s"

    [database.write]
    hosts = ["127.0.0.1"]
    port = {pg_port}
    user = "postgres"
    name = "{pg_db}"
    max_conns = 4

    [storage]
    path = "{pg_blobs}"

    [servers.lmtp]
    addr = "127.0.0.1:{{port_lmtp}}"

    [servers.imap]
    addr = "127.0.0.1:{{port_imap}}"
    insecure_auth = true

    [servers.imap.auth_rate_limit]
    enabled = true
    max_attempts_per_ip = 1000
    max_attempts_per_username = 1000
    fast_block_threshold = 3
    fast_block_duration = "10m"
    delay_start_threshold = 1000
"""

MSG = (b"From: Sender <sender@example.net>\r\nTo: alice@example.org\r\n"
       b"Subject: Postgres delivery\r\nMessage-ID: <pg1@example.net>\r\n"
       b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
       b"The quarterly numbers are attached.\r\n")


class Cluster:
    def __init__(self, base):
        self.env = dict(os.environ, SORA_PG_DIR=str(base), SORA_PG_PORT=str(free_port()))
        self.port = int(self.env["SORA_PG_PORT"])

    def sh(self, *args, check=True):
        r = subprocess.run([PG_SH, *args], env=self.env, capture_output=True, text=True,
                           timeout=T(60))
        if check and r.returncode != 0:
            raise AssertionError(f"pg.sh {' '.join(args)}: {r.returncode}: {r.stderr}")
        return r


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # not under pytest's 0700 tmp dirs: the cluster's owner (postgres when
    # running as root) must be able to reach it
    c = Cluster(f"/tmp/sora-pg-it-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    r = c.sh("start", check=False)
    if r.returncode == 77:
        pytest.skip(r.stderr.strip())
    assert r.returncode == 0, r.stderr
    yield c
    c.sh("destroy", check=False)


@pytest.fixture
def db(cluster):
    """A fresh database per test; the cluster is running at the start."""
    cluster.sh("start")
    name = "sora_it_" + uuid.uuid4().hex[:12]
    cluster.sh("createdb", name)
    yield name
    cluster.sh("start")
    cluster.sh("dropdb", name, check=False)


def config(cluster, db, tmp_path):
    return CONFIG.format(pg_port=cluster.port, pg_db=db, pg_blobs=tmp_path / "blobs")


def admin(srv, *args):
    return subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), *args],
                          capture_output=True, text=True, timeout=T(60))


def start(sora, text, accounts=("alice@example.org",)):
    srv = sora.new()
    srv.write_config(text)
    for user in accounts:
        r = admin(srv, "accounts", "create", "--email", user, "--password", "secret",
                  "--hash", "ssha512")
        assert r.returncode == 0, r.stderr
    srv.start(text)
    return srv


def deliver(srv, msg=MSG, rcpt="alice@example.org"):
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(20)) as m:
        return m.sendmail("sender@example.net", [rcpt], msg)


def imap_login(srv):
    im = imaplib.IMAP4("127.0.0.1", srv.port("imap"), timeout=T(20))
    im.login("alice@example.org", "secret")
    return im


def test_lmtp_then_imap_fetch(sora, cluster, db, tmp_path):
    srv = start(sora, config(cluster, db, tmp_path))
    assert deliver(srv) == {}
    im = imap_login(srv)
    typ, data = im.select("INBOX")
    assert typ == "OK" and data == [b"1"]
    typ, data = im.uid("FETCH", "1", "(BODY.PEEK[] FLAGS)")
    assert typ == "OK"
    body = data[0][1]
    assert body.endswith(MSG), body[:200]
    # full-text search runs on PostgreSQL's tsvector index
    typ, data = im.uid("SEARCH", "BODY", "\"quarterly numb\"")
    assert typ == "OK" and data == [b"1"], data
    typ, data = im.uid("SEARCH", "TEXT", "\"numbers quarterly\"")
    assert typ == "OK" and data == [b""], data
    im.logout()
    r = admin(srv, "migrate", "version")
    assert r.returncode == 0 and "schema version" in r.stdout, r.stdout + r.stderr


def login_reply(srv, password):
    im = imaplib.IMAP4("127.0.0.1", srv.port("imap"), timeout=T(20))
    try:
        im.login("alice@example.org", password)
        im.logout()
        return "OK"
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        try:
            im.shutdown()
        except OSError:
            pass


def test_auth_block_shared_between_nodes(sora, cluster, db, tmp_path):
    text = config(cluster, db, tmp_path)
    a = start(sora, text)
    b = sora.new()
    b.start(text)
    assert login_reply(b, "secret") == "OK"
    for _ in range(3):
        assert "AUTHENTICATIONFAILED" in login_reply(a, "wrong")
    # fast block on A: the right password is refused there...
    assert "AUTHENTICATIONFAILED" in login_reply(a, "secret")
    # ...and on B, which never saw a failure, within a second
    t0 = time.monotonic()
    while "AUTHENTICATIONFAILED" not in login_reply(b, "secret"):
        assert time.monotonic() - t0 < T(1.0), "node B never refused"
        time.sleep(0.05)
    r = admin(a, "auth", "blocked")
    assert r.returncode == 0 and "127.0.0.1" in r.stdout, r.stdout + r.stderr
    r = admin(a, "auth", "unblock", "--ip", "127.0.0.1")
    assert r.returncode == 0, r.stdout + r.stderr
    t0 = time.monotonic()
    while login_reply(b, "secret") != "OK":
        assert time.monotonic() - t0 < T(3.0), "unblock never reached node B"
        time.sleep(0.1)


def test_idle_sees_other_node(sora, cluster, db, tmp_path):
    """A delivery through node A reaches an IDLE session on node B: node B
    learns of it through LISTEN/NOTIFY (or its own poll), not by sharing a
    process with A."""
    text = config(cluster, db, tmp_path)
    a = start(sora, text)
    b = sora.new()
    b.start(text)
    with Client(b.port("imap")) as c:
        c.readline()
        assert c.cmd("a", "LOGIN alice@example.org secret")[-1].startswith("a OK")
        c.cmd("b", "SELECT INBOX")
        c.sendline("c IDLE")
        assert c.readline() == "+ idling"
        t0 = time.monotonic()
        assert deliver(a) == {}
        assert c.readline(timeout=T(5)) == "* 1 EXISTS"
        took = time.monotonic() - t0
        c.sendline("DONE")
        assert c.readline() == "c OK IDLE terminated"
    print(f"IDLE on node B saw node A's delivery after {took * 1000:.0f} ms")
    assert took < T(2.0)


def test_postgres_down_then_back(sora, cluster, db, tmp_path):
    srv = start(sora, config(cluster, db, tmp_path))
    assert deliver(srv) == {}
    im = imap_login(srv)
    assert im.select("INBOX")[0] == "OK"

    cluster.sh("stop")
    # LMTP: a temporary failure the MTA retries (at RCPT or after DATA)
    with pytest.raises((smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError,
                        smtplib.SMTPResponseException)) as exc:
        deliver(srv, MSG.replace(b"<pg1@", b"<pg2@"))
    e = exc.value
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        code, text = list(e.recipients.values())[0]
    else:
        code, text = e.smtp_code, e.smtp_error
    assert code == 451 and text.startswith(b"4."), (code, text)
    # IMAP: NO for a command that needs the store, never BAD, session kept
    typ, data = im.uid("FETCH", "1:*", "(FLAGS)")
    typ2, data2 = im.status("INBOX", "(MESSAGES)")
    assert "NO" in (typ, typ2), (typ, data, typ2, data2)
    # (imaplib raises on BAD: a NO with a temporary reason is the answer)
    typ, data = im.noop()
    assert typ in ("OK", "NO"), (typ, data)
    print("with PostgreSQL down:", data2, data)
    assert srv.proc.poll() is None, "sora exited with PostgreSQL down"

    cluster.sh("start")
    # service resumes without restarting sora
    t0 = time.monotonic()
    while True:
        try:
            assert deliver(srv, MSG.replace(b"<pg1@", b"<pg3@")) == {}
            break
        except smtplib.SMTPException:
            assert time.monotonic() - t0 < T(10), "delivery never recovered"
            time.sleep(0.2)
    typ, data = im.status("INBOX", "(MESSAGES)")
    assert typ == "OK" and b"MESSAGES 2" in data[0], data
    im.logout()
    im = imap_login(srv)
    assert im.select("INBOX") == ("OK", [b"2"])
    im.logout()
    assert srv.proc.poll() is None
