"""LMTP: greeting, LHLO extensions, command replies, pipelining, errors,
the trusted-networks gate, idle timeout, STARTTLS with smtplib.LMTP,
openssl s_client -starttls lmtp and swaks."""

import re
import smtplib
import subprocess

import pytest

from sora_testlib import T, Client, s_client, s_client_verify_args

LMTP = """
[servers.lmtp]
addr = "127.0.0.1:{port_lmtp}"
tls = true
tls_use_starttls = true
tls_cert_file = "{cert}"
tls_key_file = "{key}"
max_line_length = 512
"""

LMTP_PLAIN = """
[servers.lmtp]
addr = "127.0.0.1:{port_lmtp}"
"""


@pytest.fixture
def lmtp(sora):
    return sora.start(LMTP, log_level="debug")


def greeted(srv, **kw):
    c = Client(srv.port("lmtp"), **kw)
    g = c.readline()
    assert re.fullmatch(r"220 \S+ LMTP Sora ready", g), g
    return c


def lhlo(c, domain="client.test"):
    c.sendline(f"LHLO {domain}")
    return c.smtp_reply()


def test_greeting_and_lhlo(lmtp):
    with greeted(lmtp) as c:
        r = lhlo(c)
        assert re.fullmatch(r"250-\S+", r[0]), r
        assert r[1:] == ["250-STARTTLS", "250-PIPELINING", "250-8BITMIME", "250-CHUNKING",
                         "250-SIZE 52428800", "250 ENHANCEDSTATUSCODES"]


def test_lhlo_without_starttls_configured(sora):
    srv = sora.start(LMTP_PLAIN)
    with greeted(srv) as c:
        r = lhlo(c)
        assert r[1:] == ["250-PIPELINING", "250-8BITMIME", "250-CHUNKING",
                         "250-SIZE 52428800", "250 ENHANCEDSTATUSCODES"], r
        c.sendline("STARTTLS")
        assert c.smtp_reply() == ["502 5.5.1 STARTTLS not available"]


def test_command_replies(lmtp):
    with greeted(lmtp) as c:
        c.sendline("MAIL FROM:<a@example.test>")
        assert c.smtp_reply() == ["503 5.5.1 Send LHLO first"]
        c.sendline("LHLO")
        assert c.smtp_reply() == ["501 5.5.4 LHLO requires a domain name"]
        lhlo(c)
        for line, reply in [
            ("NOOP", "250 2.0.0 OK"),
            ("RSET", "250 2.0.0 OK"),
            ("noop", "250 2.0.0 OK"),
            ("VRFY alice", "252 2.5.0 Cannot VRFY user, but will accept message"),
            ("RCPT TO:<a@example.test>", "503 5.5.1 Need MAIL command first"),
            ("DATA", "503 5.5.1 Need RCPT command first"),
            ("HELO client.test", "500 5.5.1 This is LMTP: use LHLO"),
            ("EHLO client.test", "500 5.5.1 This is LMTP: use LHLO"),
            ("FROB", "500 5.5.2 Unknown command"),
        ]:
            c.sendline(line)
            assert c.smtp_reply() == [reply], line
    # a fresh session: the 10-error limit must not cut the rest short
    with greeted(lmtp) as c:
        lhlo(c)
        c.sendline("MAIL FROM:<a@example.test>")
        assert c.smtp_reply() == ["250 2.1.0 OK"]
        c.sendline("MAIL FROM:<a@example.test>")
        assert c.smtp_reply() == ["503 5.5.1 MAIL already given"]
        c.sendline("DATA")
        assert c.smtp_reply() == ["503 5.5.1 No valid recipients"]
        c.sendline("RCPT TO:<no-such-user@example.test>")
        assert c.smtp_reply() == ["550 5.1.1 User unknown"]
        c.sendline("RCPT TO:broken")
        assert c.smtp_reply() == ["501 5.5.4 Syntax: RCPT TO:<address>"]
        c.sendline("QUIT")
        r = c.smtp_reply()
        assert re.fullmatch(r"221 2\.0\.0 \S+ closing connection", r[0]), r
        assert c.wait_closed() == b""


def test_pipelining(lmtp):
    with greeted(lmtp) as c:
        c.send(b"LHLO p.test\r\nNOOP\r\nMAIL FROM:<a@b.test>\r\nRSET\r\nQUIT\r\n")
        assert c.smtp_reply()[-1] == "250 ENHANCEDSTATUSCODES"
        assert c.smtp_reply() == ["250 2.0.0 OK"]
        assert c.smtp_reply() == ["250 2.1.0 OK"]
        assert c.smtp_reply() == ["250 2.0.0 OK"]
        assert c.smtp_reply()[0].startswith("221 ")
        assert c.wait_closed() == b""


def test_line_too_long_then_still_works(lmtp):
    with greeted(lmtp) as c:
        c.send(b"NOOP " + b"x" * 600 + b"\r\n")
        assert c.smtp_reply() == ["500 5.5.2 Line too long"]
        # a much longer line arriving in pieces is discarded as it comes
        for _ in range(50):
            c.send(b"y" * 10000)
        c.send(b"\r\nNOOP\r\n")
        assert c.smtp_reply() == ["500 5.5.2 Line too long"]
        assert c.smtp_reply() == ["250 2.0.0 OK"]
        # exactly at the limit is fine
        c.sendline("NOOP " + "z" * (512 - 5))
        assert c.smtp_reply() == ["250 2.0.0 OK"]


