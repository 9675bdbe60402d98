"""Limits and abuse: max_connections, max_connections_per_ip (socket peer
and PROXY-forwarded address), idle timeouts, long lines, NUL bytes, a
byte-by-byte (slowloris) command, 100 concurrent clients, a client that
never reads while pipelining 10 MB, and the server answering afterwards."""

import os
import selectors
import socket
import threading
import time

import pytest

from sora_testlib import AUTH_FAILED, SANITIZED, T, Client, connect, imap_greeting, proxy_v1

GREETING = imap_greeting()
BYE_LIMIT = "* BYE [UNAVAILABLE] Too many connections, try again later"
BYE_IDLE = "* BYE [UNAVAILABLE] Idle timeout, please reconnect"


REMOTE = imap_greeting(login=False)


def greeted(port, greeting=GREETING, **kw):
    c = Client(port, **kw)
    assert c.readline() == greeting
    return c


def refused(port, **kw):
    with Client(port, **kw) as c:
        assert c.readline() == BYE_LIMIT
        assert c.wait_closed() == b""


def greeted_eventually(port, timeout=3.0, greeting=GREETING, **kw):
    """A slot is freed when the server has seen the old client go away:
    retry for a short while."""
    deadline = time.monotonic() + T(timeout)
    while True:
        c = Client(port, **kw)
        line = c.readline()
        if line == greeting:
            return c
        c.close()
        assert line == BYE_LIMIT, line
        if time.monotonic() > deadline:
            raise AssertionError("connection slot never freed")
        time.sleep(0.05)


def test_max_connections(sora):
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
        max_connections = 3
    """)
    port = srv.port("imap")
    held = [greeted(port, source=f"127.0.0.{i + 1}") for i in range(3)]
    try:
        refused(port)
        refused(port, source="127.0.0.9")
        srv.wait_log(r"event=connect\.refused reason=\"connection limit\"")
        # one leaves: its slot is reusable; the refused ones held none
        held[0].cmd("l", "LOGOUT")
        held[0].close()
        held[0] = greeted_eventually(port)
        refused(port)
        # an abrupt disconnect frees its slot too
        held[1].close()
        held[1] = greeted_eventually(port)
    finally:
        for c in held:
            c.close()


def test_max_connections_per_ip(sora):
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
        max_connections_per_ip = 2
    """)
    port = srv.port("imap")
    held = [greeted(port, source="127.0.0.2"), greeted(port, source="127.0.0.2")]
    try:
        refused(port, source="127.0.0.2")
        held.append(greeted(port, source="127.0.0.3"))
        held.append(greeted(port, source="127.0.0.3"))
        refused(port, source="127.0.0.3")
        held[0].close()
        held[0] = greeted_eventually(port, source="127.0.0.2")
    finally:
        for c in held:
            c.close()


def test_per_ip_limit_uses_forwarded_address(sora):
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
        max_connections_per_ip = 1

        [servers.imap.proxy_protocol]
        enabled = true
        trusted_proxies = ["127.0.0.1/32"]
    """)
    port = srv.port("imap")
    # all from the one proxy, three different clients behind it
    held = [greeted(port, REMOTE, preamble=proxy_v1(f"198.51.100.{i}")) for i in (1, 2, 3)]
    try:
        refused(port, preamble=proxy_v1("198.51.100.2"))
    finally:
        for c in held:
            c.close()


def test_lmtp_max_connections(sora):
    srv = sora.start("""
        [servers.lmtp]
        addr = "127.0.0.1:{port_lmtp}"
        max_connections = 1
    """)
    with Client(srv.port("lmtp")) as c:
        assert c.readline().startswith("220 ")
        with Client(srv.port("lmtp")) as d:
            assert d.readline() == "421 4.7.0 Too many connections, try again later"
            assert d.wait_closed() == b""


def test_tls_port_refusal_after_handshake(sora, certs):
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imaps}"
        tls = true
        tls_cert_file = "{cert}"
        tls_key_file = "{key}"
        max_connections = 1
    """)
    with Client(srv.port("imaps"), tls=certs.client_context()) as c:
        assert c.readline() == GREETING
        with Client(srv.port("imaps"), tls=certs.client_context()) as d:
            assert d.readline() == BYE_LIMIT
            assert d.wait_closed() == b""


