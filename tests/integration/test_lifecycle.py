"""Process lifecycle: SIGTERM/SIGINT with connected clients (BYE / 421,
exit 0), the shutdown deadline against a client that never reads, and
SIGHUP certificate reload (new connections see the new certificate, open
sessions keep working, a broken file keeps the old certificate)."""

import itertools
import os
import re
import signal
import socket
import time

import pytest

from sora_testlib import (T, Client, connect, fingerprint_der, fingerprint_pem, imap_greeting,
                          pem_blocks, proxy_v1, s_client, s_client_verify_args)

GREETING = imap_greeting()
BYE_SHUTDOWN = "* BYE [UNAVAILABLE] Server shutting down"

ALL = """
[servers.imap]
addr = "127.0.0.1:{port_imap}"
tls = true
tls_use_starttls = true
tls_cert_file = "{cert}"
tls_key_file = "{key}"

[[server]]
type = "imap"
name = "imaps"
addr = "127.0.0.1:{port_imaps}"
tls = true
tls_cert_file = "{cert}"
tls_key_file = "{key}"

[servers.lmtp]
addr = "127.0.0.1:{port_lmtp}"

[[server]]
type = "imap"
name = "imap-pp"
addr = "127.0.0.1:{port_pp}"
proxy_protocol = true

[servers]
trusted_networks = ["127.0.0.0/8"]
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_with_connected_clients(sora, certs, sig):
    srv = sora.start(ALL)
    plain = [Client(srv.port("imap")) for _ in range(3)]
    tls = Client(srv.port("imaps"), tls=certs.client_context())
    lmtp = Client(srv.port("lmtp"))
    pp = Client(srv.port("pp"), preamble=proxy_v1("192.0.2.50"))
    half = connect(srv.port("pp"))  # PROXY header never sent
    try:
        for c in plain + [tls, pp]:
            assert c.readline().startswith("* OK ")
        assert lmtp.readline().startswith("220 ")
        plain[0].send(b"a1 LOGIN {5}\r\n")  # one in the middle of a command
        assert plain[0].readline().startswith("+ ")
        t0 = time.monotonic()
        rc = srv.stop(sig, timeout=10)
        elapsed = time.monotonic() - t0
        assert rc == 0, srv.log()[-2000:]
        assert elapsed < T(3), f"shutdown took {elapsed:.2f}s with idle clients"
        for c in plain + [tls, pp]:
            assert c.readline() == BYE_SHUTDOWN
            assert c.wait_closed() == b""
        r = lmtp.readline()
        assert re.fullmatch(r"421 4\.3\.2 \S+ Server shutting down", r), r
        assert lmtp.wait_closed() == b""
        half.settimeout(T(2))
        assert half.recv(100) == b""
    finally:
        for c in plain + [tls, lmtp, pp]:
            c.close()
        half.close()
    log = srv.log()
    assert f"event=shutdown signal={'TERM' if sig == signal.SIGTERM else 'INT'}" in log
    assert "event=stopped" in log
    with pytest.raises(OSError):
        connect(srv.port("imap"), timeout=1)


def pump_until_server_stops_reading(srv, sock, limit=T(20)):
    """Pipelines NOOPs without reading a reply until the server stops
    reading: our send blocks and the server burns no CPU (it is not still
    working through what it read). Returns the bytes sent."""
    sock.setblocking(False)
    payload = b"a NOOP\r\n" * 8192
    sent, since, cpu0 = 0, None, None
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            sent += sock.send(payload)
            since = None
            continue
        except BlockingIOError:
            pass
        now = time.monotonic()
        if since is None:
            since, cpu0 = now, srv.cpu_seconds()
        elif now - since > 0.5:
            if srv.cpu_seconds() - cpu0 < 0.05:
                return sent
            since = None
        time.sleep(0.02)
    raise AssertionError(f"the server kept reading ({sent} bytes sent)")


def test_shutdown_deadline_with_non_reading_client(sora):
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
    """, shutdown_timeout="1s")
    hog = connect(srv.port("imap"))
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sent = pump_until_server_stops_reading(srv, hog)
        assert sent > 1024 * 1024
        t0 = time.monotonic()
        rc = srv.stop(signal.SIGTERM, timeout=10)
        elapsed = time.monotonic() - t0
        assert rc == 0
        assert elapsed < T(3), f"shutdown_timeout=1s but exit took {elapsed:.2f}s"
        srv.wait_log(r"event=shutdown\.forced")
    finally:
        hog.close()


