"""IMAP before login, over plaintext: greeting, CAPABILITY, NOOP, ID,
LOGIN/AUTHENTICATE, state errors, parser errors, literals, the bad-command
limit, LOGOUT; LOGINDISABLED/PRIVACYREQUIRED for a non-loopback peer
(made with a PROXY header); Python's imaplib as a real client."""

import imaplib
import re
import socket

import pytest

from sora_testlib import AUTH_FAILED, T, Client, imap_caps, imap_greeting, proxy_v1

PLAIN = """
[servers.imap]
addr = "127.0.0.1:{port_imap}"
"""

GREETING_PLAIN = imap_greeting()


@pytest.fixture
def imap(sora):
    return sora.start(PLAIN, log_level="debug")


def client(srv, name="imap", **kw):
    c = Client(srv.port(name), **kw)
    return c


def greeted(srv, name="imap", **kw):
    c = client(srv, name, **kw)
    g = c.readline()
    assert g.startswith("* OK "), g
    return c


def test_greeting_exact(imap):
    with client(imap) as c:
        assert c.readline() == GREETING_PLAIN


def test_capability_noop_logout(imap):
    with greeted(imap) as c:
        assert c.cmd("a1", "CAPABILITY") == [
            "* CAPABILITY " + imap_caps(),
            "a1 OK CAPABILITY completed"]
        assert c.cmd("a2", "noop") == ["a2 OK NOOP completed"]
        assert c.cmd("a3", "LOGOUT") == ["* BYE Logging out", "a3 OK LOGOUT completed"]
        assert c.wait_closed() == b""


def test_commands_are_case_insensitive_and_tags_echoed(imap):
    with greeted(imap) as c:
        assert c.cmd("Tag.1", "cApAbIlItY")[-1] == "Tag.1 OK CAPABILITY completed"
        assert c.cmd("x", "Noop") == ["x OK NOOP completed"]


def test_id(imap):
    with greeted(imap) as c:
        lines = c.cmd("i1", 'ID ("name" "pytest" "version" "1.0")')
        assert re.fullmatch(r'\* ID \("name" "Sora" "vendor" "Sora in C" "version" "[^"]+"\)',
                            lines[0]), lines
        assert lines[1] == "i1 OK ID completed"
        assert c.cmd("i2", "ID NIL")[-1] == "i2 OK ID completed"
        assert c.cmd("i3", "ID")[-1].startswith("i3 BAD ")
        assert c.cmd("i4", 'ID ("odd")')[-1].startswith("i4 BAD ")
    imap.wait_log(r"event=imap\.id name=pytest version=1\.0")


def test_login_and_authenticate_unknown_user(imap):
    with greeted(imap) as c:
        r = c.cmd("l1", "LOGIN alice secret")
        assert r == ["l1 " + AUTH_FAILED], r
        r = c.cmd("l2", "AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==")
        assert r == ["l2 " + AUTH_FAILED], r
        # the connection stays usable
        assert c.cmd("l3", "NOOP") == ["l3 OK NOOP completed"]
    log = imap.log()
    assert "secret" not in log and "AGFsaWNl" not in log, "credentials leaked into the log"
    assert "args=<redacted>" in log


@pytest.mark.parametrize("command", ["SELECT INBOX", "LIST \"\" *", "FETCH 1 FLAGS",
                                     "APPEND INBOX {3+}\r\nabc", "IDLE", "UID FETCH 1 FLAGS",
                                     "ENABLE IMAP4rev2", "STATUS INBOX (MESSAGES)"])
def test_commands_need_login(imap, command):
    name = command.split()[0].upper()
    with greeted(imap) as c:
        r = c.cmd("s1", command)
        assert r == [f"s1 BAD Command {name} is not valid before login"], r


def test_unknown_command(imap):
    with greeted(imap) as c:
        assert c.cmd("u1", "XYZZY") == ["u1 BAD Unknown command XYZZY"]


@pytest.mark.parametrize("line,reason", [
    ("a1 NOOP extra", "NOOP takes no arguments"),
    ("a1 CAPABILITY x", "CAPABILITY takes no arguments"),
    ('a1 LOGIN "unterminated', None),
    ("a1 LOGIN (a b", None),
    ("a1 LOGIN a)", None),
    ("a1", None),
    ("a1 LOGIN {abc}", None),
])
def test_malformed_commands_get_tagged_bad(imap, line, reason):
    with greeted(imap) as c:
        c.sendline(line)
        r = c.readline()
        assert r.startswith("a1 BAD "), r
        if reason is not None:
            assert r == f"a1 BAD {reason}"
        assert c.cmd("n", "NOOP") == ["n OK NOOP completed"]