IDLE = """
[servers.imap]
addr = "127.0.0.1:{port_imap}"
auth_idle_timeout = "1s"
"""


def test_preauth_idle_timeout(sora):
    srv = sora.start(IDLE)
    with greeted(srv.port("imap")) as c:
        t0 = time.monotonic()
        assert c.readline(timeout=T(5)) == BYE_IDLE
        elapsed = time.monotonic() - t0
        assert 0.8 <= elapsed < T(3), elapsed
        assert c.wait_closed() == b""
    srv.wait_log(r"event=disconnect reason=\"idle timeout\"")


def test_activity_postpones_idle_timeout(sora):
    srv = sora.start(IDLE)
    with greeted(srv.port("imap")) as c:
        for i in range(5):  # 2 s of activity, every 0.4 s
            time.sleep(0.4)
            assert c.cmd(f"n{i}", "NOOP") == [f"n{i} OK NOOP completed"]
        assert c.readline(timeout=T(5)) == BYE_IDLE


def test_idle_timeout_frees_connection_slot(sora):
    srv = sora.start(IDLE + "max_connections = 1\n")
    with greeted(srv.port("imap")) as c:
        assert c.readline(timeout=T(5)) == BYE_IDLE
    c = greeted_eventually(srv.port("imap"))
    c.close()


def test_half_command_does_not_defeat_idle_timeout(sora):
    srv = sora.start(IDLE)
    with greeted(srv.port("imap")) as c:
        c.send(b"a1 LOGIN {5}\r\n")
        assert c.readline().startswith("+ ")
        assert c.readline(timeout=T(5)) == BYE_IDLE


def test_imap_line_too_long(sora):
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
        max_line_length = 1024
    """)
    with greeted(srv.port("imap")) as c:
        c.send(b"a1 NOOP " + b"x" * 5000 + b"\r\n")
        assert c.readline() == "a1 BAD Line too long"
        # a line of several MB is skipped as it streams, without growing memory
        chunk = b"y" * 65536
        c.send(b"a2 ID (\"name\" \"")
        for _ in range(64):
            c.send(chunk)
        c.send(b"\")\r\n")
        r = c.readline()
        assert r.startswith("a2 BAD "), r
        assert c.cmd("a3", "NOOP") == ["a3 OK NOOP completed"]
        # a line just under the limit is fine
        c.sendline("a4 LOGIN " + "u" * 1000 + " p")
        assert c.readline() == "a4 " + AUTH_FAILED
    if not SANITIZED:
        assert srv.rss_kib() < 64 * 1024, f"RSS {srv.rss_kib()} KiB after long lines"


def test_nul_bytes(sora):
    srv = sora.start('[servers.imap]\naddr = "127.0.0.1:{port_imap}"\n')
    with greeted(srv.port("imap")) as c:
        c.send(b"a1 NO\x00OP\r\n")
        assert c.readline() == "a1 BAD NUL byte in command"
        c.send(b"a2 LOGIN \"al\x00ice\" x\r\n")
        assert c.readline().startswith("a2 BAD ")
        c.send(b"\x00\x00\x00\r\n")
        assert c.readline().startswith("* BAD ")
        assert c.cmd("a3", "NOOP") == ["a3 OK NOOP completed"]


def test_slowloris_byte_by_byte_command_still_works(sora):
    srv = sora.start(IDLE.replace('"1s"', '"2s"') + """
        [servers.lmtp]
        addr = "127.0.0.1:{port_lmtp}"
    """)
    with greeted(srv.port("imap")) as c:
        for b in b"a1 CAPABILITY\r\n":
            c.send(bytes([b]))
            time.sleep(0.01)
        assert c.readline().startswith("* CAPABILITY IMAP4rev2 ")
        assert c.readline() == "a1 OK CAPABILITY completed"
        for b in b"a2 LOGIN {5}\r\n":
            c.send(bytes([b]))
            time.sleep(0.005)
        assert c.readline().startswith("+ ")
        for b in b"alice \"secret\"\r\n":
            c.send(bytes([b]))
            time.sleep(0.005)
        assert c.readline() == "a2 " + AUTH_FAILED
    with Client(srv.port("lmtp")) as c:
        assert c.readline().startswith("220 ")
        for b in b"LHLO slow.test\r\n":
            c.send(bytes([b]))
            time.sleep(0.01)
        assert c.smtp_reply()[-1] == "250 ENHANCEDSTATUSCODES"


def test_slowloris_cannot_dodge_the_idle_timeout_forever(sora):
    """Activity is activity: a byte every 0.3 s keeps a pre-auth client
    alive (the idle timeout is about idleness), but the bytes must be
    handled, and the connection ends once the bytes stop."""
    srv = sora.start(IDLE)
    with greeted(srv.port("imap")) as c:
        for b in b"a1 NOOP\r\n":
            c.send(bytes([b]))
            time.sleep(0.3)
        assert c.readline() == "a1 OK NOOP completed"
        assert c.readline(timeout=T(5)) == BYE_IDLE


def test_default_per_ip_limit_is_10(sora):
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
    """)
    held = [greeted(srv.port("imap")) for _ in range(10)]
    try:
        refused(srv.port("imap"))
    finally:
        for c in held:
            c.close()