def test_nul_byte_refused(lmtp):
    with greeted(lmtp) as c:
        c.send(b"NO\x00OP\r\n")
        assert c.smtp_reply() == ["500 5.5.2 NUL byte in command"]
        c.sendline("NOOP")
        assert c.smtp_reply() == ["250 2.0.0 OK"]


def test_too_many_errors_close(lmtp):
    with greeted(lmtp) as c:
        for _ in range(9):
            c.sendline("BOGUS")
            assert c.smtp_reply() == ["500 5.5.2 Unknown command"]
        c.sendline("BOGUS")
        assert c.smtp_reply() == ["500 5.5.2 Unknown command"]
        r = c.smtp_reply()
        assert re.fullmatch(r"421 4\.7\.0 \S+ Too many errors, closing connection", r[0]), r
        assert c.wait_closed() == b""


def test_untrusted_network_refused(sora):
    srv = sora.start("""
        [servers]
        trusted_networks = ["10.0.0.0/8"]

        [servers.lmtp]
        addr = "127.0.0.1:{port_lmtp}"
    """)
    with Client(srv.port("lmtp")) as c:
        assert c.readline() == "421 4.7.0 LMTP connections only allowed from trusted networks"
        assert c.wait_closed() == b""
    srv.wait_log(r"event=lmtp\.untrusted")


def test_idle_timeout(sora):
    srv = sora.start(LMTP_PLAIN + 'idle_timeout = "1s"\n')
    with greeted(srv) as c:
        lhlo(c)
        r = c.smtp_reply(timeout=T(5))
        assert re.fullmatch(r"421 4\.4\.2 \S+ Error: timeout exceeded", r[0]), r
        assert c.wait_closed() == b""


def test_starttls_manual(lmtp, certs):
    with greeted(lmtp) as c:
        lhlo(c)
        # pipelined plaintext after STARTTLS must be dropped (CVE-2011-0411)
        c.send(b"STARTTLS\r\nRSET\r\n")
        assert c.smtp_reply() == ["220 2.0.0 Ready to start TLS"]
        c.starttls(certs.client_context())
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        c.sendline("NOOP")
        assert c.smtp_reply() == ["250 2.0.0 OK"], "plaintext RSET leaked into the TLS session"
        # after TLS, LHLO no longer offers STARTTLS and STARTTLS is refused
        r = lhlo(c)
        assert "250-STARTTLS" not in r
        c.sendline("STARTTLS")
        assert c.smtp_reply() == ["503 5.5.1 TLS already active"]


def test_smtplib_lmtp(lmtp, certs):
    with smtplib.LMTP("127.0.0.1", lmtp.port("lmtp"), timeout=T(5)) as m:
        code, _ = m.ehlo("client.test")  # smtplib.LMTP sends LHLO
        assert code == 250
        assert m.has_extn("pipelining") and m.has_extn("enhancedstatuscodes")
        assert m.has_extn("starttls")
        code, msg = m.starttls(context=certs.client_context())
        assert code == 220, msg
        assert m.sock.version() in ("TLSv1.2", "TLSv1.3")
        code, _ = m.ehlo("client.test")
        assert code == 250 and not m.has_extn("starttls")
        assert m.noop()[0] == 250
        # nobody there: every recipient refused
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            m.sendmail("a@example.test", ["b@example.test"], "Subject: x\r\n\r\nhi\r\n")
        assert e.value.recipients["b@example.test"][0] == 550
        assert m.rset()[0] == 250


def test_openssl_s_client_starttls_lmtp(lmtp, certs):
    r = s_client(lmtp.port("lmtp"), "-starttls", "lmtp", *s_client_verify_args(certs),
                 input="LHLO after.tls\nNOOP\nQUIT\n")
    assert "Verify return code: 0 (ok)" in r.stdout, r.stdout + r.stderr
    assert "250 2.0.0 OK" in r.stdout
    assert re.search(r"^221 2\.0\.0 ", r.stdout, re.M), r.stdout


def test_swaks_starttls(lmtp):
    r = subprocess.run(["swaks", "--protocol", "LMTP", "--server",
                        f"127.0.0.1:{lmtp.port('lmtp')}", "--tls", "--helo", "swaks.test",
                        "--from", "sender@example.test", "--to", "rcpt@example.test",
                        "--timeout", str(int(T(10)))],
                       capture_output=True, text=True, timeout=T(30))
    out = r.stdout + r.stderr
    if "TLS requested but not available" in out or "requires Net::SSLeay" in out:
        pytest.fail("swaks has no TLS support: install libnet-ssleay-perl")
    assert re.search(r"^ -> LHLO swaks\.test", out, re.M), out
    assert re.search(r"^<-  220 2\.0\.0 Ready to start TLS", out, re.M), out
    assert re.search(r"^=== TLS started with cipher TLSv1\.[23]", out, re.M), out
    # everything after STARTTLS goes over TLS (swaks marks it ~> / <~)
    assert re.search(r"^ ~> LHLO swaks\.test", out, re.M), out
    assert re.search(r"^<~\* 550 5\.1\.1 User unknown", out, re.M), out
    assert r.returncode != 0  # the recipient does not exist
    lmtp.wait_log(r"event=lmtp\.command verb=MAIL")
