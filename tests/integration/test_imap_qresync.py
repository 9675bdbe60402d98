"""CONDSTORE/QRESYNC (RFC 7162) as raw exchanges: ENABLE QRESYNC, SELECT /
EXAMINE (QRESYNC (...)) with VANISHED (EARLIER) and the changed flags,
UID FETCH (CHANGEDSINCE n VANISHED), STORE UNCHANGEDSINCE with
[MODIFIED], HIGHESTMODSEQ in SELECT and STATUS, VANISHED instead of
EXPUNGE once enabled (EXPUNGE, MOVE, another session's expunge), and the
errors for each misuse."""

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
"""

MSG = (b"From: Bob <bob@example.org>\r\n"
       b"Subject: q %d\r\n"
       b"\r\n"
       b"Body %d.\r\n")


@pytest.fixture
def srv(sora):
    s = sora.new()
    s.write_config(CONFIG)
    r = subprocess.run([str(SORA_ADMIN), "--config", str(s.config_path), "accounts", "create",
                        "--email", "alice@example.org", "--password", "pw", "--hash", "ssha512"],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    s.start(CONFIG)
    c = login(s)
    for n in range(1, 6):
        data = MSG % (n, n)
        c.send(f"a{n} APPEND INBOX {{{len(data)}+}}\r\n".encode() + data + b"\r\n")
        assert c.read_tagged(f"a{n}")[-1].startswith(f"a{n} OK")
    c.close()
    return s


def login(srv):
    c = Client(srv.port("imap"))
    assert c.readline().startswith("* OK")
    assert c.cmd("l", "LOGIN alice@example.org pw")[-1].startswith("l OK")
    return c


def code(lines, name):
    for ln in lines:
        m = re.search(rf"\[{name} (\d+)\]", ln)
        if m:
            return int(m.group(1))
    raise AssertionError(f"no {name} in {lines}")


def test_enable_qresync_and_select_resync(srv):
    a = login(srv)
    assert a.cmd("e", "ENABLE QRESYNC") == ["* ENABLED QRESYNC", "e OK ENABLE completed"]
    sel = a.cmd("s", "SELECT INBOX")
    uidvalidity, h0 = code(sel, "UIDVALIDITY"), code(sel, "HIGHESTMODSEQ")
    assert any(re.match(r"\* OK \[MAILBOXID \(M\d+\)\]", ln) for ln in sel), sel
    # another session changes flags of 2, expunges 3
    b = login(srv)
    b.cmd("s", "SELECT INBOX")
    b.cmd("f", "UID STORE 2 +FLAGS (\\Flagged)")
    b.cmd("d", "UID STORE 3 +FLAGS (\\Deleted)")
    b.cmd("x", "UID EXPUNGE 3")
    # a fresh client with a cache at h0 resynchronises in SELECT
    c = login(srv)
    c.cmd("e", "ENABLE QRESYNC")
    lines = c.cmd("s", f"SELECT INBOX (QRESYNC ({uidvalidity} {h0} 1:5))")
    assert lines[-1].startswith("s OK [READ-WRITE]"), lines
    assert "* VANISHED (EARLIER) 3" in lines, lines
    fetches = [ln for ln in lines if ln.startswith("* ") and " FETCH " in ln]
    assert len(fetches) == 1, fetches  # 3 changed too, but it is gone: VANISHED only
    assert any(re.match(r"\* 2 FETCH \(UID 2 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)", f)
               for f in fetches), fetches
    assert "* 4 EXISTS" in lines
    # known-uids narrows VANISHED (EARLIER)
    lines = c.cmd("s2", f"EXAMINE INBOX (QRESYNC ({uidvalidity} {h0} 1:2))")
    assert lines[-1].startswith("s2 OK [READ-ONLY]")
    assert not [ln for ln in lines if "VANISHED" in ln], lines
    assert "* OK [CLOSED] Previous mailbox closed" in lines
    # another UIDVALIDITY: the cache is worthless, nothing is resynced
    lines = c.cmd("s3", f"SELECT INBOX (QRESYNC ({uidvalidity + 1} {h0}))")
    assert not [ln for ln in lines if "VANISHED" in ln or " FETCH " in ln], lines
    # the live session A learns about the expunge as VANISHED, not EXPUNGE
    lines = a.cmd("n", "NOOP")
    assert "* VANISHED 3" in lines and not [ln for ln in lines if ln.startswith("* ") and "EXPUNGE" in ln], lines


def test_uid_fetch_changedsince_vanished(srv):
    c = login(srv)
    c.cmd("e", "ENABLE QRESYNC")
    h0 = code(c.cmd("s", "SELECT INBOX"), "HIGHESTMODSEQ")
    c.cmd("d", "UID STORE 1,4 +FLAGS (\\Deleted)")
    lines = c.cmd("x", "EXPUNGE")
    # RFC 7162 §3.2.10: one VANISHED, no EXPUNGE
    assert "* VANISHED 1,4" in lines, lines
    assert not [ln for ln in lines if ln.startswith("* ") and "EXPUNGE" in ln], lines
    assert lines[-1] == f"x OK [HIGHESTMODSEQ {h0 + 2}] EXPUNGE completed", lines
    c.cmd("f", "UID STORE 5 +FLAGS (\\Answered)")
    lines = c.cmd("v", f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h0} VANISHED)")
    assert lines[0] == "* VANISHED (EARLIER) 1,4", lines
    f = [ln for ln in lines if ln.startswith("* ") and " FETCH " in ln]
    assert len(f) == 1 and re.match(r"\* 3 FETCH \(UID 5 FLAGS \(\\Answered\) MODSEQ \(\d+\)\)",
                                    f[0]), f
    # restricted to the UID set given
    lines = c.cmd("v2", f"UID FETCH 2:3 (FLAGS) (CHANGEDSINCE {h0} VANISHED)")
    assert not [ln for ln in lines if "VANISHED" in ln], lines
    # misuse
    assert c.cmd("b1", f"FETCH 1:* (FLAGS) (CHANGEDSINCE {h0} VANISHED)")[-1].startswith("b1 BAD")
    assert c.cmd("b2", "UID FETCH 1:* (FLAGS) (VANISHED)")[-1].startswith("b2 BAD")


def test_vanished_and_select_qresync_need_enable(srv):
    c = login(srv)
    sel = c.cmd("s", "SELECT INBOX")
    v = code(sel, "UIDVALIDITY")
    assert c.cmd("b1", f"SELECT INBOX (QRESYNC ({v} 1))")[-1].startswith("b1 BAD")
    c.cmd("s", "SELECT INBOX")
    assert c.cmd("b2", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")[-1].startswith("b2 BAD")
    # without QRESYNC an expunge is still EXPUNGE
    c.cmd("d", "STORE 2 +FLAGS (\\Deleted)")
    assert "* 2 EXPUNGE" in c.cmd("x", "EXPUNGE")
    c.cmd("e", "ENABLE QRESYNC")
    assert c.cmd("b3", "SELECT INBOX (QRESYNC (0 1))")[-1].startswith("b3 BAD")
    assert c.cmd("b4", f"SELECT INBOX (QRESYNC ({v}))")[-1].startswith("b4 BAD")


def test_store_unchangedsince_and_status(srv):
    c = login(srv)
    c.cmd("e", "ENABLE QRESYNC")
    c.cmd("s", "SELECT INBOX")
    lines = c.cmd("m", "FETCH 1:2 (MODSEQ)")
    m1 = int(re.search(r"\* 1 FETCH \(UID 1 MODSEQ \((\d+)\)\)", "\n".join(lines)).group(1))
    # 1 is unchanged since m1 and gets the flag; 2 changed later: refused
    c.cmd("t", "STORE 2 +FLAGS (\\Seen)")
    lines = c.cmd("u", f"STORE 1:2 (UNCHANGEDSINCE {m1}) +FLAGS (\\Flagged)")
    assert lines[-1].startswith("u OK [MODIFIED 2]"), lines
    assert any(re.match(r"\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)", ln)
               for ln in lines), lines
    lines = c.cmd("u2", "UID STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)")
    assert lines[-1].startswith("u2 OK [MODIFIED 1]"), lines
    hm = code(c.cmd("n", "NOOP") + c.cmd("s2", "EXAMINE INBOX"), "HIGHESTMODSEQ")
    lines = c.cmd("st", "STATUS INBOX (HIGHESTMODSEQ MESSAGES MAILBOXID)")
    m = re.match(r"\* STATUS \"INBOX\" \(MESSAGES 5 HIGHESTMODSEQ (\d+) MAILBOXID \(M\d+\)\)",
                 lines[0])
    assert m and int(m.group(1)) == hm, lines


def test_move_and_close_with_qresync(srv):
    c = login(srv)
    c.cmd("e", "ENABLE QRESYNC")
    c.cmd("s", "SELECT INBOX")
    lines = c.cmd("mv", "UID MOVE 2:3 Trash")
    assert "* VANISHED 2:3" in lines and not [ln for ln in lines if ln.startswith("* ") and "EXPUNGE" in ln], lines
    # CLOSE expunges silently, then UNSELECT semantics: no mailbox
    c.cmd("d", "STORE 1 +FLAGS (\\Deleted)")
    lines = c.cmd("c", "CLOSE")
    assert lines == ["c OK CLOSE completed"], lines
    assert c.cmd("f", "FETCH 1 (FLAGS)")[-1].startswith("f BAD")
    lines = c.cmd("s", "SELECT INBOX")
    assert "* 2 EXISTS" in lines


def test_idle_push_is_vanished_with_qresync(srv):
    c = login(srv)
    c.cmd("e", "ENABLE QRESYNC")
    c.cmd("s", "SELECT INBOX")
    other = login(srv)
    other.cmd("s", "SELECT INBOX")
    c.sendline("i IDLE")
    assert c.readline().startswith("+ ")
    other.cmd("d", "UID STORE 2 +FLAGS (\\Deleted)")
    ln = c.readline(timeout=T(2))
    assert re.match(r"\* 2 FETCH \(UID 2 FLAGS \(\\Deleted\) MODSEQ \(\d+\)\)", ln), ln
    other.cmd("x", "EXPUNGE")
    assert c.readline(timeout=T(2)) == "* VANISHED 2"
    c.sendline("DONE")
    assert c.read_tagged("i")[-1] == "i OK IDLE terminated"
    # UNSELECT forgets the mailbox: later changes are not pushed
    assert c.cmd("u", "UNSELECT") == ["u OK UNSELECT completed"]
    other.cmd("x2", "UID STORE 1:* +FLAGS (\\Seen)")
    c.sendline("i2 IDLE")
    assert c.readline().startswith("+ ")
    assert c.is_open(wait=0.5)
    c.sendline("DONE")
    assert c.read_tagged("i2") == ["i2 OK IDLE terminated"]
