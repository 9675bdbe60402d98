"""TLS: implicit TLS and STARTTLS for IMAP, the whole chain served,
protocol versions (1.0/1.1 refused, 1.2/1.3 fine), client certificates
(tls_verify), handshake timeout and garbage; openssl s_client, curl,
imaplib.IMAP4_SSL and IMAP4.starttls() as real clients."""

import imaplib
import re
import socket
import ssl
import subprocess
import warnings

import pytest

from sora_testlib import (AUTH_FAILED, T, Client, closed_without_data, connect,
                          fingerprint_der, fingerprint_pem, imap_caps, imap_greeting,
                          pem_blocks, s_client, s_client_verify_args)

TLS = """
[servers.imap]
addr = "127.0.0.1:{port_starttls}"
tls = true
tls_use_starttls = true
tls_cert_file = "{cert}"
tls_key_file = "{key}"
tls_handshake_timeout = "1s"

[[server]]
type = "imap"
name = "imaps"
addr = "127.0.0.1:{port_imaps}"
tls = true
tls_cert_file = "{cert}"
tls_key_file = "{key}"
tls_handshake_timeout = "1s"

[servers.lmtp]
addr = "127.0.0.1:{port_lmtp}"
"""

MTLS = """
[[server]]
type = "imap"
name = "imaps-mtls"
addr = "127.0.0.1:{port_imaps}"
tls = true
tls_cert_file = "{cert}"
tls_key_file = "{key}"
tls_verify = true
tls_client_ca_file = "{client_ca}"
"""

GREETING_TLS = imap_greeting()


@pytest.fixture
def tls(sora):
    return sora.start(TLS, log_level="debug")


def test_implicit_tls_greeting_and_chain(tls, certs):
    # the context trusts only the root: verification needs the intermediate
    with Client(tls.port("imaps"), tls=certs.client_context()) as c:
        assert c.readline() == GREETING_TLS
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert fingerprint_der(c.sock.getpeercert(binary_form=True)) == \
            fingerprint_pem(certs.cert)
        assert c.cmd("a", "STARTTLS") == ["a BAD TLS is already active"]
        assert c.cmd("b", "LOGIN alice secret") == ["b " + AUTH_FAILED]
    tls.wait_log(r"proto=imap remote=127\.0\.0\.1 event=connect socket_peer=127\.0\.0\.1 "
                 r"tls=yes")


def test_openssl_showcerts_whole_chain(tls, certs):
    r = s_client(tls.port("imaps"), "-showcerts", *s_client_verify_args(certs),
                 input="a LOGOUT\n")
    assert "Verify return code: 0 (ok)" in r.stdout, r.stdout + r.stderr
    blocks = pem_blocks(r.stdout)
    assert len(blocks) == 2, f"expected leaf + intermediate, got {len(blocks)} certificates"
    assert blocks[0].strip() == certs.cert.read_text().strip()
    assert blocks[1].strip() == certs.intermediate.read_text().strip()
    assert GREETING_TLS in r.stdout
    assert "* BYE Logging out" in r.stdout


def test_openssl_starttls_imap(tls, certs):
    r = s_client(tls.port("starttls"), "-starttls", "imap", *s_client_verify_args(certs),
                 input="a CAPABILITY\na LOGOUT\n")
    assert "Verify return code: 0 (ok)" in r.stdout, r.stdout + r.stderr
    # over TLS, CAPABILITY no longer offers STARTTLS
    assert re.search(rf"^\* CAPABILITY {re.escape(imap_caps())}\r?$", r.stdout, re.M), r.stdout
    assert "* BYE Logging out" in r.stdout


