"""PROXY protocol v1/v2: trusted peers only, the forwarded address in the
log (remote=), LOCAL/UNKNOWN keep the socket peer, split and pipelined
headers, malformed/truncated/absent headers, TLS after the header, both
config layouts; curl --haproxy-protocol and HAProxy (send-proxy,
send-proxy-v2) as real proxies."""

import re
import shutil
import subprocess
import time

import pytest

from sora_testlib import (T, Client, closed_without_data, connect, imap_greeting, proxy_v1,
                          proxy_v2)

SEED = """
[servers.imap]
addr = "127.0.0.1:{port_imap}"

[servers.imap.proxy_protocol]
enabled = true
trusted_proxies = ["127.0.0.1/32", "::1/128"]
timeout = "1s"

[[server]]
type = "imap"
name = "imaps"
addr = "127.0.0.1:{port_imaps}"
tls = true
tls_cert_file = "{cert}"
tls_key_file = "{key}"
proxy_protocol = true

[servers]
trusted_networks = ["127.0.0.1/32"]
"""

GREETING = imap_greeting()
# a forwarded non-loopback client on plaintext may not log in
REMOTE = imap_greeting(login=False)


@pytest.fixture
def pp(sora):
    return sora.start(SEED, log_level="debug")


def connect_line(srv, remote):
    srv.wait_log(rf"proto=imap remote={re.escape(remote)} event=connect ")
    return srv.connect_lines(remote)


def test_v1_tcp4(pp):
    with Client(pp.port("imap"), preamble=proxy_v1("192.0.2.7", sport=51234)) as c:
        assert c.readline() == REMOTE
        assert c.cmd("a", "NOOP") == ["a OK NOOP completed"]
    line = connect_line(pp, "192.0.2.7")[0]
    assert "socket_peer=127.0.0.1" in line


def test_v1_tcp6(pp):
    hdr = proxy_v1("2001:db8::42", "2001:db8::1", family="TCP6")
    with Client(pp.port("imap"), preamble=hdr) as c:
        assert c.readline() == REMOTE
    connect_line(pp, "2001:db8::42")


def test_v1_unknown_keeps_socket_peer(pp):
    with Client(pp.port("imap"), preamble=b"PROXY UNKNOWN\r\n") as c:
        assert c.readline() == GREETING
    connect_line(pp, "127.0.0.1")
    pp.wait_log(r"event=proxy\.header version=1 local=yes")


def test_v2_tcp4_and_tcp6(pp):
    with Client(pp.port("imap"), preamble=proxy_v2("203.0.113.5")) as c:
        assert c.readline() == REMOTE
    connect_line(pp, "203.0.113.5")
    with Client(pp.port("imap"), preamble=proxy_v2("2001:db8::77", "2001:db8::1")) as c:
        assert c.readline() == REMOTE
    connect_line(pp, "2001:db8::77")
    pp.wait_log(r"event=proxy\.header version=2 local=no")


def test_v2_with_tlvs(pp):
    # ALPN (0x01), AUTHORITY (0x02), NOOP (0x04), UNIQUE_ID (0x05)
    tlvs = b"\x01\x00\x04imap" + b"\x02\x00\x0bexample.com" + b"\x04\x00\x03abc" + \
        b"\x05\x00\x08uniqueid"
    with Client(pp.port("imap"), preamble=proxy_v2("203.0.113.6", tlvs=tlvs)) as c:
        assert c.readline() == REMOTE
    connect_line(pp, "203.0.113.6")


def test_v2_local_keeps_socket_peer(pp):
    with Client(pp.port("imap"), preamble=proxy_v2(local=True)) as c:
        assert c.readline() == GREETING
    pp.wait_log(r"event=proxy\.header version=2 local=yes")


def test_header_byte_by_byte(pp):
    hdr = proxy_v2("198.51.100.1")
    with Client.from_socket(connect(pp.port("imap"))) as c:
        for i in range(len(hdr)):
            c.send(hdr[i:i + 1])
            time.sleep(0.003)
        assert c.readline() == REMOTE
    hdr = proxy_v1("198.51.100.2")
    with Client.from_socket(connect(pp.port("imap"))) as c:
        for i in range(len(hdr)):
            c.send(hdr[i:i + 1])
            time.sleep(0.003)
        assert c.readline() == REMOTE
    connect_line(pp, "198.51.100.1")
    connect_line(pp, "198.51.100.2")