def test_json_logging(sora):
    import json
    srv = sora.start("""
        [servers.imap]
        addr = "127.0.0.1:{port_imap}"

        [servers.imap.proxy_protocol]
        enabled = true
        trusted_proxies = ["127.0.0.1/32"]
    """, log_format="json")
    with Client(srv.port("imap"), preamble=proxy_v1("192.0.2.77")) as c:
        assert c.readline().startswith("* OK ")
        c.cmd("a", 'ID ("name" "quote\\"and\\\\slash")')
        c.cmd("b", "LOGOUT")
    srv.wait_log(r'"event":"disconnect"')
    events = []
    for line in srv.log().splitlines():
        rec = json.loads(line)  # every line is one JSON object
        assert {"ts", "level", "event"} <= rec.keys(), rec
        events.append(rec)
    conn = [e for e in events if e["event"] == "connect"]
    assert len(conn) == 1 and conn[0]["remote"] == "192.0.2.77" and conn[0]["proto"] == "imap"
    assert any(e["event"] == "imap.id" for e in events)


def test_log_to_file(sora):
    srv = sora.new()
    logfile = srv.dir / "out" / "sora.log"
    logfile.parent.mkdir(parents=True)
    srv.start(f"""
        [logging]
        output = "{logfile}"
        level = "info"

        [servers.imap]
        addr = "127.0.0.1:{{port_imap}}"
    """)
    with Client(srv.port("imap")) as c:
        assert c.readline().startswith("* OK ")
    assert srv.stop() == 0
    text = logfile.read_text()
    assert "event=started" in text and "event=connect" in text and "event=stopped" in text
    assert "event=connect" not in srv.log()  # nothing on stderr


def test_idle_server_stops_at_once(sora):
    srv = sora.start('[servers.imap]\naddr = "127.0.0.1:{port_imap}"\n')
    t0 = time.monotonic()
    assert srv.stop() == 0
    assert time.monotonic() - t0 < T(1.5)


# --- SIGHUP: certificate reload ---

_serial = itertools.count(1000 + os.getpid() % 1000 * 100)


def live_config(srv, certs):
    """Config whose certificate files are copies in the server's own dir."""
    chain, key = srv.dir / "live-chain.pem", srv.dir / "live-key.pem"
    chain.write_bytes(certs.chain.read_bytes())
    key.write_bytes(certs.key.read_bytes())
    return ALL.replace("{cert}", str(chain)).replace("{key}", str(key)), chain, key


