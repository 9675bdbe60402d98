"""COMPRESS=DEFLATE (RFC 4978) and QUOTA (RFC 9208) over real sockets.

COMPRESS is driven by hand with Python's zlib (raw DEFLATE, wbits=-15)
on a plain socket and inside TLS: after the tagged OK every byte both
ways must be DEFLATE, each burst of responses must arrive sync-flushed
(decodable without waiting for more), and a large FETCH must come back
byte-exact. QUOTA: usage from the store's counters, limits from the
server's quota_storage / quota_messages, APPEND over quota -> OVERQUOTA,
SETQUOTA refused."""

import imaplib
import socket
import ssl
import subprocess
import zlib

import pytest

from sora_testlib import SORA_ADMIN, T

BASE = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
    quota_storage = "200kb"
    quota_messages = 4

    [[server]]
    type = "imap"
    name = "imaps"
    addr = "127.0.0.1:{port_imaps}"
    tls = true
    tls_cert_file = "{cert}"
    tls_key_file = "{key}"
"""

BIG = ("From: bob@example.org\r\nTo: alice@example.org\r\nSubject: big\r\n\r\n" +
       "".join(f"line {i} of a body that compresses well\r\n" for i in range(3000))).encode()


def admin(srv, *args):
    r = subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), *args],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture
def srv(sora, tmp_path):
    s = sora.new()
    s.write_config(BASE)
    admin(s, "accounts", "create", "--email", "alice@example.org", "--password", "secret")
    f = tmp_path / "big.eml"
    f.write_bytes(BIG)
    admin(s, "mail", "deliver", "--email", "alice@example.org", "--file", str(f))
    s.start(BASE)
    return s


class Deflated:
    """An IMAP client speaking through raw DEFLATE after COMPRESS."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(T(10))
        self.buf = b""
        self.z = None

    def _recv(self):
        data = self.sock.recv(65536)
        assert data, "connection closed"
        if self.z is not None:
            # every response burst ends in a sync flush: it decodes now
            data = self.z[1].decompress(data)
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self._recv()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def send(self, data):
        if self.z is not None:
            data = self.z[0].compress(data) + self.z[0].flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def cmd(self, tag, text):
        self.send(f"{tag} {text}\r\n".encode())
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if ln.startswith(tag.encode() + b" "):
                return lines

    def read_exact(self, n):
        while len(self.buf) < n:
            self._recv()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def start_deflate(self):
        self.z = (zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15))
        assert not self.buf, "nothing may follow the OK uncompressed"


def session(sock):
    c = Deflated(sock)
    assert c.line().startswith(b"* OK")
    assert c.cmd("a", "LOGIN alice@example.org secret")[-1].startswith(b"a OK")
    caps = c.cmd("b", "CAPABILITY")
    assert b"COMPRESS=DEFLATE" in caps[0]
    r = c.cmd("c", "COMPRESS DEFLATE")
    assert r[-1].startswith(b"c OK"), r
    c.start_deflate()
    return c


def check_compressed_session(c):
    r = c.cmd("d", "CAPABILITY")
    assert r[-1].startswith(b"d OK") and b"COMPRESS=DEFLATE" not in r[0]
    assert c.cmd("e", "COMPRESS DEFLATE")[-1].startswith(b"e NO [COMPRESSIONACTIVE]")
    assert c.cmd("f", "SELECT INBOX")[-1].startswith(b"f OK")
    c.send(b"g FETCH 1 BODY.PEEK[]\r\n")
    head = c.line()
    assert head.endswith(b"{%d}" % len(BIG)), head
    assert c.read_exact(len(BIG)) == BIG
    assert c.line() == b")"
    assert c.line().startswith(b"g OK")
    # pipelined commands in one compressed write
    c.send(b"h NOOP\r\ni NOOP\r\n")
    assert c.line().startswith(b"h OK") and c.line().startswith(b"i OK")
    r = c.cmd("j", "LOGOUT")
    assert r[0].startswith(b"* BYE") and r[-1].startswith(b"j OK")


def test_compress_plain(srv):
    sock = socket.create_connection(("127.0.0.1", srv.port("imap")))
    check_compressed_session(session(sock))
    sock.close()


def test_compress_over_tls(srv, certs):
    ctx = certs.client_context()
    raw = socket.create_connection(("127.0.0.1", srv.port("imaps")))
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    check_compressed_session(session(sock))
    sock.close()


def test_compress_rules(srv):
    sock = socket.create_connection(("127.0.0.1", srv.port("imap")))
    c = Deflated(sock)
    c.line()
    # not before login, unknown mechanisms refused
    assert c.cmd("a", "COMPRESS DEFLATE")[-1].startswith(b"a BAD")
    c.cmd("b", "LOGIN alice@example.org secret")
    assert c.cmd("c", "COMPRESS LZMA")[-1].startswith(b"c BAD")
    # garbage after COMPRESS: the server drops the connection, nothing else
    assert c.cmd("d", "COMPRESS DEFLATE")[-1].startswith(b"d OK")
    sock.sendall(b"\xff\xfe not deflate at all \x00" * 10)
    sock.settimeout(T(5))
    try:
        while sock.recv(4096):
            pass
    except (ConnectionResetError, socket.timeout):
        pass
    sock.close()
    # the server is fine
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login("alice@example.org", "secret")
    m.logout()


