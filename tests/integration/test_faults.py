"""Faults during delivery: kill -9 in the middle of a 10 MB LMTP DATA
leaves no partial message and the MTA's retry after the restart is stored
exactly once (and a retry of the same bytes after a lost 250 is absorbed,
not stored twice); an S3 outage is absorbed by the staged uploader (250,
nothing lost); a database outage answers 451 4.x.x and the next
attempt succeeds, without restarting sora."""

import poplib
import re
import signal
import smtplib
import socket
import sqlite3
import subprocess
import time

import pytest

from sora_testlib import S3RVER_SH, SORA_ADMIN, Client, S3Server, T

FS = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.lmtp]
    addr = "127.0.0.1:{port_lmtp}"

    [servers.pop3]
    addr = "127.0.0.1:{port_pop3}"
"""

S3 = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    driver = "s3"

    [s3]
    endpoint = "%s"
    disable_tls = true
    access_key = "S3RVER"
    secret_key = "S3RVER"
    bucket = "mail"
    timeout = "5s"

    [servers.lmtp]
    addr = "127.0.0.1:{port_lmtp}"

    [servers.pop3]
    addr = "127.0.0.1:{port_pop3}"
"""


def start(sora, text):
    srv = sora.new()
    srv.write_config(text)
    r = subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), "accounts", "create",
                        "--email", "alice@example.org", "--password", "pw", "--hash", "ssha512"],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    srv.start(text)
    return srv


def messages(srv):
    p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=T(30))
    p.user("alice@example.org")
    p.pass_("pw")
    count, _ = p.stat()
    bodies = [b"\r\n".join(p.retr(i + 1)[1]) + b"\r\n" for i in range(count)]
    p.quit()
    return bodies


BIG = (b"Subject: ten megabytes\r\nMessage-ID: <big@example.net>\r\n\r\n" +
       b"".join(b"%08d " % i + b"q" * 90 + b"\r\n" for i in range(105000)))


def lmtp_send(srv, msg):
    """One LMTP transaction with smtplib; {} when accepted."""
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(120)) as m:
        return m.sendmail("mta@example.net", ["alice@example.org"], msg)


def test_kill_9_during_10mb_data_then_retry_once(sora):
    srv = start(sora, FS)
    assert len(BIG) > 10 * 1000 * 1000
    s = socket.create_connection(("127.0.0.1", srv.port("lmtp")), timeout=T(30))
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"LHLO mta.test\r\nMAIL FROM:<mta@example.net>\r\n"
              b"RCPT TO:<alice@example.org>\r\nDATA\r\n")
    while not f.readline().startswith(b"354"):
        pass
    s.sendall(BIG[:6 * 1000 * 1000])  # more than half, no final dot
    time.sleep(0.3)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=T(10))
    s.close()
    srv.expected_rc = None
    srv.proc = None
    srv.start(FS)
    srv.expected_rc = 0
    assert messages(srv) == []  # nothing half-stored
    # the MTA retries the whole message: stored once
    assert lmtp_send(srv, BIG) == {}
    # the MTA lost our 250 and sends the same bytes again: absorbed
    assert lmtp_send(srv, BIG) == {}
    srv.wait_log(r"event=lmtp\.saved rcpt=alice@example\.org mailbox=INBOX uid=\d+ "
                 r"size=\d+ duplicate=yes")
    got = messages(srv)
    assert len(got) == 1
    assert got[0].split(b"\r\n\r\n", 1)[1] == BIG.split(b"\r\n\r\n", 1)[1]
    # the same bytes for another address of the account are a delivery,
    # not a retry (Sora's default script files +detail into its mailbox)
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(120)) as m:
        assert m.sendmail("mta@example.net", ["alice+copy@example.org"], BIG) == {}
    srv.wait_log(r"event=lmtp\.saved rcpt=alice\+copy@example\.org mailbox=copy uid=1 "
                 r"size=\d+\n")
    # different bytes are a different message
    assert lmtp_send(srv, BIG + b"one more line\r\n") == {}
    assert len(messages(srv)) == 2


@pytest.fixture
def s3(tmp_path):
    r = subprocess.run([str(S3RVER_SH), "install"], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(f"cannot install the S3 test servers:\n{r.stderr[-3000:]}")
    srv = S3Server("fork", tmp_path / "s3").start()
    yield srv
    srv.stop()


def test_s3_outage_is_absorbed_by_staging(sora, s3):
    """Sora acknowledges once the body is staged on local disk ([uploader]):
    with S3 down, LMTP still answers 250, and every message is there once
    S3 is back, without a restart."""
    srv = start(sora, S3 % s3.endpoint)
    assert lmtp_send(srv, b"Subject: before\r\n\r\nbefore the outage\r\n") == {}
    s3.stop()
    assert lmtp_send(srv, b"Subject: during\r\n\r\nduring the outage\r\n") == {}
    s3.start(port=s3.port)  # same port, same data: S3 is back
    assert lmtp_send(srv, b"Subject: after\r\n\r\nafter the outage\r\n") == {}
    got = messages(srv)
    assert [re.search(rb"Subject: (\w+)", m).group(1) for m in got] == \
        [b"before", b"during", b"after"]
    assert srv.proc.poll() is None  # never restarted


def test_database_outage_451_then_success_without_restart(sora):
    """The metadata store is unavailable (another process holds SQLite's
    write lock past the busy timeout): 451 4.3.0 for the recipient, nothing
    stored; the MTA's next attempt succeeds once the lock is gone."""
    srv = start(sora, FS)
    db = sqlite3.connect(str(srv.dir / "data" / "sora.db"), timeout=30, isolation_level=None)
    with Client(srv.port("lmtp"), timeout=T(60)) as c:
        c.readline()
        c.sendline("LHLO mta.test")
        c.smtp_reply()
        c.send(b"MAIL FROM:<mta@example.net>\r\nRCPT TO:<alice@example.org>\r\n")
        assert c.smtp_reply() == ["250 2.1.0 OK"]
        assert c.smtp_reply() == ["250 2.1.5 OK"]
        db.execute("BEGIN EXCLUSIVE")  # the outage starts
        c.sendline("DATA")
        assert c.smtp_reply()[0].startswith("354")
        c.send(b"Subject: outage\r\n\r\nbody\r\n.\r\n")
        reply = c.smtp_reply(timeout=T(60))
        assert re.fullmatch(r"451 4\.\d\.\d <alice@example\.org> .*", reply[0]), reply
        db.execute("ROLLBACK")  # and ends
        c.send(b"MAIL FROM:<mta@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        assert c.smtp_reply() == ["250 2.1.0 OK"]
        assert c.smtp_reply() == ["250 2.1.5 OK"]
        assert c.smtp_reply()[0].startswith("354")
        c.send(b"Subject: outage\r\n\r\nbody\r\n.\r\n")
        assert c.smtp_reply(timeout=T(60)) == ["250 2.0.0 <alice@example.org> Saved"]
    db.close()
    srv.wait_log(r"event=lmtp\.failed rcpt=alice@example\.org reason=")
    got = messages(srv)
    assert len(got) == 1 and b"Subject: outage" in got[0]
    assert srv.proc.poll() is None