def test_untagged_garbage_gets_star_bad(imap):
    with greeted(imap) as c:
        c.sendline("(((")
        r = c.readline()
        assert r.startswith("* BAD "), r
        assert c.cmd("n", "NOOP") == ["n OK NOOP completed"]


def test_synchronising_literal_gets_continuation(imap):
    with greeted(imap) as c:
        c.sendline("a1 LOGIN {5}")
        assert c.readline().startswith("+ ")
        c.sendline("alice {6}")
        assert c.readline().startswith("+ ")
        c.sendline("secret")
        assert c.readline() == "a1 " + AUTH_FAILED


def test_literal_plus_needs_no_continuation(imap):
    with greeted(imap) as c:
        c.send(b"a1 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\na2 NOOP\r\n")
        assert c.readline() == "a1 " + AUTH_FAILED
        assert c.readline() == "a2 OK NOOP completed"


def test_huge_literals_before_login_are_refused(imap):
    with greeted(imap) as c:
        # synchronising: refused at once, no "+", the client sends nothing more
        c.sendline("a1 LOGIN {100000000}")
        r = c.readline()
        assert r.startswith("a1 BAD "), r
        assert c.cmd("a2", "NOOP") == ["a2 OK NOOP completed"]
        # non-synchronising: the client sends the octets anyway; they are
        # skipped, never taken for commands
        c.send(b"a3 LOGIN {10000+}\r\n" + b"a4 NOOP\r\n" * 1111 + b"x\r\n")
        r = c.readline()
        assert r.startswith("a3 BAD "), r
        assert c.cmd("a5", "NOOP") == ["a5 OK NOOP completed"]


def test_preauth_command_size_is_bounded(imap):
    """Many literals, each under the pre-login literal limit, cannot add up
    to a big command before login."""
    with greeted(imap) as c:
        lit = b"{8000+}\r\n" + b"z" * 8000
        c.send(b"a1 ID (\"x\" " + b" ".join([lit] * 12) + b")\r\n")
        r = c.readline()
        assert r.startswith("a1 BAD "), r
        assert c.cmd("a2", "NOOP") == ["a2 OK NOOP completed"]


def test_id_values_cannot_forge_log_lines(imap):
    evil = b"x\r\n2030-01-01T00:00:00.000Z error event=forged"
    with greeted(imap) as c:
        c.send(b'i1 ID ("name" {%d+}\r\n%s)\r\n' % (len(evil), evil))
        assert c.readline().startswith("* ID ")
        assert c.readline() == "i1 OK ID completed"
    imap.wait_log(r"event=imap\.id ")
    assert not any(ln.startswith("2030-01-01") for ln in imap.log().splitlines())
    assert "event=forged" in imap.log()  # logged, but escaped on the id line