def quota(m, cmd, arg):
    imaplib.Commands.setdefault(cmd, ("AUTH", "SELECTED"))
    typ, dat = m._simple_command(cmd, arg)
    return typ, dat, m.untagged_responses.pop("QUOTA", []), m.untagged_responses.pop(
        "QUOTAROOT", [])


def test_quota(srv):
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login("alice@example.org", "secret")
    typ, caps = m.capability()
    assert b"QUOTA" in caps[0] and b"QUOTA=RES-STORAGE" in caps[0] and \
        b"QUOTA=RES-MESSAGE" in caps[0]
    kb = (len(BIG) + 1023) // 1024
    typ, _, q, root = quota(m, "GETQUOTAROOT", "INBOX")
    assert typ == "OK"
    assert [r.replace(b'"INBOX"', b"INBOX") for r in root] == [b'INBOX ""'], root
    assert q == [b'"" (STORAGE %d 200 MESSAGE 1 4)' % kb], q
    typ, _, q, _ = quota(m, "GETQUOTA", '""')
    assert typ == "OK" and q == [b'"" (STORAGE %d 200 MESSAGE 1 4)' % kb]
    typ, dat, _, _ = quota(m, "GETQUOTA", "other")
    assert typ == "NO" and b"[NONEXISTENT]" in dat[0]
    typ, dat, _, _ = quota(m, "GETQUOTAROOT", "NoSuchBox")
    assert typ == "NO"
    typ, dat = m._simple_command("SETQUOTA", '""', "(STORAGE 999999)")
    assert typ == "NO" and b"[NOPERM]" in dat[0]

    small = b"From: a@example.org\r\nSubject: s\r\n\r\nsmall\r\n"
    # storage: the big message leaves room for small ones only
    typ, dat = m.append("INBOX", None, None, BIG)
    assert typ == "NO" and b"[OVERQUOTA]" in dat[0], dat
    for _ in range(3):
        assert m.append("INBOX", None, None, small)[0] == "OK"
    # messages: 4 is the limit
    typ, dat = m.append("Archive", None, None, small)
    assert typ == "NO" and b"[OVERQUOTA]" in dat[0], dat
    typ, _, q, _ = quota(m, "GETQUOTA", '""')
    assert b"MESSAGE 4 4" in q[0]
    # COPY counts too (MOVE adds nothing and works)
    m.select("INBOX")
    typ, dat = m.copy("2", "Archive")
    assert typ == "NO" and b"[OVERQUOTA]" in dat[0], dat
    typ, dat = m._simple_command("MOVE", "2", "Archive")
    assert typ == "OK", dat
    m.select("Archive")
    assert m._simple_command("MOVE", "1", "INBOX")[0] == "OK"
    # expunging gives room back; STATUS DELETED-STORAGE says how much
    m.select("INBOX")
    assert m.search(None, "ALL")[1][0] == b"1 2 3 4"
    typ, dat = m.status("INBOX", "(DELETED DELETED-STORAGE)")
    assert b"DELETED 0 DELETED-STORAGE 0" in dat[0], dat
    m.store("1", "+FLAGS", "(\\Deleted)")
    typ, dat = m.status("INBOX", "(DELETED DELETED-STORAGE)")
    assert (b"DELETED 1 DELETED-STORAGE %d" % kb) in dat[0], dat
    m.store("1", "-FLAGS", "(\\Deleted)")
    m.store("2", "+FLAGS", "(\\Deleted)")
    m.expunge()
    assert m.append("INBOX", None, None, small)[0] == "OK"
    m.logout()


def test_no_quota_configured(sora):
    cfg = """
        [database]
        path = "{dir}/data/sora.db"

        [storage]
        path = "{dir}/data/blobs"

        [servers.imap]
        addr = "127.0.0.1:{port_imap}"
    """
    s = sora.new()
    s.write_config(cfg)
    admin(s, "accounts", "create", "--email", "alice@example.org", "--password", "secret")
    s.start(cfg)
    m = imaplib.IMAP4("127.0.0.1", s.port("imap"))
    m.login("alice@example.org", "secret")
    typ, _, q, root = quota(m, "GETQUOTAROOT", "INBOX")
    # RFC 9208 §3.4: no quota root, no QUOTA response
    assert typ == "OK" and q == []
    assert [r.replace(b'"INBOX"', b"INBOX") for r in root] == [b"INBOX"]
    typ, dat, _, _ = quota(m, "GETQUOTA", '""')
    assert typ == "NO"
    m.logout()
