"""LMTP honours QUOTA (RFC 9208 limits as IMAP reports them): over the
account's limit, or the IMAP section's default, a recipient gets
552 5.2.2 while the others of the same transaction are delivered."""

import imaplib
import smtplib
import socket
import subprocess

from sora_testlib import SORA_ADMIN, T

CFG = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.lmtp]
    addr = "127.0.0.1:{port_lmtp}"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
    quota_messages = 2
"""


def admin(srv, *args):
    r = subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), *args],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stdout + r.stderr


def count(srv, user):
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login(user, "pw")
    n = int(m.select("INBOX", readonly=True)[1][0])
    m.logout()
    return n


def test_over_quota_is_552_per_recipient(sora):
    srv = sora.new()
    srv.write_config(CFG)
    for u in ("alice", "bob"):
        admin(srv, "accounts", "create", "--email", f"{u}@example.org", "--password", "pw",
              "--hash", "ssha512")
    # bob has his own, larger limit
    admin(srv, "accounts", "update", "--email", "bob@example.org", "--quota-messages", "10")
    srv.start(CFG)
    for i in range(2):
        for rcpt in ("alice@example.org", "bob@example.org"):
            with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(30)) as c:
                assert c.sendmail("s@remote.test", [rcpt],
                                  b"Subject: %d\r\n\r\nbody\r\n" % i) == {}
    # one transaction, two recipients: one reply each after DATA (RFC 2033)
    with socket.create_connection(("127.0.0.1", srv.port("lmtp")), timeout=T(30)) as s:
        f = s.makefile("rb")
        s.sendall(b"LHLO t\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.org>\r\n"
                  b"RCPT TO:<bob@example.org>\r\nDATA\r\n")
        lines = []
        while not (lines and lines[-1].startswith(b"354")):
            lines.append(f.readline())
        s.sendall(b"Subject: third\r\n\r\nbody\r\n.\r\n")
        first, second = f.readline(), f.readline()
    assert first.startswith(b"552 5.2.2 <alice@example.org>"), first
    assert second.startswith(b"250 2.0.0 <bob@example.org>"), second
    assert count(srv, "alice@example.org") == 2
    assert count(srv, "bob@example.org") == 3
    srv.wait_log(r"event=lmtp\.overquota rcpt=alice@example\.org")
