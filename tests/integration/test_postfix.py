"""Postfix from Debian delivering to sora over LMTP: a throwaway Postfix
instance (postfix_testlib) routes example.org to lmtp:inet:127.0.0.1:<sora>;
swaks submits over SMTP to Postfix; the messages appear in the accounts'
INBOXes over IMAP. Three recipients travel in one LMTP transaction and get
one reply each (RFC 2033), which Postfix logs per recipient."""

import imaplib
import re
import subprocess

import pytest

from postfix_testlib import Postfix
from sora_testlib import SORA_ADMIN, T

CONFIG = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.lmtp]
    addr = "127.0.0.1:{port_lmtp}"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
"""

USERS = ("alice@example.org", "bob@example.org", "carol@example.org")


@pytest.fixture
def sora_lmtp(sora):
    srv = sora.new()
    srv.write_config(CONFIG)
    for u in USERS:
        r = subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), "accounts",
                            "create", "--email", u, "--password", "pw", "--hash", "ssha512"],
                           capture_output=True, text=True, timeout=T(60))
        assert r.returncode == 0, r.stderr
    srv.start(CONFIG, log_level="debug")
    return srv


@pytest.fixture
def postfix(sora_lmtp):
    pf = Postfix({"example.org": f"lmtp:inet:127.0.0.1:{sora_lmtp.port('lmtp')}"}).start()
    yield pf
    pf.stop()


def inbox(srv, user):
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login(user, "pw")
    m.select("INBOX", readonly=True)
    typ, data = m.uid("SEARCH", None, "ALL")
    msgs = []
    for uid in data[0].split():
        typ, d = m.uid("FETCH", uid, "(BODY.PEEK[])")
        msgs.append(d[0][1])
    m.logout()
    return msgs


def test_postfix_delivers_three_recipients_in_one_transaction(sora_lmtp, postfix):
    srv = sora_lmtp
    body = "Hello from Postfix.\r\n.a line with a leading dot\r\nBytes: \u00e9\u00e8\r\n"
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{postfix.smtp_port}",
                        "--from", "sender@postfix.test", "--to", ",".join(USERS),
                        "--header", "Subject: via postfix", "--body", body,
                        "--header", "Content-Type: text/plain; charset=utf-8",
                        "--timeout", str(int(T(30)))],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stdout + r.stderr
    queue_id = re.search(r"250 2\.0\.0 Ok: queued as (\w+)", r.stdout).group(1)
    for u in USERS:
        postfix.wait_log(rf"{queue_id}: to=<{re.escape(u)}>, relay=127\.0\.0\.1\[127\.0\.0\.1\]"
                         rf":{srv.port('lmtp')}.*status=sent \(250 2\.0\.0 <{re.escape(u)}> "
                         r"Saved\)")
    for u in USERS:
        msgs = inbox(srv, u)
        assert len(msgs) == 1, (u, msgs)
        m = msgs[0]
        assert m.startswith(f"Delivered-To: {u}\r\nReceived: from mx.postfix.test "
                            "(".encode()), m[:300]
        assert b"Subject: via postfix" in m
        assert queue_id.encode() in m  # Postfix's own Received: follows ours
        assert "\r\n.a line with a leading dot\r\n".encode() in m
        assert "Bytes: \u00e9\u00e8".encode() in m
    # one LMTP session, one transaction: the three saves share a session id
    # and the session saw one MAIL, three RCPT and one DATA
    sids = set(re.findall(r"sid=(\w+) proto=lmtp \S+ event=lmtp\.saved", srv.log()))
    assert len(sids) == 1, srv.log()[-3000:]
    assert len(re.findall(r"event=lmtp\.saved", srv.log())) == 3
    verbs = re.findall(r"event=lmtp\.command verb=(\w+)", srv.log())
    assert [verbs.count(v) for v in ("MAIL", "RCPT", "DATA")] == [1, 3, 1], verbs


def test_postfix_unknown_recipient_bounces(sora_lmtp, postfix):
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{postfix.smtp_port}",
                        "--from", "sender@postfix.test",
                        "--to", "nobody@example.org,alice@example.org",
                        "--timeout", str(int(T(30)))],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stdout + r.stderr
    postfix.wait_log(r"to=<nobody@example\.org>.*status=bounced \(host 127\.0\.0\.1"
                     r"\[127\.0\.0\.1\] said: 550 5\.1\.1 User unknown")
    postfix.wait_log(r"to=<alice@example\.org>.*status=sent")
    assert len(inbox(sora_lmtp, "alice@example.org")) == 1