def test_command_pipelined_after_header(pp):
    for hdr in (proxy_v1("192.0.2.8"), proxy_v2("192.0.2.9")):
        with Client(pp.port("imap"), preamble=hdr + b"p1 NOOP\r\np2 CAPABILITY\r\n") as c:
            assert c.readline() == REMOTE
            assert c.readline() == "p1 OK NOOP completed"
            assert c.readline().startswith("* CAPABILITY ")
            assert c.readline() == "p2 OK CAPABILITY completed"


def test_tls_after_header(pp, certs):
    with Client(pp.port("imaps"), preamble=proxy_v2("192.0.2.10"),
                tls=certs.client_context()) as c:
        assert c.readline() == GREETING
    line = connect_line(pp, "192.0.2.10")[0]
    assert "tls=yes" in line


@pytest.mark.parametrize("junk", [
    b"PROXY GARBAGE\r\n",
    b"PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\n",
    b"PROXY TCP4 192.0.2.1 127.0.0.1 1\r\n",
    b"a1 NOOP\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"\r\n\r\n\x00\r\nQUIT\n\x99\x11\x00\x0c" + b"\x00" * 12,  # bad version
    b"PROXY " + b"1" * 200 + b"\r\n",
])
def test_malformed_header_closes_without_greeting(pp, junk):
    s = connect(pp.port("imap"))
    try:
        s.sendall(junk)
        assert closed_without_data(s) == b""
    finally:
        s.close()
    pp.wait_log(r"event=proxy\.invalid")
    with Client(pp.port("imap"), preamble=proxy_v1("192.0.2.11")) as c:
        assert c.readline() == REMOTE


def test_truncated_header_times_out(pp):
    s = connect(pp.port("imap"))
    try:
        s.sendall(proxy_v1("192.0.2.12")[:20])
        t0 = time.monotonic()
        assert closed_without_data(s, timeout=T(5)) == b""
        assert time.monotonic() - t0 < T(4)
    finally:
        s.close()
    pp.wait_log(r"event=proxy\.timeout")


@pytest.mark.parametrize("partial", [b"", b"PROXY TCP4 192.0.2.30 ",
                                     b"\r\n\r\n\x00\r\nQUIT\n\x21"])
def test_partial_header_does_not_spin(sora, partial):
    """A header arriving slowly must be waited for, not polled: with a
    level-triggered epoll, peeking at bytes that stay in the socket makes the
    loop spin at 100% CPU until the rest arrives (or the timeout)."""
    srv = sora.start(SEED.replace('timeout = "1s"', 'timeout = "10s"'))
    s = connect(srv.port("imap"))
    try:
        s.sendall(partial)
        time.sleep(0.1)
        cpu0, t0 = srv.cpu_seconds(), time.monotonic()
        time.sleep(1.0)
        used = srv.cpu_seconds() - cpu0
        wall = time.monotonic() - t0
        assert used < 0.25 * wall, (f"server used {used:.2f}s CPU in {wall:.2f}s while a "
                                    f"PROXY header was incomplete")
    finally:
        s.close()


def test_no_header_times_out(pp):
    s = connect(pp.port("imap"))
    try:
        assert closed_without_data(s, timeout=T(5)) == b""
    finally:
        s.close()
    pp.wait_log(r"event=proxy\.timeout")


def test_untrusted_peer_closed_without_greeting(pp):
    # 127.0.0.2 is not in trusted_proxies (127.0.0.1/32)
    s = connect(pp.port("imap"), source="127.0.0.2")
    try:
        s.sendall(proxy_v1("192.0.2.13"))
        assert closed_without_data(s) == b""
    finally:
        s.close()
    pp.wait_log(r"remote=127\.0\.0\.2 event=proxy\.untrusted")
    assert not pp.connect_lines("192.0.2.13")
    # [[server]] proxy_protocol = true takes [servers] trusted_networks
    s = connect(pp.port("imaps"), source="127.0.0.3")
    try:
        s.sendall(proxy_v2("192.0.2.14"))
        assert closed_without_data(s) == b""
    finally:
        s.close()
    pp.wait_log(r"remote=127\.0\.0\.3 event=proxy\.untrusted")


# --- real proxies ---