def replace_file(path, data):
    tmp = path.with_suffix(".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def peer_fp(port, certs, starttls=False):
    c = Client(port)
    if starttls:
        assert "STARTTLS" in c.readline()
        assert c.cmd("s", "STARTTLS") == ["s OK Begin TLS negotiation now"]
        c.starttls(certs.client_context())
    else:
        c.close()
        c = Client(port, tls=certs.client_context())
    fp = fingerprint_der(c.sock.getpeercert(binary_form=True))
    return fp, c


def test_sighup_reloads_certificates(sora, certs):
    srv = sora.new()
    text, chain, key = live_config(srv, certs)
    srv.start(text)
    old_fp = fingerprint_pem(certs.cert)
    n = next(_serial)
    new_chain, new_key = certs.new_server_cert(f"reload{n}", f"/CN=localhost/O=Reload {n}", n)
    new_fp = fingerprint_pem(new_chain)
    assert new_fp != old_fp

    fp, old_tls = peer_fp(srv.port("imaps"), certs)
    assert fp == old_fp
    assert old_tls.readline() == GREETING
    fp, old_starttls = peer_fp(srv.port("imap"), certs, starttls=True)
    assert fp == old_fp
    try:
        replace_file(key, new_key.read_bytes())
        replace_file(chain, new_chain.read_bytes())
        srv.send_signal(signal.SIGHUP)
        srv.wait_log(r"event=tls\.reload server=imaps")
        srv.wait_log(r"event=tls\.reload server=imap\b")

        # new connections: the new certificate, on both TLS ports
        fp, c = peer_fp(srv.port("imaps"), certs)
        with c:
            assert fp == new_fp
            assert c.readline() == GREETING
        fp, c = peer_fp(srv.port("imap"), certs, starttls=True)
        with c:
            assert fp == new_fp
            assert c.cmd("n", "NOOP") == ["n OK NOOP completed"]
        r = s_client(srv.port("imaps"), "-showcerts", *s_client_verify_args(certs),
                     input="a LOGOUT\n")
        assert "Verify return code: 0 (ok)" in r.stdout, r.stdout + r.stderr
        blocks = pem_blocks(r.stdout)
        assert blocks[0].strip() == (certs.dir / f"reload{n}.pem").read_text().strip()
        assert len(blocks) == 2

        # sessions opened before the reload still work
        assert old_tls.cmd("o1", "NOOP") == ["o1 OK NOOP completed"]
        assert fingerprint_der(old_tls.sock.getpeercert(binary_form=True)) == old_fp
        assert old_starttls.cmd("o2", "CAPABILITY")[-1] == "o2 OK CAPABILITY completed"
        # and the server process is the same one
        assert srv.proc.poll() is None
    finally:
        old_tls.close()
        old_starttls.close()


def test_sighup_with_broken_file_keeps_old_certificate(sora, certs):
    srv = sora.new()
    text, chain, key = live_config(srv, certs)
    srv.start(text)
    old_fp = fingerprint_pem(certs.cert)
    replace_file(chain, b"-----BEGIN CERTIFICATE-----\nnot a certificate\n")
    srv.send_signal(signal.SIGHUP)
    srv.wait_log(r"event=tls\.reload\.fail server=imaps")
    fp, c = peer_fp(srv.port("imaps"), certs)
    with c:
        assert fp == old_fp
        assert c.readline() == GREETING
    # a key that does not match the certificate is refused as well
    n = next(_serial)
    other_chain, other_key = certs.new_server_cert(f"mismatch{n}", "/CN=localhost", n)
    replace_file(chain, certs.chain.read_bytes())
    replace_file(key, other_key.read_bytes())
    srv.send_signal(signal.SIGHUP)
    srv.wait_log(r"event=tls\.reload\.fail server=imaps", count=2)
    fp, c = peer_fp(srv.port("imaps"), certs)
    with c:
        assert fp == old_fp


def test_sighup_burst_does_not_kill_the_server(sora, certs):
    """Signals must only ever reach the thread that waits for them: a
    SIGHUP arriving while the previous reload runs must not fall on a
    thread with the default action (terminate)."""
    srv = sora.new()
    text, chain, key = live_config(srv, certs)
    srv.start(text)
    for i in range(30):
        srv.send_signal(signal.SIGHUP)
        if i % 10 == 0:
            with Client(srv.port("imaps"), tls=certs.client_context()) as c:
                assert c.readline() == GREETING
        time.sleep(0.001)
        if srv.proc.poll() is not None:
            break
    time.sleep(0.2)
    if srv.proc.poll() is not None:
        srv.expected_rc = srv.proc.returncode  # reported here, not again at teardown
    assert srv.proc.poll() is None, f"sora died from SIGHUP (rc {srv.proc.returncode})"
    srv.wait_log(r"event=tls\.reload server=imaps")
    with Client(srv.port("imaps"), tls=certs.client_context()) as c:
        assert c.readline() == GREETING


def test_sigterm_during_reload_is_graceful(sora, certs):
    srv = sora.start(ALL)
    c = Client(srv.port("imap"))
    try:
        assert c.readline().startswith("* OK ")
        srv.send_signal(signal.SIGHUP)
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait_exit(10)
        srv.expected_rc = rc  # reported here, not again at teardown
        assert rc == 0, f"rc {rc}: not a graceful stop"
        assert c.readline() == BYE_SHUTDOWN
    finally:
        c.close()
