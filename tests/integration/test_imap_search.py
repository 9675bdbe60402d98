"""SEARCH extensions over real sockets (imaplib plus raw commands):
ESEARCH RETURN options (RFC 4731), SEARCHRES "$" (RFC 5182) in SEARCH,
FETCH, STORE, COPY, MOVE and their UID forms, MULTISEARCH (RFC 7377
ESEARCH IN (...)), WITHIN (RFC 5032 OLDER/YOUNGER), SAVEDATE keys
(RFC 8514) and CHARSET handling."""

import imaplib
import re
import subprocess
import time

import pytest

from sora_testlib import SORA_ADMIN, T

BASE = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
"""


def msg(subject, body="text", extra=""):
    return (f"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: {subject}\r\n"
            f"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n{extra}\r\n{body}\r\n").encode()


EXTRA = {2: "X-Mailer: Mutt 2.2\r\n",
         4: "X-Mailer: other\r\nX-Folded: two\r\n lines here\r\n"}


@pytest.fixture
def srv(sora):
    s = sora.new()
    s.write_config(BASE)
    r = subprocess.run([str(SORA_ADMIN), "--config", str(s.config_path), "accounts", "create",
                        "--email", "alice@example.org", "--password", "secret"],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    s.start(BASE)
    m = login(s)
    old = '"01-Jan-2020 10:00:00 +0000"'
    # 1..5 in INBOX: 1 and 2 are old (by INTERNALDATE), 3..5 recent
    for i, subj in enumerate(["alpha one", "beta two", "alpha three", "gamma four",
                              "alpha five"]):
        date = old if i < 2 else None
        assert m.append("INBOX", None, date, msg(subj, extra=EXTRA.get(i, "")))[0] == "OK"
    assert m.create("Archive/2026")[0] == "OK"
    assert m.append("Archive", None, None, msg("alpha archived"))[0] == "OK"
    assert m.append("Archive/2026", None, None, msg("alpha deep"))[0] == "OK"
    assert m.append("Archive/2026", None, None, msg("beta deep"))[0] == "OK"
    m.logout()
    return s


def login(srv):
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login("alice@example.org", "secret")
    return m


def raw(m, name, *args, resp="ESEARCH"):
    imaplib.Commands.setdefault(name, ("AUTH", "SELECTED"))
    try:
        typ, dat = m._simple_command(name, *args)
    except imaplib.IMAP4.error as e:
        if "BAD" not in str(e):
            raise
        return "BAD", [str(e)]
    _, untagged = m._untagged_response(typ, dat, resp)
    return typ, [x.decode() if isinstance(x, bytes) else x for x in untagged if x is not None]


def test_esearch_return_options(srv):
    m = login(srv)
    m.select("INBOX")
    typ, r = raw(m, "SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "SUBJECT", "alpha")
    assert typ == "OK"
    assert re.search(r"MIN 1 MAX 5 ALL 1,3,5 COUNT 3", r[0]), r
    typ, r = raw(m, "UID", "SEARCH", "RETURN", "(COUNT)", "ALL")
    assert typ == "OK" and re.search(r"\) UID COUNT 5$", r[0]), r
    # RETURN () means ALL
    typ, r = raw(m, "SEARCH", "RETURN", "()", "SUBJECT", "gamma")
    assert typ == "OK" and r[0].endswith("ALL 4"), r
    # no match: no MIN/MAX/ALL, COUNT 0
    typ, r = raw(m, "SEARCH", "RETURN", "(MIN COUNT)", "SUBJECT", "nomatch")
    assert typ == "OK" and r[0].endswith("COUNT 0"), r
    typ, _ = raw(m, "SEARCH", "RETURN", "(BOGUS)", "ALL")
    assert typ == "BAD"
    m.logout()


def test_searchres_dollar_everywhere(srv):
    m = login(srv)
    m.select("INBOX")
    # SAVE alone: no ESEARCH response, only the tagged OK
    typ, r = raw(m, "SEARCH", "RETURN", "(SAVE)", "SUBJECT", "alpha")
    assert typ == "OK" and r == [], r
    typ, dat = m.fetch("$", "(FLAGS)")
    assert typ == "OK" and sorted(int(x.split()[0]) for x in dat) == [1, 3, 5]
    typ, dat = m.uid("FETCH", "$", "(UID)")
    assert typ == "OK" and len(dat) == 3
    # $ as a search key, combined with others
    typ, dat = m.search(None, "$", "SUBJECT", "five")
    assert dat[0] == b"5"
    typ, dat = m.store("$", "+FLAGS", "(\\Flagged)")
    assert typ == "OK"
    typ, dat = m.search(None, "FLAGGED")
    assert dat[0] == b"1 3 5"
    typ, dat = m.uid("STORE", "$", "-FLAGS", "(\\Flagged)")
    assert typ == "OK"
    assert m.search(None, "FLAGGED")[1][0] == b""
    # SAVE with other options answers them and saves too
    typ, r = raw(m, "SEARCH", "RETURN", "(SAVE COUNT)", "SUBJECT", "beta")
    assert typ == "OK" and r[0].endswith("COUNT 1")
    assert m.copy("$", "Archive")[0] == "OK"
    typ, dat = m.status("Archive", "(MESSAGES)")
    assert b"MESSAGES 2" in dat[0]
    # MIN+MAX saves only those two (RFC 5182 §2.4)
    assert raw(m, "SEARCH", "RETURN", "(SAVE MIN MAX)", "SUBJECT", "alpha")[0] == "OK"
    assert m.search(None, "$")[1][0] == b"1 5"
    # MOVE $, then $ refers to nothing left here
    typ, dat = m._simple_command("MOVE", "$", "Trash")
    assert typ == "OK"
    assert m.search(None, "ALL")[1][0] == b"1 2 3"
    typ, dat = m.fetch("$", "(FLAGS)")
    assert typ == "OK" and dat == [None]
    # a failed SAVE empties $
    assert raw(m, "SEARCH", "RETURN", "(SAVE)", "SUBJECT", "beta")[0] == "OK"
    assert m.search(None, "$")[1][0] == b"1"
    typ, _ = raw(m, "SEARCH", "RETURN", "(SAVE)", "CHARSET", "KOI8-R", "ALL")
    assert typ == "NO"
    assert m.search(None, "$")[1][0] == b""
    # SORT RETURN (SAVE) saves as well (RFC 5267 + RFC 5182)
    assert raw(m, "SORT", "RETURN", "(SAVE)", "(SUBJECT)", "UTF-8", "SUBJECT", "alpha")[0] == "OK"
    assert m.search(None, "$")[1][0] == b"2"
    # $ is forgotten when the mailbox is closed
    m.select("INBOX")
    assert m.search(None, "$")[1][0] == b""
    typ, caps = m.capability()
    assert b"SEARCHRES" in caps[0]
    m.logout()


def test_multisearch(srv):
    m = login(srv)
    typ, r = raw(m, "ESEARCH", "IN", "(personal)", "RETURN", "(COUNT)", "SUBJECT", "alpha")
    assert typ == "OK", r
    found = {}
    for line in r:
        mb = re.search(r'MAILBOX "?([^" )]+)"? UIDVALIDITY (\d+)\) UID COUNT (\d+)', line)
        assert mb, line
        found[mb.group(1)] = int(mb.group(3))
    assert found["INBOX"] == 3 and found["Archive"] == 1 and found["Archive/2026"] == 1
    # subtree: Archive and below; subtree-one: Archive and its children;
    # mailboxes: exactly that one
    typ, r = raw(m, "ESEARCH", "IN", "(subtree Archive)", "SUBJECT", "alpha")
    assert typ == "OK" and {re.search(r'MAILBOX "?([^" )]+)', x).group(1) for x in r} == \
        {"Archive", "Archive/2026"}
    assert all(re.search(r"UID ALL \d+", x) for x in r)
    typ, r = raw(m, "ESEARCH", "IN", "(mailboxes (Archive/2026))", "SUBJECT", "beta")
    assert typ == "OK" and len(r) == 1 and "Archive/2026" in r[0]
    typ, r = raw(m, "ESEARCH", "IN", "(inboxes)", "RETURN", "(MIN MAX)", "ALL")
    assert typ == "OK" and len(r) == 1 and "INBOX" in r[0] and "MIN 1 MAX 5" in r[0]
    # message numbers and $ mean nothing across mailboxes
    typ, _ = raw(m, "ESEARCH", "IN", "(personal)", "1:3")
    assert typ == "BAD"
    typ, _ = raw(m, "ESEARCH", "IN", "(personal)", "RETURN", "(SAVE)", "ALL")
    assert typ == "BAD"
    typ, _ = raw(m, "ESEARCH", "IN", "(nosuchsource)", "ALL")
    assert typ == "BAD"
    # without IN: the selected mailbox
    m.select("Archive")
    typ, r = raw(m, "ESEARCH", "SUBJECT", "alpha")
    assert typ == "OK" and len(r) == 1 and "Archive" in r[0]
    typ, caps = m.capability()
    assert b"MULTISEARCH" in caps[0]
    m.logout()


def test_within_and_savedate(srv):
    m = login(srv)
    m.select("INBOX")
    # 1 and 2 were appended with a 2020 INTERNALDATE
    assert m.search(None, "OLDER", "86400")[1][0] == b"1 2"
    assert m.search(None, "YOUNGER", "86400")[1][0] == b"3 4 5"
    assert raw(m, "SEARCH", "OLDER", "0")[0] == "BAD"
    # SAVEDATE: all saved today, whatever their INTERNALDATE
    today = time.strftime("%d-%b-%Y", time.gmtime())
    assert m.search(None, "SAVEDON", today)[1][0] == b"1 2 3 4 5"
    assert m.search(None, "SAVEDBEFORE", today)[1][0] == b""
    assert m.search(None, "SAVEDSINCE", "1-Jan-2026")[1][0] == b"1 2 3 4 5"
    assert m.search(None, "SAVEDATESUPPORTED")[1][0] == b"1 2 3 4 5"
    typ, caps = m.capability()
    assert b"WITHIN" in caps[0]
    m.logout()


def test_charset_and_keys(srv):
    m = login(srv)
    m.select("INBOX")
    assert m.search("UTF-8", "SUBJECT", "alpha")[1][0] == b"1 3 5"
    assert m.search("US-ASCII", "SUBJECT", "beta")[1][0] == b"2"
    typ, dat = m._simple_command("SEARCH", "CHARSET", "ISO-8859-1", "ALL")
    assert typ == "NO" and b"[BADCHARSET (UTF-8 US-ASCII)]" in dat[0]
    # every RFC 9051 key parses and evaluates
    keys = ["ALL", "ANSWERED", "BCC x", "BEFORE 1-Jan-2030", "BODY text", "CC x",
            "DELETED", "DRAFT", "FLAGGED", "FROM bob", "HEADER Subject alpha",
            "KEYWORD foo", "LARGER 1", "NOT SEEN", "ON 2-Mar-2026", "OR SEEN UNSEEN",
            "SEEN", "SENTBEFORE 1-Jan-2030", "SENTON 2-Mar-2026", "SENTSINCE 1-Jan-2020",
            "SINCE 1-Jan-2000", "SMALLER 100000", "SUBJECT a", "TEXT alpha", "TO alice",
            "UID 1:*", "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNKEYWORD foo",
            "UNSEEN", "1:*", "(SEEN UNSEEN)"]
    for k in keys:
        typ, dat = m._simple_command("SEARCH", *k.split(" ", 1))
        assert typ == "OK", (k, dat)
    assert m.search(None, "SENTON", "2-Mar-2026")[1][0] == b"1 2 3 4 5"
    assert m.search(None, "HEADER", "Subject", "gamma")[1][0] == b"4"
    # fields the store does not index come from the message itself
    assert m.search(None, "HEADER", "X-Mailer", "Mutt")[1][0] == b"3"
    assert m.search(None, "HEADER", "x-mailer", '""')[1][0] == b"3 5"
    assert m.search(None, "HEADER", "Subject", '""')[1][0] == b"1 2 3 4 5"
    assert m.search(None, "HEADER", "Cc", '""')[1][0] == b""
    assert m.search(None, "HEADER", "X-Folded", '"two lines"')[1][0] == b"5"
    assert m.search(None, "OR", "HEADER", "X-Mailer", "mutt", "SUBJECT", "beta")[1][0] == \
        b"2 3"
    m.logout()


def test_preview(srv):
    m = login(srv)
    m.select("Archive/2026")
    typ, dat = m.fetch("1:2", "(PREVIEW)")
    assert typ == "OK"
    assert [d for d in dat] == [b'1 (PREVIEW "text")', b'2 (PREVIEW "text")'], dat
    typ, dat = m.fetch("1", "(UID PREVIEW (LAZY))")
    assert typ == "OK" and b'PREVIEW "text"' in dat[0], dat
    typ, caps = m.capability()
    assert b"PREVIEW" in caps[0]
    m.logout()


def test_search_rate_limit_per_account(sora):
    """Sora's limits.search_rate_limit_per_min: counted per account across
    sessions, refused with NO (the session stays usable), other accounts and
    other commands unaffected."""
    s = sora.new()
    cfg = BASE + """
    [servers.imap.limits]
    search_rate_limit_per_min = 3
    search_rate_limit_window = "1h"