def test_curl_haproxy_protocol_trusted_and_untrusted(sora):
    trusted = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"

        [servers.imap.proxy_protocol]
        enabled = true
        trusted_proxies = ["127.0.0.0/8"]
    """)
    untrusted = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"

        [servers.imap.proxy_protocol]
        enabled = true
        trusted_proxies = ["127.0.0.1/32"]
    """)
    for srv, ok in ((trusted, True), (untrusted, False)):
        r = subprocess.run(["curl", "-v", "--max-time", str(int(T(10))), "--haproxy-protocol",
                            "--interface", "127.0.0.7", "-u", "alice:secret",
                            f"imap://127.0.0.1:{srv.port('imap')}/"],
                           capture_output=True, text=True, timeout=T(20))
        assert r.returncode != 0
        if ok:
            assert "< * OK [CAPABILITY IMAP4rev2" in r.stderr, r.stderr
            assert re.search(r"< A\d+ NO \[AUTHENTICATIONFAILED\]", r.stderr), r.stderr
            line = connect_line(srv, "127.0.0.7")[0]
            assert "socket_peer=127.0.0.7" in line
        else:
            assert "* OK" not in r.stderr, r.stderr
            srv.wait_log(r"remote=127\.0\.0\.7 event=proxy\.untrusted")
            assert not srv.connect_lines()


HAPROXY_CFG = """
global
    maxconn 100

defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s

frontend fe_v1
    bind 127.0.0.1:{hp_v1}
    default_backend be_v1

backend be_v1
    server sora 127.0.0.1:{imap} send-proxy

frontend fe_v2
    bind 127.0.0.1:{hp_v2}
    default_backend be_v2

backend be_v2
    server sora 127.0.0.1:{imap} send-proxy-v2

frontend fe_tls
    bind 127.0.0.1:{hp_tls}
    default_backend be_tls

backend be_tls
    server sora 127.0.0.1:{imaps} send-proxy-v2
"""


@pytest.fixture
def haproxy(pp, spawn, tmp_path):
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed (apt-get install haproxy)")
    from sora_testlib import free_port
    ports = {"hp_v1": free_port(), "hp_v2": free_port(), "hp_tls": free_port(),
             "imap": pp.port("imap"), "imaps": pp.port("imaps")}
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(**ports))
    log = open(tmp_path / "haproxy.log", "wb")
    proc = spawn(["haproxy", "-db", "-f", str(cfg)], stdout=log, stderr=log)
    deadline = time.monotonic() + T(10)
    while True:
        if proc.poll() is not None:
            pytest.fail(f"haproxy exited: {(tmp_path / 'haproxy.log').read_text()}")
        try:
            # only check that it listens: no connection through to sora
            with open("/proc/net/tcp") as f:
                listening = {int(ln.split()[1].split(":")[1], 16) for ln in f.readlines()[1:]
                             if ln.split()[3] == "0A"}
            if all(ports[k] in listening for k in ("hp_v1", "hp_v2", "hp_tls")):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("haproxy did not listen in time")
        time.sleep(0.05)
    yield ports
    log.close()


def test_haproxy_send_proxy_v1_and_v2(pp, haproxy, certs):
    for key, src in (("hp_v1", "127.0.0.5"), ("hp_v2", "127.0.0.6")):
        with Client(haproxy[key], source=src) as c:
            assert c.readline() == GREETING
            assert c.cmd("a", "NOOP") == ["a OK NOOP completed"]
            assert c.cmd("b", "LOGOUT")[-1] == "b OK LOGOUT completed"
        line = connect_line(pp, src)[0]
        # the socket peer is haproxy on 127.0.0.1, the client is src
        assert "socket_peer=127.0.0.1" in line, line
    pp.wait_log(r"event=proxy\.header version=1 local=no")
    pp.wait_log(r"event=proxy\.header version=2 local=no")


def test_haproxy_send_proxy_v2_tls_passthrough(pp, haproxy, certs):
    with Client(haproxy["hp_tls"], source="127.0.0.8", tls=certs.client_context()) as c:
        assert c.readline() == GREETING
        assert c.cmd("a", "NOOP") == ["a OK NOOP completed"]
    line = connect_line(pp, "127.0.0.8")[0]
    assert "tls=yes" in line


def test_haproxy_many_connections(pp, haproxy):
    clients = [Client(haproxy["hp_v2"], source=f"127.0.1.{i + 1}") for i in range(20)]
    try:
        for c in clients:
            assert c.readline() == GREETING
        for i, c in enumerate(clients):
            assert c.cmd(f"t{i}", "NOOP") == [f"t{i} OK NOOP completed"]
    finally:
        for c in clients:
            c.close()
    for i in range(20):
        connect_line(pp, f"127.0.1.{i + 1}")