def test_100_concurrent_clients_all_greeted(sora):
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
        max_connections_per_ip = 0
    """)
    port = srv.port("imap")
    sel = selectors.DefaultSelector()
    socks = []
    try:
        for i in range(100):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
            sel.register(s, selectors.EVENT_READ, [i, b""])
        pending = 100
        deadline = time.monotonic() + T(10)
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                data = key.data
                chunk = key.fileobj.recv(4096)
                assert chunk, f"client {data[0]} closed without greeting"
                data[1] += chunk
                if b"\r\n" in data[1]:
                    assert data[1].split(b"\r\n")[0].decode() == GREETING
                    sel.unregister(key.fileobj)
                    pending -= 1
        assert pending == 0, f"{pending} of 100 clients were not greeted"
        # and all of them can talk at once
        for i, s in enumerate(socks):
            s.setblocking(True)
            s.settimeout(T(5))
            s.sendall(b"t%d NOOP\r\n" % i)
        for i, s in enumerate(socks):
            buf = b""
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                assert chunk
                buf += chunk
            assert buf == b"t%d OK NOOP completed\r\n" % i
    finally:
        sel.close()
        for s in socks:
            s.close()


def test_non_reading_client_does_not_hurt_others(sora):
    # one event loop: the hog and the other client share it for sure
    srv = sora.start("""
        [runtime]
        event_loops = 1

        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
    """)
    port = srv.port("imap")
    hog = connect(port)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stop = threading.Event()
    sent = [0]

    def pump():
        payload = b"a NOOP\r\n" * 8192  # 64 KiB
        hog.settimeout(0.2)
        while not stop.is_set() and sent[0] < 10 * 1024 * 1024:
            try:
                sent[0] += hog.send(payload)
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                return

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        # sanitized builds: buf_consume's memmove per command (quadratic in
        # a 256 KiB read batch, performance bug, reported) runs byte by byte
        # under ASan and takes seconds per batch: there only "still served"
        limit = 30.0 if SANITIZED else 0.5
        rounds = 10 if SANITIZED else 30
        with greeted(port) as c:
            worst = 0.0
            for i in range(rounds):
                t0 = time.monotonic()
                assert c.cmd(f"o{i}", "NOOP", timeout=max(limit, T(2))) == \
                    [f"o{i} OK NOOP completed"]
                worst = max(worst, time.monotonic() - t0)
                time.sleep(0.05)
            assert worst < limit, f"a NOOP took {worst:.3f}s while the hog pipelined"
        assert sent[0] > 0
        # the hog is throttled by its own unread output, not allowed to make
        # the server buffer everything it sent
        if not SANITIZED:
            rss = srv.rss_kib()
            assert rss < 128 * 1024, f"server RSS {rss} KiB with a non-reading client"
    finally:
        stop.set()
        t.join(T(5))
        hog.close()
    with greeted(port) as c:
        assert c.cmd("z", "NOOP") == ["z OK NOOP completed"]


def test_server_survives_abuse_mix(sora, certs):
    """Half-open sockets, resets, garbage and floods, then a normal session."""
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
        tls = true
        tls_use_starttls = true
        tls_cert_file = "{cert}"
        tls_key_file = "{key}"

        [servers.lmtp]
        addr = "127.0.0.1:{port_lmtp}"
    """)
    port, lport = srv.port("imap"), srv.port("lmtp")
    for i in range(20):
        s = connect(port)
        if i % 4 == 0:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        elif i % 4 == 1:
            s.sendall(os.urandom(3000))
        elif i % 4 == 2:
            s.sendall(b"a STARTTLS\r\n" + os.urandom(500))
        else:
            s.shutdown(socket.SHUT_WR)
        s.close()
        s = connect(lport)
        s.sendall(os.urandom(2000) + b"\r\n")
        s.close()
    # the abusers' slots (default: 10 per IP) are all given back
    greeting = imap_greeting(starttls=True)
    with greeted_eventually(port, greeting=greeting) as c:
        assert c.cmd("a", "CAPABILITY")[-1] == "a OK CAPABILITY completed"
    with Client(lport) as c:
        assert c.readline().startswith("220 ")
        c.sendline("NOOP")
        assert c.smtp_reply() == ["250 2.0.0 OK"]


