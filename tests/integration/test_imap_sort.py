"""SORT (RFC 5256), SORT=DISPLAY (RFC 5957), ESORT (RFC 5267) and THREAD
(ORDEREDSUBJECT, REFERENCES) over real sockets with Python's imaplib.

Messages are APPENDed with chosen INTERNALDATEs, so ARRIVAL and the
"no Date: header sorts by INTERNALDATE" rule are visible; every key is
checked against an order worked out by hand."""

import imaplib
import re

import pytest

from sora_testlib import SORA_ADMIN, T  # noqa: F401  (SORA_ADMIN: same binary dir)

BASE = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
"""


def mail(subject, frm, to, date=None, cc=None, msgid=None, refs=None, irt=None, body="hi"):
    h = [f"From: {frm}", f"To: {to}", f"Subject: {subject}"]
    if cc:
        h.append(f"Cc: {cc}")
    if date:
        h.append(f"Date: {date}")
    if msgid:
        h.append(f"Message-ID: <{msgid}>")
    if refs:
        h.append("References: " + " ".join(f"<{r}>" for r in refs))
    if irt:
        h.append(f"In-Reply-To: <{irt}>")
    return ("\r\n".join(h) + "\r\n\r\n" + body + "\r\n").encode()


# (message, INTERNALDATE); sequence numbers 1..6 in this order
MESSAGES = [
    (mail("Re: Budget", "Zed Zimmer <zed@example.org>", "bob@example.org",
          "Tue, 03 Mar 2026 10:00:00 +0000", cc="carol@example.org",
          msgid="b2@x", refs=["b1@x"], body="x" * 400),
     "03-Mar-2026 10:00:00 +0000"),
    (mail("Budget", "alice@example.org", "zoe@example.org",
          "Mon, 02 Mar 2026 10:00:00 +0000", msgid="b1@x", body="short"),
     "02-Mar-2026 10:00:00 +0000"),
    # no Date: header: DATE sorts it at its INTERNALDATE (01-Mar, first)
    (mail("[list] lunch", "Mallory <mallory@example.org>", "Adam <adam@example.org>",
          None, cc="alice@example.org", msgid="l1@x", body="y" * 100),
     "01-Mar-2026 09:00:00 +0000"),
    (mail("Fwd: Budget", "bob@example.org", "Alice <alice@example.org>",
          "Wed, 04 Mar 2026 10:00:00 +0000", msgid="b3@x", refs=["b1@x", "b2@x"],
          body="z" * 50),
     "28-Feb-2026 10:00:00 +0000"),
    (mail("Lunch", "carol@example.org", "bob@example.org",
          "Thu, 05 Mar 2026 12:00:00 +0200", msgid="l2@x", body="w" * 200),
     "05-Mar-2026 10:00:00 +0000"),
    # replies to a message we never got: a dummy parent (l9@x)
    (mail("Re: picnic", "dave@example.org", "bob@example.org",
          "Fri, 06 Mar 2026 10:00:00 +0000", msgid="p2@x", irt="p1@x"),
     "06-Mar-2026 10:00:00 +0000"),
]


@pytest.fixture
def srv(sora):
    import subprocess
    s = sora.new()
    s.write_config(BASE)
    r = subprocess.run([str(SORA_ADMIN), "--config", str(s.config_path), "accounts", "create",
                        "--email", "alice@example.org", "--password", "secret"],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    s.start(BASE)
    m = login(s)
    for data, idate in MESSAGES:
        typ, _ = m.append("INBOX", None, f'"{idate}"', data)
        assert typ == "OK"
    m.logout()
    return s


def login(srv):
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login("alice@example.org", "secret")
    return m


def sort(m, crit, keys="ALL", uid=False):
    if uid:
        typ, dat = m.uid("SORT", crit, "UTF-8", keys)
    else:
        typ, dat = m.sort(crit, "UTF-8", keys)
    assert typ == "OK", dat
    return [int(x) for x in dat[0].split()]


def raw(m, name, *args, resp="ESEARCH"):
    """Any command; returns (tagged status, untagged responses named resp)."""
    imaplib.Commands.setdefault(name, ("AUTH", "SELECTED"))
    typ, dat = m._simple_command(name, *args)
    return typ, m._untagged_response(typ, dat, resp)[1]


def test_sort_every_key(srv):
    m = login(srv)
    m.select("INBOX")
    assert sort(m, "(ARRIVAL)") == [4, 3, 2, 1, 5, 6]
    # message 3 has no Date: it sorts at its INTERNALDATE
    assert sort(m, "(DATE)") == [3, 2, 1, 4, 5, 6]
    assert sort(m, "(REVERSE DATE)") == [6, 5, 4, 1, 2, 3]
    # RFC 5256 base subjects: budget x3, lunch x2 ([list] and Re:/Fwd: stripped), picnic
    assert sort(m, "(SUBJECT)") == [1, 2, 4, 3, 5, 6]
    assert sort(m, "(SUBJECT DATE)") == [2, 1, 4, 3, 5, 6]
    assert sort(m, "(SIZE)")[-1] == 1 and sort(m, "(REVERSE SIZE)")[0] == 1
    # FROM: first address's mailbox: alice bob carol dave mallory zed
    assert sort(m, "(FROM)") == [2, 4, 5, 6, 3, 1]
    # TO: adam alice bob bob bob zoe; ties by sequence number
    assert sort(m, "(TO)") == [3, 4, 1, 5, 6, 2]
    # CC: "" (4 messages, in mailbox order) alice carol
    assert sort(m, "(CC)") == [2, 4, 5, 6, 3, 1]
    # DISPLAYFROM (RFC 5957): display name, else the address
    assert sort(m, "(DISPLAYFROM)") == [2, 4, 5, 6, 3, 1]
    assert sort(m, "(DISPLAYTO)") == [3, 4, 1, 5, 6, 2]
    m.logout()


def test_sort_with_criteria_and_uid(srv):
    m = login(srv)
    m.select("INBOX")
    typ, dat = m.uid("SEARCH", "ALL")
    uids = [int(x) for x in dat[0].split()]
    assert sort(m, "(DATE)", "SUBJECT budget") == [2, 1, 4]
    assert sort(m, "(DATE)", "SUBJECT budget", uid=True) == [uids[1], uids[0], uids[3]]
    assert sort(m, "(REVERSE ARRIVAL)", "NOT SUBJECT budget") == [6, 5, 3]
    # bad criteria and charsets
    with pytest.raises(imaplib.IMAP4.error):
        m.sort("(FOO)", "UTF-8", "ALL")
    with pytest.raises(imaplib.IMAP4.error):
        m.sort("(REVERSE)", "UTF-8", "ALL")
    typ, dat = m._simple_command("SORT", "(DATE)", "KOI8-R", "ALL")
    assert typ == "NO" and b"[BADCHARSET" in dat[0]
    m.logout()


def test_esort_return(srv):
    m = login(srv)
    m.select("INBOX")
    typ, dat = raw(m, "SORT", "RETURN", "(MIN MAX COUNT ALL)", "(DATE)", "UTF-8", "ALL")
    assert typ == "OK"
    line = dat[-1].decode()
    # MIN/MAX are the first and last in sort order (RFC 5267 §3.1)
    assert re.search(r"MIN 3\b", line) and re.search(r"MAX 6\b", line), line
    assert "COUNT 6" in line
    assert re.search(r"ALL 3,2,1,4:6\b", line), line
    # no CONTEXT: not advertised, refused
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        m._simple_command("SORT", "RETURN", "(CONTEXT)", "(DATE)", "UTF-8", "ALL")
    typ, caps = m.capability()
    assert b"ESORT" in caps[0] and b"CONTEXT" not in caps[0]
    m.logout()


def thread(m, algo, keys="ALL", uid=False):
    if uid:
        typ, dat = m.uid("THREAD", algo, "UTF-8", keys)
    else:
        typ, dat = m.thread(algo, "UTF-8", keys)
    assert typ == "OK", dat
    return (dat[0] or b"").decode()


def test_thread_references(srv):
    m = login(srv)
    m.select("INBOX")
    # budget: 2 <- 1 <- 4 by References; lunch: 3 (no Date: dated by its
    # INTERNALDATE) and 5 are both originals -> siblings under a dummy;
    # picnic: the parent is missing, one child -> promoted
    assert thread(m, "REFERENCES") == "((3)(5))(2 1 4)(6)"
    typ, dat = m.uid("SEARCH", "ALL")
    u = [None] + [int(x) for x in dat[0].split()]
    assert thread(m, "REFERENCES", uid=True) == \
        f"(({u[3]})({u[5]}))({u[2]} {u[1]} {u[4]})({u[6]})"
    assert thread(m, "REFERENCES", "SUBJECT budget") == "(2 1 4)"
    # REFS: no grouping by subject, threads ordered by their newest message
    assert thread(m, "REFS") == "(3)(2 1 4)(5)(6)"
    assert thread(m, "REFERENCES", "SUBJECT nothing-matches") == ""
    m.logout()


def test_thread_orderedsubject(srv):
    m = login(srv)
    m.select("INBOX")
    assert thread(m, "ORDEREDSUBJECT") == "(3 5)(2 (1)(4))(6)"
    with pytest.raises(imaplib.IMAP4.error):
        m.thread("NOSUCHALGO", "UTF-8", "ALL")
    typ, caps = m.capability()
    assert b"THREAD=REFERENCES" in caps[0] and b"THREAD=ORDEREDSUBJECT" in caps[0]
    assert b"THREAD=REFS" in caps[0]
    m.logout()
