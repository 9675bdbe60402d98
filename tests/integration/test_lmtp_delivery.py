"""LMTP delivery end to end: real MTA-side clients (smtplib.LMTP, swaks)
deliver into the real store, and POP3 reads the messages back byte-exact.
Many recipients per transaction with one reply each (RFC 2033), unknown
recipients, the size limit enforced while streaming, empty messages,
dot-stuffing, a 10 MB message, and kill -9 in the middle of a delivery:
no partial message, and the MTA's retry succeeds once."""

import poplib
import re
import signal
import smtplib
import socket
import subprocess
import time

from sora_testlib import SORA_ADMIN, T, Client

CONFIG = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.lmtp]
    addr = "127.0.0.1:{port_lmtp}"
    max_message_size = "%s"

    [servers.pop3]
    addr = "127.0.0.1:{port_pop3}"
    max_connections_per_ip = 50
"""

USERS = ("alice@example.org", "bob@example.org")


def admin(srv, *args):
    return subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), *args],
                          capture_output=True, text=True, timeout=T(60))


def start(sora, max_size="20mb"):
    srv = sora.new()
    text = CONFIG % max_size
    srv.write_config(text)
    for u in USERS:
        r = admin(srv, "accounts", "create", "--email", u, "--password", "pw",
                  "--hash", "ssha512")  # fast logins: this file tests delivery
        assert r.returncode == 0, r.stderr
    srv.start(text)
    return srv


def pop3_messages(srv, user):
    p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=T(10))
    p.user(user)
    p.pass_("pw")
    count, _ = p.stat()
    bodies = [b"\r\n".join(p.retr(i + 1)[1]) + b"\r\n" for i in range(count)]
    p.quit()
    return bodies


def without_received(raw):
    """The message as sent: drop the Delivered-To: and Received: headers
    LMTP prepends."""
    assert raw.startswith(b"Delivered-To: "), raw[:80]
    raw = raw.split(b"\r\n", 1)[1]
    assert raw.startswith(b"Received: from "), raw[:80]
    head, rest = raw.split(b"\r\n", 1)
    while rest.startswith(b"\t"):
        rest = rest.split(b"\r\n", 1)[1]
    return rest


MSG = (b"From: Sender <sender@example.net>\r\nTo: alice@example.org\r\n"
       b"Subject: =?UTF-8?B?SGVsbG8gV8O2cmxk?=\r\nMessage-ID: <m1@example.net>\r\n"
       b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
       b"first line\r\n.line starting with a dot\r\n..two dots\r\nlast\r\n")


def test_multi_recipient_one_reply_each(sora, tmp_path):
    srv = start(sora)
    # swaks speaks RFC 2033: one reply per accepted recipient after DATA
    # (Python's smtplib.LMTP reads only one, so it is used for one recipient)
    path = tmp_path / "m.eml"
    path.write_bytes(MSG)
    r = subprocess.run(["swaks", "--protocol", "LMTP", "--server",
                        f"127.0.0.1:{srv.port('lmtp')}", "--from", "sender@example.net",
                        "--to", "alice@example.org,nobody@example.org,Bob+lists@example.org",
                        "--data", f"@{path}", "--timeout", str(int(T(30)))],
                       capture_output=True, text=True, timeout=T(60))
    out = r.stdout
    assert re.search(r"^<\*\* 550 5\.1\.1 User unknown", out, re.M), out
    assert re.search(r"^<-  250 2\.0\.0 <alice@example\.org> Saved", out, re.M), out
    assert re.search(r"^<-  250 2\.0\.0 <Bob\+lists@example\.org> Saved", out, re.M), out
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(10)) as m:
        assert m.sendmail("sender@example.net", ["alice@example.org"], MSG) == {}
    assert len(pop3_messages(srv, "alice@example.org")) == 2
    # Sora's default Sieve script files +detail into its own mailbox, so
    # bob's INBOX (all POP3 serves) stays empty
    assert pop3_messages(srv, "bob@example.org") == []
    for user in USERS[:1]:
        bodies = pop3_messages(srv, user)
        # swaks and smtplib dot-stuff, the server un-stuffs, POP3 stuffs,
        # poplib un-stuffs: the bytes arrive as they were sent
        assert without_received(bodies[-1]).rstrip(b"\r\n") == MSG.rstrip(b"\r\n")
        assert b"by " in bodies[0] and b"with LMTP id " in bodies[0]
    srv.wait_log(r"event=lmtp\.saved rcpt=alice@example\.org mailbox=INBOX uid=1")
    srv.wait_log(r"event=lmtp\.saved rcpt=Bob\+lists@example\.org mailbox=lists uid=1")


def test_per_recipient_replies_on_the_wire(sora):
    srv = start(sora)
    with Client(srv.port("lmtp")) as c:
        c.readline()
        c.send(b"LHLO mta.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
               b"RCPT TO:<bob@example.org>\r\nDATA\r\n")
        c.smtp_reply()
        assert c.smtp_reply() == ["250 2.1.0 OK"]
        assert c.smtp_reply() == ["250 2.1.5 OK"]
        assert c.smtp_reply() == ["250 2.1.5 OK"]
        assert c.smtp_reply()[0].startswith("354 ")
        c.send(b"Subject: t\r\n\r\nhello\r\n.\r\n")
        assert c.smtp_reply() == ["250 2.0.0 <alice@example.org> Saved"]
        assert c.smtp_reply() == ["250 2.0.0 <bob@example.org> Saved"]
        # an empty message: refused for every recipient
        c.send(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n.\r\n")
        assert c.smtp_reply() == ["250 2.1.0 OK"]
        assert c.smtp_reply() == ["250 2.1.5 OK"]
        assert c.smtp_reply()[0].startswith("354 ")
        assert c.smtp_reply() == ["550 5.6.0 Empty message"]
    assert len(pop3_messages(srv, "alice@example.org")) == 1


def test_size_limit_while_streaming(sora):
    srv = start(sora, max_size="64kb")
    with Client(srv.port("lmtp")) as c:
        c.readline()
        c.send(b"LHLO mta.test\r\n")
        c.smtp_reply()
        c.send(b"MAIL FROM:<s@example.net> SIZE=1000000\r\n")
        assert c.smtp_reply() == ["552 5.3.4 Message size exceeds fixed maximum message size"]
        c.send(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
               b"RCPT TO:<bob@example.org>\r\nDATA\r\n")
        for _ in range(3):
            c.smtp_reply()
        assert c.smtp_reply()[0].startswith("354 ")
        c.send(b"Subject: big\r\n\r\n")
        for _ in range(2000):  # 200 KB, over the limit: read and dropped as it comes
            c.send(b"x" * 98 + b"\r\n")
        c.send(b".\r\n")
        assert c.smtp_reply() == ["552 5.3.4 Message size exceeds fixed maximum message size"]
        assert c.smtp_reply() == ["552 5.3.4 Message size exceeds fixed maximum message size"]
        c.sendline("NOOP")
        assert c.smtp_reply() == ["250 2.0.0 OK"]
    assert pop3_messages(srv, "alice@example.org") == []


def test_swaks_10mb_byte_exact(sora, tmp_path):
    srv = start(sora)
    body = b"".join(b"line %07d " % i + b"y" * 88 + b"\r\n" for i in range(100000))
    msg = b"Subject: big one\r\nFrom: s@example.net\r\n\r\n" + body
    path = tmp_path / "big.eml"
    path.write_bytes(msg)
    r = subprocess.run(["swaks", "--protocol", "LMTP", "--server",
                        f"127.0.0.1:{srv.port('lmtp')}", "--from", "s@example.net",
                        "--to", "alice@example.org", "--data", f"@{path}", "--suppress-data",
                        "--timeout", str(int(T(60)))],
                       capture_output=True, text=True, timeout=T(120))
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^<-  250 2\.0\.0 <alice@example\.org> Saved", r.stdout, re.M), r.stdout
    got = pop3_messages(srv, "alice@example.org")
    # swaks ends the data with one more CRLF of its own
    assert len(got) == 1 and without_received(got[0]).rstrip(b"\r\n") == msg.rstrip(b"\r\n")


def test_kill_9_mid_delivery_then_retry(sora):
    srv = start(sora)
    s = socket.create_connection(("127.0.0.1", srv.port("lmtp")), timeout=T(10))
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"LHLO mta.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
              b"DATA\r\n")
    lines = [f.readline()]
    while not lines[-1].startswith(b"354") and lines[-1]:
        lines.append(f.readline())
    assert lines[-1].startswith(b"354"), lines
    s.sendall(b"Subject: half\r\n\r\n" + b"z" * 70 * 1000 + b"\r\n")  # no final dot yet
    time.sleep(0.2)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=T(10))
    srv.expected_rc = None  # killed on purpose
    s.close()
    # restart on the same data: nothing was acknowledged, nothing is there
    srv.proc = None
    srv.start(CONFIG % "20mb")
    srv.expected_rc = 0
    assert pop3_messages(srv, "alice@example.org") == []
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(10)) as m:
        assert m.sendmail("s@example.net", ["alice@example.org"],
                          b"Subject: retry\r\n\r\n" + b"z" * 70 + b"\r\n") == {}
    got = pop3_messages(srv, "alice@example.org")
    assert len(got) == 1 and b"Subject: retry" in got[0]