@pytest.mark.parametrize("flag,version", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls12_and_tls13_accepted(tls, certs, flag, version):
    r = s_client(tls.port("imaps"), flag, *s_client_verify_args(certs), input="a LOGOUT\n")
    assert "Verify return code: 0 (ok)" in r.stdout, r.stdout + r.stderr
    assert re.search(rf"^(New|Reused), {re.escape(version)}, Cipher is ", r.stdout, re.M), \
        r.stdout
    assert GREETING_TLS in r.stdout


@pytest.mark.parametrize("flag", ["-tls1_1", "-tls1"])
def test_old_tls_versions_refused(tls, certs, flag):
    # SECLEVEL=0 so that our own OpenSSL is willing: the refusal is the server's
    r = s_client(tls.port("imaps"), flag, "-cipher", "DEFAULT@SECLEVEL=0",
                 *s_client_verify_args(certs), input="a LOGOUT\n")
    assert r.returncode != 0
    assert "* OK" not in r.stdout
    assert "Cipher is (NONE)" in r.stdout or "no protocols available" in r.stderr or \
        "alert protocol version" in r.stderr or "unsupported protocol" in r.stderr, \
        r.stdout + r.stderr
    tls.wait_log(r"event=tls\.failed")


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"])
def test_tls12_cbc_suites_refused(tls, certs, cipher):
    r = s_client(tls.port("imaps"), "-tls1_2", "-cipher", cipher, *s_client_verify_args(certs),
                 input="a LOGOUT\n")
    assert "* OK" not in r.stdout, r.stdout
    assert r.returncode != 0


def test_alpn(tls, certs):
    r = s_client(tls.port("imaps"), "-alpn", "imap", *s_client_verify_args(certs),
                 input="a LOGOUT\n")
    assert "ALPN protocol: imap" in r.stdout, r.stdout
    # a client offering only something else still gets a session
    r = s_client(tls.port("imaps"), "-alpn", "h2", *s_client_verify_args(certs),
                 input="a LOGOUT\n")
    assert "No ALPN negotiated" in r.stdout, r.stdout
    assert GREETING_TLS in r.stdout


def test_python_tls11_refused(tls, certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        Client(tls.port("imaps"), tls=ctx)
    with Client(tls.port("imaps"), tls=certs.client_context()) as c:
        assert c.readline() == GREETING_TLS


def test_starttls_manual_and_command_injection(tls, certs):
    with Client(tls.port("starttls")) as c:
        assert c.readline() == imap_greeting(starttls=True)
        # CVE-2011-0411: a command pipelined after STARTTLS in the same packet
        # must not be executed inside the TLS session
        c.send(b"s STARTTLS\r\ninj NOOP\r\n")
        assert c.readline() == "s OK Begin TLS negotiation now"
        c.starttls(certs.client_context())
        c.sendline("c CAPABILITY")
        assert c.readline() == "* CAPABILITY " + imap_caps(), \
            "a plaintext command leaked into the TLS session"
        assert c.readline() == "c OK CAPABILITY completed"
        assert c.cmd("s2", "STARTTLS") == ["s2 BAD TLS is already active"]


def test_starttls_on_plain_only_port_not_offered(sora):
    srv = sora.start('[servers.imap]\naddr = "127.0.0.1:{port_imap}"\n')
    with Client(srv.port("imap")) as c:
        assert "STARTTLS" not in c.readline()
        assert c.cmd("s", "STARTTLS") == ["s BAD STARTTLS is not available on this port"]
        assert c.cmd("n", "NOOP") == ["n OK NOOP completed"]


def test_starttls_then_eof_during_handshake(tls):
    with Client(tls.port("starttls")) as c:
        c.readline()
        assert c.cmd("s", "STARTTLS") == ["s OK Begin TLS negotiation now"]
    with Client(tls.port("starttls")) as c:
        assert c.readline().startswith("* OK ")


def test_imaplib_ssl(tls, certs):
    m = imaplib.IMAP4_SSL("localhost", tls.port("imaps"), ssl_context=certs.client_context(),
                          timeout=T(5))
    try:
        assert "IMAP4REV2" in m.capabilities and "STARTTLS" not in m.capabilities
        assert m.noop()[0] == "OK"
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            m.login("alice", "secret")
    finally:
        assert m.logout()[0] == "BYE"


def test_imaplib_starttls(tls, certs):
    m = imaplib.IMAP4("localhost", tls.port("starttls"), timeout=T(5))
    try:
        assert "STARTTLS" in m.capabilities
        typ, _ = m.starttls(ssl_context=certs.client_context())
        assert typ == "OK"
        assert m.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert "STARTTLS" not in m.capabilities  # imaplib asks CAPABILITY again
        assert m.noop()[0] == "OK"
    finally:
        assert m.logout()[0] == "BYE"


def test_curl_imaps_and_starttls(tls, certs):
    for url, extra in ((f"imaps://localhost:{tls.port('imaps')}/", []),
                       (f"imap://localhost:{tls.port('starttls')}/", ["--ssl-reqd"])):
        r = subprocess.run(["curl", "-v", "--max-time", str(int(T(10))), "--cacert",
                            str(certs.ca), "-u", "alice:secret", *extra, url],
                           capture_output=True, text=True, timeout=T(20))
        err = r.stderr
        assert r.returncode != 0  # no login in this build
        assert re.search(r"SSL connection using TLSv1\.[23]", err), err
        assert "SSL certificate verify ok" in err, err
        assert "< * OK [CAPABILITY IMAP4rev2" in err, err
        assert re.search(r"< A\d+ NO \[AUTHENTICATIONFAILED\]", err), err


def test_tls_client_close_notify_logged_as_disconnect(tls, certs):
    c = Client(tls.port("imaps"), tls=certs.client_context())
    assert c.readline() == GREETING_TLS
    c.sock.unwrap()  # sends close_notify
    c.close()
    tls.wait_log(r"event=disconnect reason=disconnected ")
    assert 'reason="TLS error"' not in tls.log()


def test_tls_client_plain_close_logged_as_disconnect(tls, certs):
    c = Client(tls.port("imaps"), tls=certs.client_context())
    assert c.readline() == GREETING_TLS
    c.close()  # most clients just close the socket, without close_notify
    tls.wait_log(r"event=disconnect reason=")
    assert 'reason="TLS error"' not in tls.log()
    assert "event=disconnect reason=disconnected " in tls.log()


def test_handshake_timeout(tls):
    s = connect(tls.port("imaps"))
    try:
        assert closed_without_data(s, timeout=T(4)) == b""
    finally:
        s.close()
    tls.wait_log(r"event=tls\.timeout")


def test_starttls_handshake_timeout(tls):
    with Client(tls.port("starttls")) as c:
        c.readline()
        assert c.cmd("s", "STARTTLS") == ["s OK Begin TLS negotiation now"]
        assert c.wait_closed(timeout=T(4)) == b""
    tls.wait_log(r"event=tls\.timeout")


def test_garbage_instead_of_handshake(tls, certs):
    s = connect(tls.port("imaps"))
    try:
        s.sendall(b"a1 CAPABILITY\r\n" * 10)
        data = closed_without_data(s)
        assert b"* OK" not in data and b"CAPABILITY" not in data
    finally:
        s.close()
    with Client(tls.port("imaps"), tls=certs.client_context()) as c:
        assert c.readline() == GREETING_TLS


def test_client_gives_up_mid_handshake(tls, certs):
    # send only the start of a ClientHello, then close
    ctx = certs.client_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = out.read()
    s = connect(tls.port("imaps"))
    s.sendall(hello[:len(hello) // 2])
    s.close()
    with Client(tls.port("imaps"), tls=certs.client_context()) as c:
        assert c.readline() == GREETING_TLS


# --- client certificates (tls_verify = true) ---

def test_mtls_accepts_client_certificate(sora, certs):
    srv = sora.start(MTLS, log_level="debug")
    r = s_client(srv.port("imaps"), "-cert", str(certs.client_cert), "-key",
                 str(certs.client_key), *s_client_verify_args(certs), input="a LOGOUT\n")
    assert "Verify return code: 0 (ok)" in r.stdout, r.stdout + r.stderr
    assert GREETING_TLS in r.stdout
    assert "* BYE Logging out" in r.stdout
    ctx = certs.client_context(certs.client_cert, certs.client_key)
    with Client(srv.port("imaps"), tls=ctx) as c:
        assert c.readline() == GREETING_TLS


@pytest.mark.parametrize("which", ["none", "rogue", "server"])
def test_mtls_refuses_missing_or_untrusted_certificate(sora, certs, which):
    srv = sora.start(MTLS)
    args = []
    if which == "rogue":
        args = ["-cert", str(certs.rogue_cert), "-key", str(certs.rogue_key)]
    elif which == "server":  # valid, but from the wrong CA for clients
        args = ["-cert", str(certs.cert), "-key", str(certs.key)]
    r = s_client(srv.port("imaps"), *args, *s_client_verify_args(certs), input="a LOGOUT\n")
    assert "* OK" not in r.stdout, r.stdout
    assert "* BYE" not in r.stdout
    srv.wait_log(r"event=tls\.failed")
    # Python too: with TLS 1.3 the refusal arrives on the first read
    ctx = certs.client_context()
    if which == "rogue":
        ctx.load_cert_chain(str(certs.rogue_cert), str(certs.rogue_key))
    with pytest.raises((ssl.SSLError, ConnectionResetError, EOFError, BrokenPipeError)):
        c = Client(srv.port("imaps"), tls=ctx)
        try:
            c.readline()
        finally:
            c.close()


def test_mtls_server_still_serves_after_refusals(sora, certs):
    srv = sora.start(MTLS)
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", srv.port("imaps")), timeout=T(5))
        try:
            ctx = certs.client_context()
            with pytest.raises((ssl.SSLError, ConnectionResetError, EOFError,
                                BrokenPipeError, TimeoutError)):
                t = ctx.wrap_socket(s, server_hostname="localhost")
                if not t.recv(100):
                    raise EOFError
        finally:
            s.close()
    ctx = certs.client_context(certs.client_cert, certs.client_key)
    with Client(srv.port("imaps"), tls=ctx) as c:
        assert c.readline() == GREETING_TLS
