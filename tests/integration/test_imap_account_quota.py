"""Per-account QUOTA limits (RFC 9208): `sora-admin accounts update
--quota-storage/--quota-messages` stores them with the account (schema
version 2); GETQUOTAROOT, GETQUOTA, APPEND and COPY use them before the
server's `quota_storage` / `quota_messages` defaults."""

import imaplib
import re
import subprocess

import pytest

from sora_testlib import SORA_ADMIN, T

BASE = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
"""

MSG = (b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: q\r\n"
       b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n" + b"x" * 2000 + b"\r\n")


def admin(s, *args, check=True):
    r = subprocess.run([str(SORA_ADMIN), "--config", str(s.config_path), *args],
                       capture_output=True, text=True, timeout=T(60))
    if check:
        assert r.returncode == 0, r.stderr
    return r


def login(s, user="alice"):
    m = imaplib.IMAP4("127.0.0.1", s.port("imap"))
    m.login(f"{user}@example.org", "secret")
    return m


def quota(m, name="INBOX"):
    typ, dat = m.getquotaroot(name)
    assert typ == "OK", dat
    return [x.decode() for x in dat[1] if x is not None]


def start(sora, extra=""):
    s = sora.new()
    s.write_config(BASE + extra)
    for user in ("alice", "bob"):
        admin(s, "accounts", "create", "--email", f"{user}@example.org", "--password",
              "secret")
    s.start(BASE + extra)
    return s


def test_account_limits_override_default(sora):
    s = start(sora)
    m = login(s)
    # no limit anywhere: no quota root
    assert quota(m) == []
    typ, dat = m.getquota('""')
    assert typ == "NO" and b"NONEXISTENT" in dat[0]

    r = admin(s, "accounts", "update", "--email", "alice@example.org",
              "--quota-messages", "2")
    assert "messages 2" in r.stdout
    assert re.search(r"^quota-messages\s+2$", admin(s, "accounts", "show", "--email",
                                                    "alice@example.org").stdout, re.M)
    assert quota(m) == ['"" (MESSAGE 0 2)']
    assert m.append("INBOX", None, None, MSG)[0] == "OK"
    assert m.append("INBOX", None, None, MSG)[0] == "OK"
    typ, dat = m.append("INBOX", None, None, MSG)
    assert typ == "NO" and b"OVERQUOTA" in dat[0]
    m.select("INBOX")
    typ, dat = m.copy("1", "Archive")
    assert typ == "NO" and b"OVERQUOTA" in dat[0]

    # bob has no limit of his own
    b = login(s, "bob")
    assert quota(b) == []
    for _ in range(3):
        assert b.append("INBOX", None, None, MSG)[0] == "OK"
    b.logout()

    # storage in units of 1024 octets; the message limit is kept
    admin(s, "accounts", "update", "--email", "alice@example.org", "--quota-storage", "1MiB")
    assert quota(m) == ['"" (STORAGE 5 1024 MESSAGE 2 2)']
    # back to the server default (none): no root again
    admin(s, "accounts", "update", "--email", "alice@example.org",
          "--quota-storage", "default", "--quota-messages", "default")
    assert quota(m) == []
    assert m.append("INBOX", None, None, MSG)[0] == "OK"
    m.logout()


def test_server_default_and_account_override(sora):
    s = start(sora, '    quota_messages = 1\n')
    a = login(s)
    assert quota(a) == ['"" (MESSAGE 0 1)']
    admin(s, "accounts", "update", "--email", "alice@example.org", "--quota-messages", "3")
    assert quota(a) == ['"" (MESSAGE 0 3)']
    for _ in range(3):
        assert a.append("INBOX", None, None, MSG)[0] == "OK"
    assert a.append("INBOX", None, None, MSG)[0] == "NO"
    b = login(s, "bob")
    assert b.append("INBOX", None, None, MSG)[0] == "OK"
    assert b.append("INBOX", None, None, MSG)[0] == "NO"
    a.logout()
    b.logout()


@pytest.mark.parametrize("args,err", [
    (["--quota-storage", "lots"], "--quota-storage: 'lots' is not a size"),
    (["--quota-messages", "1k"], "--quota-messages: '1k' is not a number"),
])
def test_bad_values(sora, args, err):
    s = sora.new()
    s.write_config(BASE)
    admin(s, "accounts", "create", "--email", "alice@example.org", "--password", "secret")
    r = admin(s, "accounts", "update", "--email", "alice@example.org", *args, check=False)
    assert r.returncode != 0 and err in r.stderr, r.stderr
    r = admin(s, "accounts", "update", "--email", "nobody@example.org",
              "--quota-messages", "5", check=False)
    assert r.returncode == 1 and "nobody@example.org" in r.stderr
