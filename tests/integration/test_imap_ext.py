"""IMAP extensions as raw exchanges: MULTIAPPEND (RFC 3502, all or none,
APPENDUID with a UID set), [TOOBIG] before a literal is read (and an
oversized non-synchronising literal drained), modified UTF-7 and
UTF8=ACCEPT mailbox names (RFC 3501 §5.1.3, RFC 6855) with APPEND UTF8,
BINARY (RFC 3516) with base64 and quoted-printable decoding, literal8
APPEND and [UNKNOWN-CTE], OBJECTID (RFC 8474), SAVEDATE (RFC 8514), and
the capabilities that announce them."""

import base64
import re
import subprocess

import pytest

from sora_testlib import SORA_ADMIN, T, Client

CONFIG = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
    append_limit = "64kb"
"""

PLAIN = b"From: Bob <bob@example.org>\r\nSubject: plain %d\r\n\r\nBody %d.\r\n"

BLOB = bytes(range(256)) * 3  # every byte value, NUL included

BINARY_MSG = (b"From: Bob <bob@example.org>\r\n"
              b"Subject: binary parts\r\n"
              b"MIME-Version: 1.0\r\n"
              b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
              b"\r\n"
              b"--b1\r\n"
              b"Content-Type: text/plain; charset=utf-8\r\n"
              b"Content-Transfer-Encoding: quoted-printable\r\n"
              b"\r\n"
              b"Gr=C3=BC=C3=9Fe, soft=\r\n"
              b"break.\r\n"
              b"--b1\r\n"
              b"Content-Type: application/octet-stream\r\n"
              b"Content-Transfer-Encoding: base64\r\n"
              b"\r\n"
              + b"\r\n".join(base64.encodebytes(BLOB).splitlines()) + b"\r\n"
              b"--b1\r\n"
              b"Content-Type: application/octet-stream\r\n"
              b"Content-Transfer-Encoding: x-uuencode\r\n"
              b"\r\n"
              b"begin 644 x\r\n#86)C\r\n`\r\nend\r\n"
              b"--b1--\r\n")


@pytest.fixture
def srv(sora):
    s = sora.new()
    s.write_config(CONFIG)
    r = subprocess.run([str(SORA_ADMIN), "--config", str(s.config_path), "accounts", "create",
                        "--email", "alice@example.org", "--password", "pw", "--hash", "ssha512"],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    s.start(CONFIG)
    return s


def login(srv):
    c = Client(srv.port("imap"))
    assert c.readline().startswith("* OK")
    assert c.cmd("l", "LOGIN alice@example.org pw")[-1].startswith("l OK")
    return c


def read_tagged_bytes(c, tag):
    """Everything up to the tagged line, literals included, as bytes."""
    out = b""
    while True:
        ln = c.readline().encode("latin-1")
        out += ln + b"\r\n"
        m = re.search(rb"~?\{(\d+)\}$", ln)
        if m:
            n = int(m.group(1))
            while len(c.buf) < n:
                c.buf += c.sock.recv(65536)
            out += c.buf[:n]
            c.buf = c.buf[n:]
            continue
        if ln.startswith(tag.encode() + b" "):
            return out


def test_capabilities(srv):
    c = login(srv)
    caps = c.cmd("c", "CAPABILITY")[0].split()
    for cap in ("QRESYNC", "CONDSTORE", "UTF8=ACCEPT", "BINARY", "MULTIAPPEND", "SAVEDATE",
                "UNAUTHENTICATE", "IDLE", "APPENDLIMIT=65536", "OBJECTID"):
        assert cap in caps, (cap, caps)
    # issue 6: at least Sora's post-login list, plus what clients use beyond it
    sora = ("IMAP4rev2 IMAP4rev1 SASL-IR LITERAL- UNSELECT ENABLE UTF8=ACCEPT IDLE UIDPLUS "
            "ESEARCH SEARCHRES LIST-EXTENDED LIST-STATUS STATUS=SIZE BINARY CHILDREN NAMESPACE "
            "MOVE SPECIAL-USE CREATE-SPECIAL-USE LITERAL+ CONDSTORE QRESYNC SORT SORT=DISPLAY "
            "ESORT ID THREAD=REFERENCES THREAD=ORDEREDSUBJECT MULTISEARCH QUOTA "
            "COMPRESS=DEFLATE PREVIEW SAVEDATE WITHIN MULTIAPPEND").split()
    assert [x for x in sora if x not in caps] == [], caps
    # not implemented, so not announced
    assert not {"ACL", "METADATA", "NOTIFY", "CONTEXT=SEARCH", "CONTEXT=SORT"} & set(caps)


def test_multiappend_all_in_one_transaction(srv):
    c = login(srv)
    m1, m2, m3 = PLAIN % (1, 1), PLAIN % (2, 2), PLAIN % (3, 3)
    c.send(b"a APPEND INBOX (\\Seen) {%d+}\r\n%s (\\Flagged $Work) \"02-Mar-2026 10:11:12 +0100\" "
           b"{%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(m1), m1, len(m2), m2, len(m3), m3))
    lines = c.read_tagged("a")
    m = re.match(r"a OK \[APPENDUID (\d+) 1:3\] APPEND completed", lines[-1])
    assert m, lines
    c.cmd("s", "SELECT INBOX")
    lines = c.cmd("f", "FETCH 1:3 (UID FLAGS INTERNALDATE)")
    assert lines[0].startswith("* 1 FETCH (UID 1 FLAGS (\\Seen) "), lines
    assert lines[1].startswith("* 2 FETCH (UID 2 FLAGS (\\Flagged $Work) INTERNALDATE "
                               "\"02-Mar-2026 09:11:12 +0000\")"), lines
    assert lines[2].startswith("* 3 FETCH (UID 3 FLAGS ()"), lines
    c.sendline("b FETCH 2 BODY.PEEK[]")
    assert m2 in read_tagged_bytes(c, "b")


def test_multiappend_is_all_or_none(srv):
    c = login(srv)
    m1 = PLAIN % (1, 1)
    # the second message has a bad flag: nothing is stored
    c.send(b"a APPEND INBOX {%d+}\r\n%s (\\Bogus) {%d+}\r\n%s\r\n" % (len(m1), m1, len(m1), m1))
    assert c.read_tagged("a")[-1].startswith("a BAD")
    # the second literal is too big: [TOOBIG] before its octets, nothing stored
    big = b"x" * (70 * 1024)
    c.send(b"b APPEND INBOX {%d+}\r\n%s {%d+}\r\n" % (len(m1), m1, len(big)) + big + b"\r\n")
    assert c.read_tagged("b")[-1].startswith("b NO [TOOBIG]")
    # the connection is in step again: the drained octets were not commands
    assert c.cmd("n", "NOOP")[-1] == "n OK NOOP completed"
    # a missing mailbox refuses the whole batch
    c.send(b"t APPEND Nope {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(m1), m1, len(m1), m1))
    assert c.read_tagged("t")[-1].startswith("t NO [TRYCREATE]")
    lines = c.cmd("st", "STATUS INBOX (MESSAGES)")
    assert lines[0] == '* STATUS "INBOX" (MESSAGES 0)', lines


def test_toobig_synchronising_literal_refused_before_data(srv):
    c = login(srv)
    c.sendline("a APPEND INBOX {70000}")
    ln = c.readline()
    # no "+ " continuation: the client never sends the octets
    assert ln.startswith("a NO [TOOBIG]"), ln
    assert c.cmd("n", "NOOP")[-1] == "n OK NOOP completed"


def test_modified_utf7_names(srv):
    c = login(srv)
    assert c.cmd("c", "CREATE \"Entw&APw-rfe\"")[-1].startswith("c OK")
    assert c.cmd("c2", "CREATE \"&ZeVnLIqe-/A&-B\"")[-1].startswith("c2 OK")
    lines = c.cmd("l", "LIST \"\" \"*\"")
    assert '* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"' in lines, lines
    assert '* LIST (\\HasNoChildren) "/" "&ZeVnLIqe-/A&-B"' in lines, lines
    lines = c.cmd("st", "STATUS \"Entw&APw-rfe\" (MESSAGES)")
    assert lines[0] == '* STATUS "Entw&APw-rfe" (MESSAGES 0)', lines
    # not canonical or not modified UTF-7 at all: refused
    for tag, name in (("b1", "\"&AOQ\""), ("b2", "\"&AEE-\""), ("b3", "\"&AOQ-&APY-\""),
                      ("b4", "\"Entw\xc3\xbcrfe\"")):
        c.send(f"{tag} CREATE {name}\r\n".encode("latin-1"))
        assert c.read_tagged(tag)[-1].startswith(f"{tag} BAD"), name
    # APPEND, SELECT, RENAME, COPY, DELETE take the same form
    m = PLAIN % (1, 1)
    c.send(b"a APPEND \"Entw&APw-rfe\" {%d+}\r\n%s\r\n" % (len(m), m))
    assert c.read_tagged("a")[-1].startswith("a OK [APPENDUID")
    assert c.cmd("s", "SELECT \"Entw&APw-rfe\"")[-1].startswith("s OK")
    assert c.cmd("cp", "COPY 1 \"&ZeVnLIqe-/A&-B\"")[-1].startswith("cp OK [COPYUID")
    assert c.cmd("r", "RENAME \"Entw&APw-rfe\" \"Entw&APw-rfe-alt\"")[-1].startswith("r OK")
    # a UTF-8 client sees the same mailboxes in UTF-8
    u = login(srv)
    assert u.cmd("e", "ENABLE UTF8=ACCEPT")[0] == "* ENABLED UTF8=ACCEPT"
    u.send(b"l LIST \"\" \"*\"\r\n")
    raw = read_tagged_bytes(u, "l")
    assert '"Entwürfe-alt"'.encode() in raw, raw
    assert '"日本語/A&B"'.encode() in raw, raw
    u.send('st STATUS "日本語/A&B" (MESSAGES)\r\n'.encode())
    assert '* STATUS "日本語/A&B" (MESSAGES 1)'.encode() in read_tagged_bytes(u, "st")
    assert c.cmd("d", "DELETE \"Entw&APw-rfe-alt\"")[-1].startswith("d OK")


def test_utf8_accept_append_and_rev2(srv):
    c = login(srv)
    m = "From: Jörg <j@example.org>\r\nSubject: Grüße\r\n\r\nÄrger.\r\n".encode()
    # APPEND UTF8 needs UTF8=ACCEPT
    c.send(b"a APPEND INBOX UTF8 (~{%d+}\r\n%s)\r\n" % (len(m), m))
    assert c.read_tagged("a")[-1].startswith("a BAD")
    assert c.cmd("e", "ENABLE UTF8=ACCEPT")[0] == "* ENABLED UTF8=ACCEPT"
    c.send(b"a2 APPEND INBOX UTF8 (~{%d+}\r\n%s)\r\n" % (len(m), m))
    assert c.read_tagged("a2")[-1].startswith("a2 OK [APPENDUID")
    c.send("c CREATE \"Ablage/Privé\"\r\n".encode())
    assert read_tagged_bytes(c, "c").endswith(b"c OK CREATE completed\r\n")
    # an IMAP4rev2 client gets UTF-8 too, a rev1 one modified UTF-7
    r2 = login(srv)
    r2.cmd("e", "ENABLE IMAP4rev2")
    r2.send(b"l LIST \"\" \"Ablage/*\"\r\n")
    assert "\"Ablage/Privé\"".encode() in read_tagged_bytes(r2, "l")
    r1 = login(srv)
    assert '* LIST (\\HasNoChildren) "/" "Ablage/Priv&AOk-"' in r1.cmd("l", "LIST \"\" \"Ablage/*\"")
    # ENABLE UTF8=ACCEPT is for the authenticated state only (RFC 6855 §3)
    r1.cmd("s", "SELECT INBOX")
    assert r1.cmd("e", "ENABLE UTF8=ACCEPT")[0] == "* ENABLED"
    c.cmd("s", "SELECT INBOX")
    c.sendline("f FETCH 1 BODY.PEEK[]")
    assert m in read_tagged_bytes(c, "f")


def test_binary_fetch(srv):
    c = login(srv)
    c.send(b"a APPEND INBOX {%d+}\r\n%s\r\n" % (len(BINARY_MSG), BINARY_MSG))
    assert c.read_tagged("a")[-1].startswith("a OK")
    c.cmd("s", "SELECT INBOX")
    c.sendline("f FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.SIZE[2])")
    out = read_tagged_bytes(c, "f")
    assert "BINARY[1] {19}\r\nGrüße, soft".encode() in out, out
    assert b"BINARY.SIZE[1] 19" in out and b"BINARY.SIZE[2] %d" % len(BLOB) in out, out
    # NUL bytes: literal8
    c.sendline("f2 FETCH 1 (BINARY.PEEK[2])")
    out = read_tagged_bytes(c, "f2")
    assert b"BINARY[2] ~{%d}\r\n" % len(BLOB) + BLOB in out
    # partial
    c.sendline("f3 FETCH 1 (BINARY.PEEK[2]<256.4>)")
    out = read_tagged_bytes(c, "f3")
    assert b"BINARY[2]<256> ~{4}\r\n\x00\x01\x02\x03" in out, out
    # still unseen: PEEK; without it \Seen is set
    assert "FLAGS ()" in c.cmd("g", "FETCH 1 FLAGS")[0]
    c.sendline("f4 FETCH 1 (BINARY[1])")
    assert b"\\Seen" in read_tagged_bytes(c, "f4")
    # an encoding we cannot undo
    lines = c.cmd("u", "FETCH 1 (BINARY.PEEK[3])")
    assert lines[-1].startswith("u NO [UNKNOWN-CTE]"), lines
    # bad syntax: BINARY takes part numbers only
    assert c.cmd("b", "FETCH 1 (BINARY[HEADER])")[-1].startswith("b BAD")
    assert c.cmd("b2", "FETCH 1 (BINARY.SIZE[1]<0.1>)")[-1].startswith("b2 BAD")


def test_append_literal8(srv):
    c = login(srv)
    data = b"From: x@example.org\r\nSubject: nul\r\n\r\nA\x00B\r\n"
    c.send(b"a APPEND INBOX ~{%d+}\r\n%s\r\n" % (len(data), data))
    assert c.read_tagged("a")[-1].startswith("a OK [APPENDUID")
    c.cmd("s", "SELECT INBOX")
    c.sendline("f FETCH 1 (BINARY.PEEK[1] BODY.PEEK[])")
    out = read_tagged_bytes(c, "f")
    assert b"BINARY[1] ~{5}\r\nA\x00B\r\n" in out, out
    assert data in out


def test_objectid_and_savedate(srv):
    c = login(srv)
    m = PLAIN % (1, 1)
    c.send(b"a APPEND INBOX {%d+}\r\n%s\r\n" % (len(m), m))
    c.read_tagged("a")
    sel = c.cmd("s", "SELECT INBOX")
    mbid = re.search(r"\[MAILBOXID \((M\d+)\)\]", "\n".join(sel)).group(1)
    lines = c.cmd("st", "STATUS INBOX (MAILBOXID)")
    assert lines[0] == f'* STATUS "INBOX" (MAILBOXID ({mbid}))', lines
    assert c.cmd("cp", "COPY 1 Archive")[-1].startswith("cp OK")
    lines = c.cmd("f", "FETCH 1 (EMAILID THREADID SAVEDATE)")
    m1 = re.match(r"\* 1 FETCH \(EMAILID \((E\d+)\) THREADID NIL SAVEDATE "
                  r"\"\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d \+0000\"\)", lines[0])
    assert m1, lines
    # a copy is the same email (RFC 8474 §5.1), in another mailbox
    c.cmd("s2", "SELECT Archive")
    lines = c.cmd("f2", "FETCH 1 (EMAILID)")
    assert lines[0] == f"* 1 FETCH (EMAILID ({m1.group(1)}))", lines
    sel = c.cmd("s3", "EXAMINE Archive")
    assert f"[MAILBOXID ({mbid})]" not in "\n".join(sel)
    # SAVEDATE search keys (RFC 8514)
    lines = c.cmd("q", "SEARCH SAVEDATESUPPORTED SAVEDSINCE 1-Jan-2020")
    assert lines[0] == "* SEARCH 1", lines
    # SEARCH EMAILID / THREADID (RFC 8474 §6): the copy is found by the
    # original's id; THREADID is NIL here, so no thread id matches
    c.send(b"a2 APPEND Archive {%d+}\r\n%s\r\n" % (len(PLAIN % (2, 2)), PLAIN % (2, 2)))
    c.read_tagged("a2")
    c.cmd("s4", "SELECT Archive")
    lines = c.cmd("q2", f"UID SEARCH EMAILID {m1.group(1)}")
    assert lines[0] == "* SEARCH 1", lines
    lines = c.cmd("q3", "SEARCH EMAILID E999999999")
    assert lines[0] == "* SEARCH", lines
    lines = c.cmd("q4", "SEARCH THREADID T1")
    assert lines[0] == "* SEARCH", lines
    assert c.cmd("q5", "SEARCH EMAILID")[-1].startswith("q5 BAD")


def test_unauthenticate_resets_enabled_extensions(srv):
    c = login(srv)
    assert c.cmd("c", "CREATE \"Entw&APw-rfe\"")[-1].startswith("c OK")
    assert c.cmd("e", "ENABLE UTF8=ACCEPT QRESYNC")[0] == "* ENABLED UTF8=ACCEPT QRESYNC"
    c.cmd("s", "SELECT INBOX")
    assert c.cmd("u", "UNAUTHENTICATE") == ["u OK UNAUTHENTICATE completed"]
    # RFC 8437: as after the greeting, nothing enabled, nothing selected
    assert c.cmd("f", "FETCH 1 FLAGS")[-1].startswith("f BAD")
    assert c.cmd("l", "LOGIN alice@example.org pw")[-1].startswith("l OK")
    assert '* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"' in c.cmd("l2", "LIST \"\" \"Entw*\"")
    sel = c.cmd("s", "SELECT INBOX")
    v = re.search(r"\[UIDVALIDITY (\d+)\]", "\n".join(sel)).group(1)
    assert c.cmd("b", f"SELECT INBOX (QRESYNC ({v} 1))")[-1].startswith("b BAD")
