"""LMTP CHUNKING (RFC 3030 BDAT) and Postfix's XCLIENT, over raw sockets:
chunks are stored byte-exact (no dot-stuffing), one reply per recipient
after BDAT LAST, BDAT 0 LAST, DATA after BDAT refused, refused chunks
still read (the session stays in sync), the size limit checked while the
chunks stream in; XCLIENT only from an explicit trusted_networks list,
changing the Received: header and the log's remote=."""

import poplib
import re
import subprocess

from sora_testlib import SORA_ADMIN, T, Client

CONFIG = """
    %s
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.lmtp]
    addr = "127.0.0.1:{port_lmtp}"
    max_message_size = "%s"

    [servers.pop3]
    addr = "127.0.0.1:{port_pop3}"
"""

TOO_BIG = "552 5.3.4 Message size exceeds fixed maximum message size"


def start(sora, max_size="20mb", servers=""):
    srv = sora.new()
    text = CONFIG % (servers, max_size)
    srv.write_config(text)
    for u in ("alice@example.org", "bob@example.org"):
        r = subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), "accounts",
                            "create", "--email", u, "--password", "pw", "--hash", "ssha512"],
                           capture_output=True, text=True, timeout=T(60))
        assert r.returncode == 0, r.stderr
    srv.start(text)
    return srv


def messages(srv, user):
    p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=T(10))
    p.user(user)
    p.pass_("pw")
    count, _ = p.stat()
    bodies = [b"\r\n".join(p.retr(i + 1)[1]) + b"\r\n" for i in range(count)]
    p.quit()
    return bodies


def session(srv):
    c = Client(srv.port("lmtp"))
    assert c.readline().startswith("220 ")
    c.sendline("LHLO mta.test")
    return c, c.smtp_reply()


def envelope(c, *rcpts):
    c.send(b"MAIL FROM:<s@example.net>\r\n" +
           b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts))
    assert c.smtp_reply() == ["250 2.1.0 OK"]
    for _ in rcpts:
        assert c.smtp_reply() == ["250 2.1.5 OK"]


def body_of(raw):
    """The message as sent: after Delivered-To and our Received header."""
    return raw.split(b"with LMTP id ", 1)[1].split(b"\r\n", 2)[2]


def test_chunking_advertised_and_two_recipients(sora):
    srv = start(sora)
    part1 = b"Subject: chunked\r\nFrom: s@example.net\r\n\r\n.a dot line stays\r\n"
    part2 = b"..two dots stay too\r\nlast line\r\n"
    c, caps = session(srv)
    with c:
        assert "250-CHUNKING" in caps, caps
        assert not any("XCLIENT" in ln for ln in caps), caps
        envelope(c, "alice@example.org", "bob@example.org")
        # pipelined: two chunks in one write, the second LAST
        c.send(b"BDAT %d\r\n" % len(part1) + part1 + b"BDAT %d LAST\r\n" % len(part2) + part2)
        assert c.smtp_reply() == [f"250 2.0.0 {len(part1)} octets received"]
        assert c.smtp_reply() == ["250 2.0.0 <alice@example.org> Saved"]
        assert c.smtp_reply() == ["250 2.0.0 <bob@example.org> Saved"]
        # BDAT 0 LAST ends a message whose bytes came in earlier chunks
        envelope(c, "alice@example.org")
        c.send(b"BDAT 3\r\nab\nBDAT 0 LAST\r\n")
        assert c.smtp_reply() == ["250 2.0.0 3 octets received"]
        assert c.smtp_reply() == ["250 2.0.0 <alice@example.org> Saved"]
        c.sendline("NOOP")
        assert c.smtp_reply() == ["250 2.0.0 OK"]
    for user in ("alice@example.org", "bob@example.org"):
        got = messages(srv, user)
        # BDAT data is binary-exact: no dot removal (RFC 3030 §2)
        assert body_of(got[0]) == part1 + part2
    got = messages(srv, "alice@example.org")
    assert len(got) == 2 and body_of(got[1]) == b"ab\r\n"


def test_bdat_sequence_rules(sora):
    srv = start(sora)
    c, _ = session(srv)
    with c:
        # no transaction: the chunk is read and dropped, then refused
        c.send(b"BDAT 13 LAST\r\nRCPT TO:<x>\r\n")
        assert c.smtp_reply() == ["503 5.5.1 Need RCPT command first"]
        c.sendline("NOOP")
        assert c.smtp_reply() == ["250 2.0.0 OK"]
        c.sendline("BDAT ten")
        assert c.smtp_reply() == ["501 5.5.4 Syntax: BDAT <chunk-size> [LAST]"]
        c.sendline("BDAT 5 FIRST")
        assert c.smtp_reply() == ["501 5.5.4 Syntax: BDAT <chunk-size> [LAST]"]
        # DATA after BDAT: 503, the BDAT transfer goes on
        envelope(c, "alice@example.org")
        head = b"Subject: mix\r\n\r\n"
        c.send(b"BDAT %d\r\n" % len(head) + head)
        assert c.smtp_reply() == [f"250 2.0.0 {len(head)} octets received"]
        c.sendline("DATA")
        assert c.smtp_reply() == ["503 5.5.1 DATA not allowed after BDAT"]
        c.send(b"BDAT 6 LAST\r\nbody\r\n")
        assert c.smtp_reply() == ["250 2.0.0 <alice@example.org> Saved"]
        # an empty message
        envelope(c, "alice@example.org")
        c.send(b"BDAT 0 LAST\r\n")
        assert c.smtp_reply() == ["550 5.6.0 Empty message"]
        # RSET in the middle of a BDAT transfer drops it
        envelope(c, "alice@example.org")
        c.send(b"BDAT 4\r\nxxxxRSET\r\n")
        assert c.smtp_reply() == ["250 2.0.0 4 octets received"]
        assert c.smtp_reply() == ["250 2.0.0 OK"]
        c.send(b"BDAT 1 LAST\r\nz")
        assert c.smtp_reply() == ["503 5.5.1 Need RCPT command first"]
    got = messages(srv, "alice@example.org")
    assert len(got) == 1 and body_of(got[0]) == b"Subject: mix\r\n\r\nbody\r\n"