def test_half_close_after_commands_still_answered(imap):
    """`printf 'a NOOP\\r\\nb LOGOUT\\r\\n' | nc`: the client shuts its
    side down right after sending; every reply must still arrive."""
    with greeted(imap) as c:
        c.send(b"a NOOP\r\nb CAPABILITY\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        data = c.wait_closed().decode()
        assert data.startswith("a OK NOOP completed\r\n* CAPABILITY "), data
        assert data.endswith("b OK CAPABILITY completed\r\n"), data


def test_big_pipeline_then_half_close(imap):
    n = 100000
    with greeted(imap) as c:
        c.send(b"".join(b"p NOOP\r\n" for _ in range(n)))
        c.sock.shutdown(socket.SHUT_WR)
        data = c.wait_closed(timeout=T(20))
        assert data.count(b"p OK NOOP completed\r\n") == n
        assert len(data) == n * len(b"p OK NOOP completed\r\n")


def test_bad_command_limit_closes(imap):
    with greeted(imap) as c:
        for i in range(19):
            assert c.cmd(f"b{i}", "BOGUS")[-1].startswith(f"b{i} BAD")
        c.sendline("b19 BOGUS")
        assert c.readline().startswith("b19 BAD")
        assert c.readline() == "* BYE Too many invalid IMAP commands"
        assert c.wait_closed() == b""


def test_good_command_resets_bad_counter(imap):
    with greeted(imap) as c:
        for round_ in range(3):
            for i in range(19):
                c.sendline(f"b{i} BOGUS")
            for i in range(19):
                assert c.readline().startswith(f"b{i} BAD")
            assert c.cmd("ok", "NOOP") == ["ok OK NOOP completed"]


def test_bad_limit_counts_parser_errors_too(imap):
    with greeted(imap) as c:
        c.send(b"x \"\r\n" * 25)
        lines = []
        data = c.wait_closed().decode("latin-1")
        lines = data.split("\r\n")
        assert sum(1 for ln in lines if ln.startswith("x BAD ")) == 20, lines
        assert "* BYE Too many invalid IMAP commands" in lines


def test_pipelined_commands_answered_in_order(imap):
    with greeted(imap) as c:
        c.send(b"".join(b"p%d NOOP\r\n" % i for i in range(200)))
        for i in range(200):
            assert c.readline() == f"p{i} OK NOOP completed"


def test_empty_lines_are_ignored(imap):
    with greeted(imap) as c:
        c.send(b"\r\n\r\n\n")
        assert c.cmd("e1", "NOOP") == ["e1 OK NOOP completed"]


def test_eof_mid_command_is_clean(imap):
    with greeted(imap) as c:
        c.send(b"a1 LOGIN {5}\r\n")
        assert c.readline().startswith("+ ")
        c.send(b"al")
    with greeted(imap) as c:
        assert c.cmd("a", "NOOP") == ["a OK NOOP completed"]
    imap.wait_log(r"event=disconnect reason=disconnected", count=1)


# --- STARTTLS offered in the greeting, LOGINDISABLED for remote peers ---

STARTTLS_PROXY = """
[servers.imap]
addr = "127.0.0.1:{port_imap}"
tls = true
tls_use_starttls = true
tls_cert_file = "{cert}"
tls_key_file = "{key}"
insecure_auth = false

[servers.imap.proxy_protocol]
enabled = true
trusted_proxies = ["127.0.0.0/8"]
timeout = "2s"
"""


def test_starttls_port_greeting_from_loopback(sora):
    srv = sora.start(STARTTLS_PROXY)
    with client(srv, preamble=proxy_v1("127.0.0.9")) as c:
        assert c.readline() == imap_greeting(starttls=True)


def test_remote_plaintext_client_gets_logindisabled(sora, certs):
    srv = sora.start(STARTTLS_PROXY)
    with client(srv, preamble=proxy_v1("198.51.100.20")) as c:
        assert c.readline() == imap_greeting(starttls=True, login=False)
        r = c.cmd("l1", "LOGIN alice secret")
        assert r[-1].startswith("l1 NO [PRIVACYREQUIRED] "), r
        r = c.cmd("l2", "AUTHENTICATE PLAIN")
        assert r[-1].startswith("l2 NO [PRIVACYREQUIRED] "), r
        # after STARTTLS the same client may log in (gets UNAVAILABLE, no
        # PRIVACYREQUIRED) and LOGINDISABLED is gone
        assert c.cmd("s", "STARTTLS") == ["s OK Begin TLS negotiation now"]
        c.starttls(certs.client_context())
        assert c.cmd("c", "CAPABILITY") == [
            "* CAPABILITY " + imap_caps(), "c OK CAPABILITY completed"]
        assert c.cmd("l3", "LOGIN alice secret") == ["l3 " + AUTH_FAILED]


def test_insecure_auth_allows_plaintext_login(sora):
    srv = sora.start(STARTTLS_PROXY.replace("insecure_auth = false", "insecure_auth = true"))
    with client(srv, preamble=proxy_v1("198.51.100.20")) as c:
        assert c.readline() == imap_greeting(starttls=True)
        assert c.cmd("l1", "LOGIN alice secret") == ["l1 " + AUTH_FAILED]


# --- imaplib, a real client ---

def test_imaplib_plaintext(imap):
    m = imaplib.IMAP4("127.0.0.1", imap.port("imap"), timeout=T(5))
    try:
        assert "IMAP4REV2" in m.capabilities and "IMAP4REV1" in m.capabilities
        assert "STARTTLS" not in m.capabilities
        typ, data = m.noop()
        assert typ == "OK" and data == [b"NOOP completed"]
        typ, data = m.xatom("ID", "NIL")
        assert typ == "OK"
        with pytest.raises(imaplib.IMAP4.error, match=r"AUTHENTICATIONFAILED"):
            m.login("alice", "secret")
        # imaplib refuses SELECT before login itself; a raw atom reaches us
        with pytest.raises(imaplib.IMAP4.error, match=r"Unknown command XSORA"):
            m.xatom("XSORA")
    finally:
        typ, data = m.logout()
    assert typ == "BYE"
