"""Cleanup's orphan sweep on the fs blob store: a body written to the blob
store whose metadata never got committed (a crash between the two steps of
a delivery) is deleted once older than the grace period, and nothing else
is: not the bodies of delivered messages, not a fresh orphan (a delivery
still in flight looks exactly like one), not another account's copy of
the same content, not files that are not bodies."""

import hashlib
import imaplib
import os
import re
import smtplib
import time

from sora_testlib import T
from test_postgres import MSG as PG_MSG, cluster, db  # noqa: F401 (fixtures)
from test_postgres import config as pg_config, deliver as pg_deliver, \
    imap_login as pg_imap_login, start as pg_start
from test_storage_ops import USER, admin, blob_files, fetch_all, imap_login, message, \
    setup_server

BOB = "bob@example.org"
DAY = 86400


def blob_dir(srv, local="alice"):
    return srv.dir / "data" / "blobs" / "example.org" / local


def put_orphan(srv, data, age, local="alice"):
    """A file exactly where blob-fs puts the body of data, age seconds old."""
    h = hashlib.sha256(data).hexdigest()
    path = blob_dir(srv, local) / h
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    t = time.time() - age
    os.utime(path, (t, t))
    return h


def summary(r):
    m = re.search(r"^done\s+.*orphans_deleted=(\d+) orphan_errors=(\d+)$", r.stdout, re.M)
    assert m, r.stdout + r.stderr
    return int(m.group(1)), int(m.group(2))


def test_orphans_fs(sora):
    srv = setup_server(sora)
    admin(srv, "accounts", "create", "--email", BOB, "--password", "pw", "--hash", "ssha512",
          check=0)
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(10)) as c:
        for n in (1, 2, 3):
            assert c.sendmail("sender@example.net", [USER], message(n, 300 + n)) == {}
        assert c.sendmail("sender@example.net", [BOB], message(9, 500)) == {}
    delivered = blob_files(srv)
    assert len(delivered) == 3
    m = imap_login(srv)
    before = fetch_all(m)
    m.logout()
    assert len(before) == 3
    # the delivered bodies are old too: age alone must not condemn them
    for h in delivered:
        t = time.time() - 30 * DAY
        os.utime(blob_dir(srv) / h, (t, t))
    (bob_hash,) = [p.name for p in blob_dir(srv, "bob").iterdir()]

    old = put_orphan(srv, b"Subject: crashed mid-delivery\r\n\r\nbody\r\n", 30 * DAY)
    hour = put_orphan(srv, b"Subject: an hour ago\r\n\r\nbody\r\n", 3600)
    fresh = put_orphan(srv, b"Subject: in flight\r\n\r\nbody\r\n", 0)
    # bob's body under alice's prefix: alice has no row for it, bob does
    (blob_dir(srv) / bob_hash).write_bytes((blob_dir(srv, "bob") / bob_hash).read_bytes())
    t = time.time() - 30 * DAY
    os.utime(blob_dir(srv) / bob_hash, (t, t))
    # not a body key: never ours to delete
    notes = blob_dir(srv) / "notes.txt"
    notes.write_bytes(b"x")
    os.utime(notes, (t, t))

    # a grace period longer than the orphans' ages: only the 30-day ones go
    r = admin(srv, "cleanup", "run", "--grace-period", "2h", check=0)
    assert summary(r) == (2, 0)
    left = set(blob_files(srv))
    assert old not in left and bob_hash not in left
    assert {hour, fresh, "notes.txt"} <= left
    assert set(delivered) <= left
    assert (blob_dir(srv, "bob") / bob_hash).exists()
    logged = re.findall(r"event=cleanup\.orphan_deleted key=example\.org/alice/(\w+) age=(\d+)s",
                        r.stderr)
    assert sorted(k for k, _ in logged) == sorted([old, bob_hash]), r.stderr
    assert all(int(age) >= 30 * DAY - 60 for _, age in logged), logged

    # 1s: the hour-old one goes too; the fresh one (a delivery in flight)
    # stays whatever the grace period says
    r = admin(srv, "cleanup", "run", "--grace-period", "1s", check=0)
    assert summary(r) == (1, 0)
    left = set(blob_files(srv))
    assert hour not in left
    assert {fresh, "notes.txt"} <= left
    assert set(delivered) <= left

    # idempotent
    r = admin(srv, "cleanup", "run", "--grace-period", "1s", check=0)
    assert summary(r) == (0, 0)

    # every delivered message is still there, byte for byte
    m = imap_login(srv)
    assert fetch_all(m) == before
    m.logout()
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"), timeout=T(20))
    m.login(BOB, "pw")
    assert len(fetch_all(m)) == 1
    m.logout()


def test_orphans_postgres(sora, cluster, db, tmp_path):
    """The same sweep with the metadata on PostgreSQL (a real cluster); the
    cleanup lock is PostgreSQL's advisory lock here."""
    srv = pg_start(sora, pg_config(cluster, db, tmp_path))
    assert pg_deliver(srv) == {}
    alice = tmp_path / "blobs" / "example.org" / "alice"
    (body,) = [p.name for p in alice.iterdir()]
    t = time.time() - 30 * DAY
    os.utime(alice / body, (t, t))
    orphan = alice / hashlib.sha256(b"orphan").hexdigest()
    orphan.write_bytes(b"orphan")
    os.utime(orphan, (t, t))
    r = admin(srv, "cleanup", "run", "--grace-period", "1s", check=0)
    assert summary(r) == (1, 0)
    assert sorted(p.name for p in alice.iterdir()) == [body]
    im = pg_imap_login(srv)
    assert im.select("INBOX")[0] == "OK"
    typ, data = im.uid("FETCH", "1", "(BODY.PEEK[])")
    assert typ == "OK" and data[0][1].endswith(PG_MSG), data
    im.logout()