def test_bdat_size_limit_while_streaming(sora):
    srv = start(sora, max_size="64kb")
    c, _ = session(srv)
    with c:
        envelope(c, "alice@example.org", "bob@example.org")
        chunk = b"y" * 40000
        c.send(b"BDAT 40000\r\n" + chunk)
        assert c.smtp_reply() == ["250 2.0.0 40000 octets received"]
        # this chunk crosses the limit: refused before LAST, and what the
        # client had pipelined behind it is read and refused too
        c.send(b"BDAT 40000\r\n" + chunk + b"BDAT 10 LAST\r\n0123456789")
        assert c.smtp_reply() == [TOO_BIG]
        assert c.smtp_reply() == ["503 5.5.1 Need RCPT command first"]
        c.sendline("NOOP")
        assert c.smtp_reply() == ["250 2.0.0 OK"]
        # one LAST chunk over the limit: one 552 per recipient
        envelope(c, "alice@example.org", "bob@example.org")
        c.send(b"BDAT 70000 LAST\r\n" + b"z" * 70000)
        assert c.smtp_reply() == [TOO_BIG]
        assert c.smtp_reply() == [TOO_BIG]
        c.sendline("NOOP")
        assert c.smtp_reply() == ["250 2.0.0 OK"]
    assert messages(srv, "alice@example.org") == []


XCLIENT_TRUSTED = """
    [servers]
    trusted_networks = ["127.0.0.0/8"]
"""


def test_xclient_refused_without_explicit_trusted_networks(sora):
    srv = start(sora)  # the built-in default admits loopback, trusts nobody
    c, caps = session(srv)
    with c:
        assert not any("XCLIENT" in ln for ln in caps), caps
        c.sendline("XCLIENT ADDR=203.0.113.9 HELO=forged.example")
        assert c.smtp_reply() == ["550 5.7.0 Error: insufficient authorization"]
        envelope(c, "alice@example.org")
        c.send(b"DATA\r\n")
        assert c.smtp_reply()[0].startswith("354")
        c.send(b"Subject: x\r\n\r\nhi\r\n.\r\n")
        assert c.smtp_reply() == ["250 2.0.0 <alice@example.org> Saved"]
    srv.wait_log(r"event=lmtp\.xclient\.refused")
    got = messages(srv, "alice@example.org")
    assert b"forged" not in got[0] and b"[127.0.0.1]" in got[0]
    assert "remote=203.0.113.9" not in srv.log()


def test_xclient_from_trusted_network(sora):
    srv = start(sora, servers=XCLIENT_TRUSTED)
    c, caps = session(srv)
    with c:
        assert "250-XCLIENT ADDR PORT PROTO HELO LOGIN NAME" in caps, caps
        c.sendline("XCLIENT ADDR=203.0.113.9 PORT=4242 PROTO=ESMTP HELO=mx+2Eexample.net "
                   "NAME=mx.example.net LOGIN=bob+40example.org")
        # Postfix: a new greeting, then the client says LHLO again
        assert re.fullmatch(r"220 \S+ LMTP Sora ready", c.readline())
        c.sendline("LHLO proxy.internal")
        c.smtp_reply()
        envelope(c, "alice@example.org")
        c.send(b"BDAT 18 LAST\r\nSubject: x\r\n\r\nhi\r\n")
        assert c.smtp_reply() == ["250 2.0.0 <alice@example.org> Saved"]
        # not inside a transaction; bad attributes refused
        envelope(c, "alice@example.org")
        c.sendline("XCLIENT ADDR=198.51.100.1")
        assert c.smtp_reply() == ["503 5.5.1 Error: MAIL transaction in progress"]
        c.sendline("RSET")
        c.smtp_reply()
        c.sendline("XCLIENT COLOR=blue")
        assert c.smtp_reply() == ["501 5.5.4 Bad XCLIENT attribute name"]
        c.sendline("XCLIENT ADDR=not-an-ip")
        assert c.smtp_reply() == ["501 5.5.4 Bad XCLIENT ADDR syntax"]
        c.sendline("XCLIENT HELO=a+0D+0AReceived:x")
        assert c.smtp_reply() == ["501 5.5.4 Bad XCLIENT attribute value"]
        # [UNAVAILABLE] means "unknown": accepted, changes nothing
        c.sendline("XCLIENT NAME=[UNAVAILABLE]")
        assert c.readline().startswith("220 ")
    got = messages(srv, "alice@example.org")
    assert got[0].startswith(b"Delivered-To: alice@example.org\r\n"
                             b"Received: from mx.example.net (mx.example.net [203.0.113.9])\r\n"
                             b"\t(Authenticated sender: bob@example.org)\r\n\tby "), got[0][:200]
    srv.wait_log(r"remote=203\.0\.113\.9 event=lmtp\.xclient addr=203\.0\.113\.9 port=4242 "
                 r"helo=mx\.example\.net name=mx\.example\.net login=bob@example\.org "
                 r"proto=ESMTP")
    srv.wait_log(r"remote=203\.0\.113\.9 event=lmtp\.saved rcpt=alice@example\.org")
