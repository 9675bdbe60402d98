"""FETCH sections from stored part offsets agree byte for byte with FETCH
by parsing the body (mail stored without offsets, before schema version
2): the same messages (the MIME fuzz seeds: nested, broken, LF-only,
unterminated...) are delivered to two accounts (`sora-admin mail deliver`,
the path APPEND shares, keeping the bytes as they are), the second one's
offsets are then dropped as a database from version 1 has them, and every
section, partial and BINARY item must answer the same in both."""

import imaplib
import re
import sqlite3
import subprocess
from pathlib import Path

from sora_testlib import REPO, SORA_ADMIN, T

BASE = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
"""

# (delivery refuses files not starting with a header field)
SEEDS = [p for p in sorted((REPO / "fuzz" / "corpus" / "mime").glob("*.eml"))
         if re.match(rb"[!-9;-~]+[ \t]*:", p.read_bytes())]

ITEMS = [
    "BODY.PEEK[]", "BODY.PEEK[]<3.50>", "BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]",
    "BODY.PEEK[TEXT]<1.7>", "BODY.PEEK[HEADER.FIELDS (Subject Content-Type)]",
    "BODY.PEEK[HEADER.FIELDS.NOT (Subject)]<0.40>", "RFC822.HEADER", "RFC822.SIZE",
    "BODY.PEEK[1]", "BODY.PEEK[1]<2.10>", "BODY.PEEK[1.MIME]", "BODY.PEEK[2]",
    "BODY.PEEK[2.MIME]", "BODY.PEEK[1.1]", "BODY.PEEK[1.2]", "BODY.PEEK[2.1]",
    "BODY.PEEK[2.HEADER]", "BODY.PEEK[2.TEXT]", "BODY.PEEK[1.HEADER]", "BODY.PEEK[3]",
    "BODY.PEEK[1.1.1]", "BODY.PEEK[9]", "BODYSTRUCTURE", "BODY",
]
BINARY_ITEMS = ["BINARY.PEEK[1]", "BINARY.SIZE[1]", "BINARY.PEEK[2]<1.20>", "BINARY.SIZE[2]",
                "BINARY.PEEK[1.1]", "BINARY.PEEK[]<0.30>", "BINARY.SIZE[]"]


def admin(s, *args):
    r = subprocess.run([str(SORA_ADMIN), "--config", str(s.config_path), *args],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    return r.stdout


def login(s, user):
    m = imaplib.IMAP4("127.0.0.1", s.port("imap"), timeout=T(30))
    m.login(f"{user}@example.org", "secret")
    m.select("INBOX")
    return m


def by_content(m):
    """{message bytes: uid}"""
    typ, dat = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    assert typ == "OK"
    out = {}
    for x in dat:
        if isinstance(x, tuple):
            uid = int(x[0].split(b"UID ")[1].split()[0])
            out[x[1]] = uid
    return out


def fetch(m, uid, item):
    typ, dat = m.uid("FETCH", str(uid), f"({item})")
    # sequence number and UID differ between the accounts: drop them
    def anon(b):
        return re.sub(rb"^\d+ \(UID \d+", b"_ (UID _", b)

    return typ, [anon(x) if isinstance(x, bytes) else (anon(x[0]), x[1])
                 for x in dat if x is not None]


def test_stored_offsets_agree_with_parsing(sora):
    assert len(SEEDS) >= 10
    s = sora.new()
    s.write_config(BASE)
    for user in ("alice", "bob"):
        admin(s, "accounts", "create", "--email", f"{user}@example.org", "--password", "secret")
    for user in ("alice", "bob"):
        for p in SEEDS:
            admin(s, "mail", "deliver", "--email", f"{user}@example.org", "--file", str(p))
    # bob's copies become mail stored before schema version 2: no offsets
    db = sqlite3.connect(s.dir / "data" / "sora.db")
    with db:
        db.execute("UPDATE message_data SET parts = NULL WHERE account_id = "
                   "(SELECT account_id FROM credentials WHERE address = 'bob@example.org')")
    rows = dict(db.execute(
        "SELECT c.address, COUNT(d.parts) FROM message_data d JOIN credentials c "
        "ON c.account_id = d.account_id GROUP BY c.address").fetchall())
    db.close()
    assert rows == {"alice@example.org": len(SEEDS), "bob@example.org": 0}, rows
    s.start(BASE)
    a = login(s, "alice")
    a_uids, b_uids = by_content(a), by_content(login(s, "bob"))
    b = login(s, "bob")
    assert set(a_uids) == set(b_uids) and len(a_uids) >= 10
    checked = 0
    for body, au in a_uids.items():
        bu = b_uids[body]
        for item in ITEMS + BINARY_ITEMS:
            got, want = fetch(a, au, item), fetch(b, bu, item)
            assert got == want, (item, body[:80])
            checked += 1
        # several sections at once (one range read each)
        many = " ".join(ITEMS[:12])
        assert fetch(a, au, many) == fetch(b, bu, many), body[:80]
    print(f"fetch parts: {checked} items compared")
    a.logout()
    b.logout()


def test_upgrade_from_version_1(sora):
    """A database from schema version 1 is migrated at start; its mail (no
    offsets) is served by parsing, new mail gets offsets."""
    s = sora.new()
    s.write_config(BASE)
    admin(s, "accounts", "create", "--email", "alice@example.org", "--password", "secret")
    old = next(p for p in SEEDS if p.name == "nested-rfc822-digest.eml")
    admin(s, "mail", "deliver", "--email", "alice@example.org", "--file", str(old))
    # back to version 1, as the previous release left it
    db = sqlite3.connect(s.dir / "data" / "sora.db", isolation_level=None)
    db.executescript("BEGIN; ALTER TABLE message_data DROP COLUMN parts;"
                     "ALTER TABLE accounts DROP COLUMN quota_storage;"
                     "ALTER TABLE accounts DROP COLUMN quota_messages;"
                     "DELETE FROM schema_migrations WHERE version >= 2; COMMIT;")
    db.close()
    s.start(BASE)
    m = login(s, "alice")
    body = old.read_bytes()
    assert b"\r\n\r\n" in body
    new = b"X-New: 1\r\n" + body  # another content: its own row, with offsets
    assert m.append("INBOX", None, None, new)[0] == "OK"
    typ, dat = m.uid("FETCH", "1:2", "(BODY.PEEK[1] BODY.PEEK[HEADER] BODY.PEEK[]<2.9>)")
    assert typ == "OK"
    lits = [x[1] for x in dat if isinstance(x, tuple)]
    assert lits[2] == body[2:11] and lits[5] == new[2:11]
    assert lits[1] == body[:body.index(b"\r\n\r\n") + 4]
    assert lits[4] == new[:new.index(b"\r\n\r\n") + 4]
    assert lits[0] == lits[3]  # part 1 is the same bytes in both
    m.logout()
    db = sqlite3.connect(s.dir / "data" / "sora.db")
    assert db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(parts), COUNT(*) FROM message_data").fetchone() == (1, 2)
    db.close()
    assert "quota-messages" not in admin(s, "accounts", "show", "--email", "alice@example.org")