"""
    s.write_config(cfg)
    for who in ("alice", "bob"):
        r = subprocess.run([str(SORA_ADMIN), "--config", str(s.config_path), "accounts",
                            "create", "--email", f"{who}@example.org", "--password", "secret"],
                           capture_output=True, text=True, timeout=T(60))
        assert r.returncode == 0, r.stderr
    s.start(cfg)
    a1, a2 = login(s), login(s)
    for m in (a1, a2):
        m.select("INBOX")
    assert a1.uid("SEARCH", "ALL")[0] == "OK"
    assert a2.sort("(DATE)", "UTF-8", "ALL")[0] == "OK"
    assert a1.thread("REFERENCES", "UTF-8", "ALL")[0] == "OK"
    # the 4th search of the account, from either session, is refused
    for m in (a1, a2):
        typ, data = m.search(None, "ALL")
        assert typ == "NO", (typ, data)
        assert b"Search rate limit exceeded: 3 searches in 3600s" in data[0], data
    assert a1.noop()[0] == "OK"
    assert a1.fetch("1:*", "(FLAGS)")[0] == "OK"
    b = imaplib.IMAP4("127.0.0.1", s.port("imap"))
    b.login("bob@example.org", "secret")
    b.select("INBOX")
    assert b.search(None, "ALL")[0] == "OK"
    for m in (a1, a2, b):
        m.logout()
