"""Listener addresses as Sora writes them: "[::1]:port" (IPv6 only),
":port" (every address, IPv6 and IPv4 on one dual-stack socket) and
"127.0.0.1:port"; the client address in the log is the plain IPv4 form
for IPv4 clients of a dual-stack socket, and per-IP limits count it
once whichever way it arrives."""

import socket

import pytest

from sora_testlib import T, free_port


def greet(family, host, port):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(T(5))
    s.connect((host, port))
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return s, data.decode("latin-1")


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this host")


@needs_ipv6
def test_ipv6_only_listener(sora):
    srv = sora.start("""
        [servers.imap]
        addr = "[::1]:{port_imap}"
    """)
    s, g = greet(socket.AF_INET6, "::1", srv.port("imap"))
    assert g.startswith("* OK [CAPABILITY IMAP4rev2"), g
    s.close()
    srv.wait_log(r"remote=::1 event=connect")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port("imap")), timeout=T(2)).close()


@needs_ipv6
def test_dual_stack_listener_and_per_ip_limit(sora):
    srv = sora.start("""
        [servers.imap]
        addr = ":{port_imap}"
        max_connections_per_ip = 2
    """)
    port = srv.port("imap")
    a, g6 = greet(socket.AF_INET6, "::1", port)
    b, g4 = greet(socket.AF_INET, "127.0.0.1", port)
    assert g6.startswith("* OK ") and g4.startswith("* OK ")
    # IPv4 through the dual-stack socket is logged as plain IPv4 ...
    srv.wait_log(r"remote=127\.0\.0\.1 event=connect")
    # ... and counted as one address: a second and a third from 127.0.0.1
    c, g = greet(socket.AF_INET6, "::ffff:127.0.0.1", port)
    assert g.startswith("* OK "), g
    d, g = greet(socket.AF_INET, "127.0.0.1", port)
    assert g.startswith("* BYE [UNAVAILABLE] Too many connections"), g
    for s in (a, b, c, d):
        s.close()


def test_ipv4_listener_is_not_on_other_addresses(sora):
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
    """)
    s, g = greet(socket.AF_INET, "127.0.0.1", srv.port("imap"))
    assert g.startswith("* OK ")
    s.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", srv.port("imap")), timeout=T(2)).close()
