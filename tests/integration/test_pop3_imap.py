"""POP3 and IMAP on one store: DELE + QUIT in POP3 is an expunge that an
IMAP session holding INBOX selected sees (EXPUNGE on its next NOOP), and
POP3's UIDL numbers are the IMAP UIDs. Messages arrive over LMTP."""

import imaplib
import poplib
import re
import smtplib
import subprocess

from sora_testlib import SORA_ADMIN, T

CONFIG = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.lmtp]
    addr = "127.0.0.1:{port_lmtp}"

    [servers.pop3]
    addr = "127.0.0.1:{port_pop3}"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
"""


def test_pop3_dele_quit_seen_by_concurrent_imap(sora):
    srv = sora.new()
    srv.write_config(CONFIG)
    r = subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), "accounts", "create",
                        "--email", "alice@example.org", "--password", "pw", "--hash", "ssha512"],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    srv.start(CONFIG)
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(10)) as m:
        for i in range(3):
            assert m.sendmail("s@example.net", ["alice@example.org"],
                              f"Subject: m{i}\r\n\r\nbody {i}\r\n".encode()) == {}
    imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    imap.login("alice@example.org", "pw")
    typ, data = imap.select("INBOX")
    assert data == [b"3"]
    typ, data = imap.uid("SEARCH", None, "ALL")
    imap_uids = data[0].split()

    p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=T(10))
    p.user("alice@example.org")
    p.pass_("pw")
    uidl = [x.split()[1] for x in p.uidl()[1]]
    assert uidl == imap_uids  # UIDL = IMAP UID
    p.dele(2)
    # not before QUIT: the IMAP session still sees three
    imap.noop()
    assert imap.uid("SEARCH", None, "ALL")[1][0].split() == imap_uids
    assert p.quit() == b"+OK 1 messages expunged"

    typ, data = imap.noop()
    assert imap.untagged_responses.get("EXPUNGE") == [b"2"] or b"2" in \
        (imap.response("EXPUNGE")[1] or []), imap.untagged_responses
    assert imap.uid("SEARCH", None, "ALL")[1][0].split() == [imap_uids[0], imap_uids[2]]
    typ, data = imap.uid("FETCH", imap_uids[2].decode(), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert re.search(rb"Subject: m2", data[0][1])
    imap.logout()
