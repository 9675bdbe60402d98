"""IMAP authenticated and selected states on the real store, with Python's
imaplib as the client: LIST/LSUB/CREATE/RENAME/DELETE/STATUS/NAMESPACE,
SELECT/EXAMINE, FETCH (byte-exact bodies, sections, partials), STORE,
EXPUNGE, COPY/MOVE with COPYUID, APPEND with APPENDUID, SEARCH, and two
sessions on one mailbox seeing each other's changes after NOOP. Accounts
and messages come from sora-admin, as an operator would make them."""

import imaplib
import re
import subprocess

import pytest

from sora_testlib import SORA_ADMIN, T, Client

BASE = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
"""

MSG1 = (b"From: Bob <bob@example.org>\r\n"
        b"To: Alice <alice@example.org>\r\n"
        b"Subject: Hello Alice\r\n"
        b"Date: Mon, 02 Mar 2026 10:11:12 +0000\r\n"
        b"Message-ID: <m1@example.org>\r\n"
        b"\r\n"
        b"First message body with a unicorn.\r\n")

MSG2 = (b"From: Carol <carol@example.org>\r\n"
        b"To: Alice <alice@example.org>\r\n"
        b"Subject: Quarterly report\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"xx\"\r\n"
        b"\r\n"
        b"--xx\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"Part one text.\r\n"
        b"--xx\r\n"
        b"Content-Type: text/html\r\n"
        b"\r\n"
        b"<p>Part two</p>\r\n"
        b"--xx--\r\n")


def admin(srv, *args):
    r = subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), *args],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    return r


def deliver(srv, tmp_path, email, data, name):
    f = tmp_path / name
    f.write_bytes(data)
    admin(srv, "mail", "deliver", "--email", email, "--file", str(f))


@pytest.fixture
def srv(sora, tmp_path):
    s = sora.new()
    s.write_config(BASE)
    admin(s, "accounts", "create", "--email", "alice@example.org", "--password", "secret")
    deliver(s, tmp_path, "alice@example.org", MSG1, "m1.eml")
    deliver(s, tmp_path, "alice@example.org", MSG2, "m2.eml")
    s.start(BASE)
    return s


def login(srv):
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login("alice@example.org", "secret")
    return m


def list_names(m, pattern="*"):
    typ, data = m.list('""', pattern)
    assert typ == "OK"
    out = {}
    for line in data:
        if line is None:
            continue
        mo = re.match(rb'\((.*?)\) "/" (.*)', line)
        name = mo.group(2).decode()
        if name.startswith('"'):
            name = name[1:-1]
        out[name] = mo.group(1).decode().split()
    return out


def test_capabilities_after_login(srv):
    m = login(srv)
    typ, data = m.capability()
    caps = data[0].decode().split()
    for c in ("IMAP4rev2", "IMAP4rev1", "UIDPLUS", "MOVE", "UNSELECT", "NAMESPACE",
              "SPECIAL-USE", "CHILDREN", "ENABLE"):
        assert c in caps
    assert any(c.startswith("APPENDLIMIT=") for c in caps)
    m.logout()


def test_list_create_rename_delete(srv):
    m = login(srv)
    boxes = list_names(m)
    assert set(boxes) >= {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"}
    assert "\\Sent" in boxes["Sent"] and "\\Trash" in boxes["Trash"]
    assert "\\HasNoChildren" in boxes["INBOX"]
    assert m.create("Work/Projects")[0] == "OK"
    boxes = list_names(m)
    assert "\\HasChildren" in boxes["Work"] and "\\HasNoChildren" in boxes["Work/Projects"]
    assert set(list_names(m, "%")) >= {"INBOX", "Work"} and "Work/Projects" not in list_names(m, "%")
    assert set(list_names(m, "Work/%")) == {"Work/Projects"}
    assert set(list_names(m, "inbox")) == {"INBOX"}
    typ, data = m.create("Work")
    assert typ == "NO" and b"ALREADYEXISTS" in data[0]
    assert m.rename("Work", "Jobs")[0] == "OK"
    assert set(list_names(m, "Jobs*")) == {"Jobs", "Jobs/Projects"}
    assert "Work" not in list_names(m)
    assert m.delete("Jobs/Projects")[0] == "OK"
    assert m.delete("Jobs")[0] == "OK"
    assert "Jobs" not in list_names(m)
    typ, data = m.delete("INBOX")
    assert typ == "NO"
    typ, data = m.delete("Nope")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    # LIST "" "" gives the delimiter
    typ, data = m.list('""', '""')
    assert data == [b'(\\Noselect) "/" ""']
    typ, data = m.namespace()
    assert data == [b'(("" "/")) NIL NIL']
    m.logout()


def test_subscribe_lsub_status(srv):
    m = login(srv)
    assert m.create("Lists")[0] == "OK"
    assert m.subscribe("Lists")[0] == "OK"
    typ, data = m.lsub('""', "*")
    assert any(d.endswith(b'"Lists"') or d.endswith(b" Lists") for d in data)
    assert m.unsubscribe("Lists")[0] == "OK"
    typ, data = m.lsub('""', "Lists")
    assert data == [None]
    typ, data = m.status("INBOX", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY SIZE HIGHESTMODSEQ)")
    assert typ == "OK"
    s = data[0].decode()
    assert "MESSAGES 2" in s and "UNSEEN 2" in s and "UIDNEXT 3" in s
    assert f"SIZE {len(MSG1) + len(MSG2)}" in s
    typ, data = m.status("Nope", "(MESSAGES)")
    assert typ == "NO"
    m.logout()


def test_select_examine_fetch(srv):
    m = login(srv)
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"2"]
    assert m.untagged_responses.get("UIDVALIDITY")
    assert m.untagged_responses.get("UIDNEXT") == [b"3"]
    typ, data = m.fetch("1", "(UID RFC822.SIZE FLAGS)")
    assert typ == "OK"
    assert re.search(rb"UID 1 ", data[0]) and str(len(MSG1)).encode() in data[0]
    # byte-exact body; PEEK leaves \Seen alone
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == MSG1
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    typ, data = m.uid("FETCH", "2", "(RFC822)")
    assert data[0][1] == MSG2
    typ, data = m.fetch("2", "(FLAGS)")
    assert b"\\Seen" in data[0]
    typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert data[0][1] == b"Subject: Hello Alice\r\n\r\n"
    typ, data = m.fetch("1", "(BODY.PEEK[TEXT])")
    assert data[0][1] == b"First message body with a unicorn.\r\n"
    typ, data = m.fetch("1", "(BODY.PEEK[]<0.4>)")
    assert data[0][1] == MSG1[:4] and b"BODY[]<0>" in data[0][0]
    typ, data = m.fetch("2", "(BODY.PEEK[1])")
    assert data[0][1] == b"Part one text."
    typ, data = m.fetch("2", "(BODY.PEEK[2.MIME])")
    assert data[0][1].startswith(b"Content-Type: text/html")
    typ, data = m.fetch("1:*", "(ENVELOPE)")
    assert b'"Hello Alice"' in data[0] and b'"Quarterly report"' in data[1]
    typ, data = m.fetch("2", "(BODYSTRUCTURE)")
    assert b'"mixed"' in data[0].lower()
    typ, data = m.fetch("1", "FAST")
    assert b"INTERNALDATE" in data[0] and b"RFC822.SIZE" in data[0]
    with pytest.raises(imaplib.IMAP4.error, match="Invalid sequence set"):
        m.fetch("5", "(FLAGS)")
    m.close()
    # EXAMINE: read-only, FETCH without PEEK does not set \Seen
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK"
    m.fetch("1", "(BODY[])")
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    typ, data = m.store("1", "+FLAGS", "\\Flagged")
    assert typ == "NO"
    assert m.unselect()[0] == "OK"
    typ, data = m.select("Nope")
    assert typ == "NO"
    m.logout()


def test_store_expunge(srv):
    m = login(srv)
    m.select("INBOX")
    typ, data = m.store("1", "+FLAGS", "(\\Flagged $Work)")
    assert typ == "OK" and b"\\Flagged" in data[0] and b"$Work" in data[0]
    typ, data = m.store("1", "-FLAGS", "(\\Flagged)")
    assert b"\\Flagged" not in data[0]
    typ, data = m.store("1:2", "FLAGS.SILENT", "(\\Deleted)")
    assert typ == "OK" and data == [None]
    typ, data = m.fetch("1:2", "(FLAGS)")
    assert all(b"\\Deleted" in d for d in data)
    m.store("2", "-FLAGS", "\\Deleted")
    typ, data = m.expunge()
    assert typ == "OK" and data == [b"1"]
    typ, data = m.fetch("1", "(UID)")
    assert b"UID 2" in data[0]
    typ, data = m.search(None, "ALL")
    assert data == [b"1"]
    m.logout()


def test_copy_move_append(srv):
    m = login(srv)
    m.select("INBOX")
    typ, data = m.copy("1", "Archive")
    assert typ == "OK"
    assert re.search(rb"COPYUID \d+ 1 1", data[-1]) or \
        re.search(rb"COPYUID \d+ 1 1", m.untagged_responses.get("COPYUID", [b""])[0] or b"")
    m.untagged_responses.clear()
    assert m.copy("1", "INBOX")[0] == "OK"
    assert m.untagged_responses.get("EXISTS") == [b"3"]
    m.store("3", "+FLAGS", "\\Deleted")
    m.expunge()
    typ, data = m.copy("1", "Nope")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    typ, data = m.uid("MOVE", "2", "Trash")
    assert typ == "OK"
    typ, data = m.search(None, "ALL")
    assert data == [b"1"]
    typ, data = m.status("Trash", "(MESSAGES)")
    assert b"MESSAGES 1" in data[0]
    # APPEND, then FETCH it back byte-exact
    body = b"From: me@example.org\r\nSubject: appended\r\n\r\nhello\r\n"
    typ, data = m.append("Drafts", "(\\Draft \\Seen)", imaplib.Time2Internaldate(1700000000),
                         body)
    assert typ == "OK" and b"APPENDUID" in data[0]
    typ, data = m.append("Nope", None, None, body)
    assert typ == "NO" and b"TRYCREATE" in data[0]
    m.select("Drafts")
    typ, data = m.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])")
    assert b"\\Draft" in data[0][0] and b"\\Seen" in data[0][0]
    assert b"14-Nov-2023 22:13:20 +0000" in data[0][0]
    assert data[0][1] == body
    m.logout()


def test_search(srv):
    m = login(srv)
    m.select("INBOX")
    m.store("2", "+FLAGS", "\\Flagged")
    assert m.search(None, "ALL")[1] == [b"1 2"]
    assert m.search(None, "FLAGGED")[1] == [b"2"]
    assert m.search(None, "UNFLAGGED")[1] == [b"1"]
    assert m.search(None, "SUBJECT", "report")[1] == [b"2"]
    assert m.search(None, "FROM", "bob")[1] == [b"1"]
    assert m.search(None, "BODY", "unicorn")[1] == [b"1"]
    assert m.search(None, "OR", "FROM", "bob", "FLAGGED")[1] == [b"1 2"]
    assert m.search(None, "NOT", "SEEN", "UID", "2")[1] == [b"2"]
    assert m.uid("SEARCH", "ALL")[1] == [b"1 2"]
    assert m.search(None, "LARGER", "100000")[1] == [b""]
    m.logout()


def test_two_sessions_see_changes_after_noop(srv):
    a = login(srv)
    b = login(srv)
    a.select("INBOX")
    b.select("INBOX")
    b.untagged_responses.clear()
    assert b.append("INBOX", None, None, b"Subject: third\r\n\r\nbody\r\n")[0] == "OK"
    # the appending session sees its own message at once (RFC 9051 6.3.12)
    assert b.untagged_responses.get("EXISTS") == [b"3"]
    a.untagged_responses.clear()
    a.noop()
    assert a.untagged_responses.get("EXISTS") == [b"3"]
    b.store("1", "+FLAGS", "\\Deleted")
    b.expunge()
    a.untagged_responses.clear()
    typ, data = a.noop()
    assert a.untagged_responses.get("EXPUNGE") == [b"1"]
    typ, data = a.fetch("1:*", "(UID)")
    assert [re.search(rb"UID (\d+)", d).group(1) for d in data] == [b"2", b"3"]
    a.logout()
    b.logout()


def test_raw_pipelined_and_bad_syntax(srv):
    with Client(srv.port("imap")) as c:
        c.readline()
        assert c.cmd("a", "LOGIN alice@example.org secret")[-1].startswith("a OK")
        c.send(b"b SELECT INBOX\r\nc FETCH 1:* (UID)\r\nd FETCH x (UID)\r\n")
        lines = c.read_tagged("d")
        assert "b OK [READ-WRITE] SELECT completed" in lines
        assert "* 1 FETCH (UID 1)" in lines and "* 2 FETCH (UID 2)" in lines
        assert lines[-1].startswith("d BAD")
        r = c.cmd("e", "ENABLE IMAP4rev2 QRESYNC")
        assert r[0] == "* ENABLED IMAP4rev2 QRESYNC"
        r = c.cmd("f", "UID SEARCH UNSEEN")
        assert r[0] == '* ESEARCH (TAG "f") UID ALL 1:2'
        r = c.cmd("f2", "SEARCH RETURN (MIN MAX COUNT) ALL")
        assert r[0] == '* ESEARCH (TAG "f2") MIN 1 MAX 2 COUNT 2'
        r = c.cmd("f3", "SEARCH RETURN (COUNT) CHARSET UTF-8 SUBJECT nothing-like-this")
        assert r[0] == '* ESEARCH (TAG "f3") COUNT 0'
        assert c.cmd("g", "FETCH 1 (BODY[HEADER.FIELDS (From)")[-1].startswith("g BAD")
        assert c.cmd("h", "UNAUTHENTICATE") == ["h OK UNAUTHENTICATE completed"]
        assert c.cmd("i", "SELECT INBOX")[-1] == "i BAD Command SELECT is not valid before login"
        assert c.cmd("j", "LOGIN alice@example.org secret")[-1].startswith("j OK")
        # no quota configured: a quota root-less answer (test_imap_compress_quota.py)
        assert c.cmd("k", "GETQUOTAROOT INBOX") == ['* QUOTAROOT "INBOX"',
                                                    "k OK GETQUOTAROOT completed"]


def test_modified_utf7_names(srv):
    m = login(srv)
    assert m.create("Entw&APw-rfe/&ZeVnLIqe-")[0] == "OK"
    assert m.create("A&-B")[0] == "OK"
    boxes = list_names(m, "*")
    assert "Entw&APw-rfe" in boxes and "Entw&APw-rfe/&ZeVnLIqe-" in boxes and "A&-B" in boxes
    with pytest.raises(imaplib.IMAP4.error, match="Invalid mailbox name"):
        m.create("Bad&Jjo")
    typ, data = m.status("Entw&APw-rfe", "(MESSAGES)")
    assert data[0].startswith(b'"Entw&APw-rfe" (MESSAGES 0)')
    m.logout()
    # an IMAP4rev2 client sees the UTF-8 names the store keeps
    with Client(srv.port("imap")) as c:
        c.readline()
        c.cmd("a", "LOGIN alice@example.org secret")
        assert c.cmd("b", "ENABLE IMAP4rev2")[0] == "* ENABLED IMAP4rev2"
        c.send('c LIST "" "Entw*"\r\n'.encode())
        # the test client reads bytes as latin-1
        lines = [ln.encode("latin-1").decode() for ln in c.read_tagged("c")]
        assert '* LIST (\\HasChildren) "/" "Entwürfe"' in lines, lines
        assert '* LIST (\\HasNoChildren) "/" "Entwürfe/日本語"' in lines, lines


def test_appendlimit_before_literal(sora):
    conf = BASE + '    append_limit = "1k"\n'
    s = sora.new()
    s.write_config(conf)
    admin(s, "accounts", "create", "--email", "alice@example.org", "--password", "secret")
    s.start(conf)
    with Client(s.port("imap")) as c:
        c.readline()
        r = c.cmd("a", "LOGIN alice@example.org secret")
        assert "APPENDLIMIT=1024" in r[-1]
        # synchronising: refused before the client sends the octets
        assert c.cmd("b", "APPEND INBOX {2000}") == ["b NO [TOOBIG] Literal exceeds APPENDLIMIT"]
        # non-synchronising: the octets are drained, the session goes on
        c.send(b"c APPEND INBOX {2000+}\r\n" + b"x" * 2000 + b"\r\n")
        assert c.read_tagged("c") == ["c NO [TOOBIG] Literal exceeds APPENDLIMIT"]
        r = c.cmd("d", "APPEND INBOX {12+}\r\nSubject: x\r\n")
        assert r[-1].startswith("d OK [APPENDUID "), r


def test_condstore(srv):
    with Client(srv.port("imap")) as c:
        c.readline()
        r = c.cmd("a", "LOGIN alice@example.org secret")
        assert " CONDSTORE" in r[-1]
        lines = c.cmd("b", "SELECT INBOX (CONDSTORE)")
        hms = [ln for ln in lines if "HIGHESTMODSEQ" in ln]
        assert hms, lines
        highest = int(re.search(r"HIGHESTMODSEQ (\d+)", hms[0]).group(1))
        r = c.cmd("c", "FETCH 1:* (UID MODSEQ)")
        mods = [int(re.search(r"MODSEQ \((\d+)\)", ln).group(1)) for ln in r[:-1]]
        assert len(mods) == 2 and max(mods) == highest
        r = c.cmd("d", "STORE 1 +FLAGS (\\Flagged)")
        m = re.search(r"MODSEQ \((\d+)\)", r[0])
        assert m and int(m.group(1)) > highest, r
        new = int(m.group(1))
        # only the changed message since the old HIGHESTMODSEQ
        r = c.cmd("e", f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")
        assert len(r) == 2 and "UID 1 " in r[0] and "\\Flagged" in r[0], r
        # a conditional STORE refused for a message changed since
        r = c.cmd("f", f"STORE 1:2 (UNCHANGEDSINCE {highest}) +FLAGS (\\Seen)")
        assert r[-1].startswith("f OK [MODIFIED 1]"), r
        assert any(ln.startswith("* 2 FETCH") for ln in r), r
        r = c.cmd("g", f"SEARCH MODSEQ {new}")
        assert r[0].startswith("* SEARCH 1") and "(MODSEQ" in r[0], r
        r = c.cmd("h", "STATUS INBOX (HIGHESTMODSEQ)")
        assert "HIGHESTMODSEQ" in r[0]


def test_list_extended_and_status(srv):
    with Client(srv.port("imap")) as c:
        c.readline()
        r = c.cmd("a", "LOGIN alice@example.org secret")
        assert "LIST-EXTENDED" in r[-1] and "LIST-STATUS" in r[-1]
        assert c.cmd("b", "CREATE Lists/Sub")[-1] == "b OK CREATE completed"
        assert c.cmd("c", "SUBSCRIBE Lists/Sub")[-1].startswith("c OK")
        assert c.cmd("c2", "SUBSCRIBE Gone")[-1].startswith("c2 OK")
        r = c.cmd("d", 'LIST "" (INBOX Sent) RETURN (STATUS (MESSAGES UNSEEN) SUBSCRIBED)')
        assert r[0] == '* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"', r
        assert r[1] == '* STATUS "INBOX" (MESSAGES 2 UNSEEN 2)', r
        assert r[2] == '* LIST (\\HasNoChildren \\Subscribed \\Sent) "/" "Sent"', r
        assert r[3] == '* STATUS "Sent" (MESSAGES 0 UNSEEN 0)', r
        r = c.cmd("e", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "Lists%"')
        assert r[0] == '* LIST (\\HasChildren) "/" "Lists" ("CHILDINFO" ("SUBSCRIBED"))', r
        r = c.cmd("f", 'LIST (SUBSCRIBED) "" "*"')
        assert '* LIST (\\HasNoChildren \\Subscribed) "/" "Lists/Sub"' in r, r
        assert '* LIST (\\Subscribed \\NonExistent) "/" "Gone"' in r, r
        assert '* LIST (\\HasChildren) "/" "Lists"' not in r, r
        r = c.cmd("g", 'LIST (SPECIAL-USE) "" "*"')
        names = sorted(ln.rsplit(" ", 1)[1] for ln in r[:-1])
        assert names == ['"Archive"', '"Drafts"', '"Junk"', '"Sent"', '"Trash"'], r
        assert c.cmd("h", 'LIST (RECURSIVEMATCH) "" "*"')[-1].startswith("h BAD")


def test_idle_reports_other_sessions(srv):
    other = login(srv)
    other.select("INBOX")
    with Client(srv.port("imap")) as c:
        c.readline()
        c.cmd("a", "LOGIN alice@example.org secret")
        c.cmd("b", "SELECT INBOX")
        c.sendline("c IDLE")
        assert c.readline() == "+ idling"
        assert other.append("INBOX", None, None, b"Subject: pushed\r\n\r\nx\r\n")[0] == "OK"
        assert c.readline(timeout=T(5)) == "* 3 EXISTS"
        other.store("1", "+FLAGS", "\\Flagged")
        assert c.readline(timeout=T(5)) == "* 1 FETCH (UID 1 FLAGS (\\Flagged))"
        other.store("2", "+FLAGS", "\\Deleted")
        other.expunge()
        lines = [c.readline(timeout=T(5))]
        while lines[-1] != "* 2 EXPUNGE":
            lines.append(c.readline(timeout=T(5)))
        c.sendline("DONE")
        assert c.readline() == "c OK IDLE terminated"
        r = c.cmd("d", "FETCH 1:* (UID)")
        assert r == ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "d OK FETCH completed"]
        c.sendline("e IDLE")
        assert c.readline() == "+ idling"
        c.sendline("NOPE")
        assert c.readline() == "e BAD Expected DONE"
        assert c.cmd("f", "NOOP")[-1] == "f OK NOOP completed"
    other.logout()


def test_sort(srv):
    m = login(srv)
    m.select("INBOX")
    assert m.append("INBOX", None, None, b"From: Zed <zed@example.org>\r\n"
                    b"Subject: Re: apples\r\nDate: Sun, 01 Mar 2026 00:00:00 +0000\r\n\r\n" +
                    b"a much longer body than the others, for SIZE\r\n" * 3)[0] == "OK"
    m.noop()
    assert m.sort("(SUBJECT)", "UTF-8", "ALL")[1] == [b"3 1 2"]
    assert m.sort("(REVERSE SUBJECT)", "UTF-8", "ALL")[1] == [b"2 1 3"]
    assert m.sort("(FROM)", "UTF-8", "ALL")[1] == [b"1 2 3"]
    assert m.sort("(DATE)", "UTF-8", "ALL")[1] == [b"3 1 2"]
    assert m.sort("(REVERSE SIZE)", "UTF-8", "NOT", "FROM", "carol")[1] == [b"3 1"]
    assert m.uid("SORT", "(ARRIVAL)", "UTF-8", "ALL")[1] == [b"1 2 3"]
    m.logout()


def test_list_pattern_no_backtracking_blowup(srv):
    m = login(srv)
    assert m.create("a" * 300)[0] == "OK"
    pattern = "*a" * 40 + "%b"
    typ, data = m.list('""', pattern)
    assert typ == "OK" and data == [None]
    typ, data = m.list('""', "*a" * 40 + "*")
    assert typ == "OK" and len(data) == 1
    m.logout()


def test_thread_orderedsubject(srv):
    with Client(srv.port("imap")) as c:
        c.readline()
        r = c.cmd("a", "LOGIN alice@example.org secret")
        assert "THREAD=ORDEREDSUBJECT" in r[-1]
        c.cmd("b", "SELECT INBOX")
        assert c.cmd("c", "THREAD ORDEREDSUBJECT UTF-8 ALL") == [
            "* THREAD (1)(2)", "c OK THREAD completed"]
        for i, subj in enumerate(["Re: Hello Alice", "RE: hello alice"]):
            msg = f"Subject: {subj}\r\nDate: Tue, 03 Mar 2026 10:0{i}:00 +0000\r\n\r\nx\r\n"
            r = c.cmd(f"d{i}", "APPEND INBOX {%d+}\r\n%s" % (len(msg), msg))
            assert r[-1].startswith(f"d{i} OK [APPENDUID"), r
        assert c.cmd("e", "THREAD ORDEREDSUBJECT UTF-8 ALL")[0] == "* THREAD (1 (3)(4))(2)"
        assert c.cmd("f", "THREAD ORDEREDSUBJECT UTF-8 NOT SUBJECT hello")[0] == "* THREAD (2)"
        assert c.cmd("g", "UID THREAD ORDEREDSUBJECT UTF-8 1,3")[0] == "* THREAD (1 3)"
        assert c.cmd("h", "THREAD ORDEREDSUBJECT UTF-8 LARGER 100000")[0] == "* THREAD"
        assert c.cmd("i", "THREAD NOSUCHALGO UTF-8 ALL")[-1].startswith("i BAD")