def _low_nofile():
    import resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def _fill_fd_table(srv, n=90):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(T(2))
        s.connect(("127.0.0.1", srv.port("imap")))
        socks.append(s)
    return socks


def test_fd_exhaustion_does_not_spin_or_flood_the_log(sora):
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
        max_connections_per_ip = 0
    """, preexec_fn=_low_nofile)
    socks = _fill_fd_table(srv)
    try:
        time.sleep(0.3)
        cpu0, log0, t0 = srv.cpu_seconds(), len(srv.log()), time.monotonic()
        time.sleep(1.0)
        wall = time.monotonic() - t0
        cpu, logged = srv.cpu_seconds() - cpu0, len(srv.log()) - log0
        assert logged < 20000, f"{logged} bytes of log in {wall:.1f}s at the fd limit"
        assert cpu < 0.25 * wall, f"{cpu:.2f}s CPU in {wall:.1f}s at the fd limit"
    finally:
        for s in socks:
            s.close()


def test_fd_exhaustion_recovers(sora):
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
        max_connections_per_ip = 0
    """, preexec_fn=_low_nofile)
    socks = _fill_fd_table(srv)
    time.sleep(0.2)
    for s in socks:
        s.close()
    srv.wait_log(r"event=accept\.fail listener=imap error=\"Too many open files\"")
    # once fds are free again, new clients are served
    deadline = time.monotonic() + T(5)
    while True:
        try:
            with Client(srv.port("imap"), timeout=T(1)) as c:
                assert c.readline() == GREETING
                assert c.cmd("a", "NOOP") == ["a OK NOOP completed"]
            break
        except (TimeoutError, EOFError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise


@pytest.mark.parametrize("proto", ["imap", "lmtp"])
def test_no_fd_leak(sora, proto):
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
        [servers.lmtp]
        addr = "127.0.0.1:{port_lmtp}"
    """)
    port = srv.port(proto)
    with Client(port) as c:
        c.readline()
    time.sleep(0.2)
    before = srv.fd_count()
    for _ in range(50):
        with Client(port) as c:
            c.readline()
    deadline = time.monotonic() + T(3)
    while srv.fd_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.fd_count() <= before, f"fds {before} -> {srv.fd_count()}"
