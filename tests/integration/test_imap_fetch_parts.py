"""FETCH sections from stored part offsets agree byte for byte with FETCH
by parsing the body (mail stored without offsets, before schema version
2): the same messages (the MIME fuzz seeds: nested, broken, LF-only,
unterminated...) go to one account with offsets stored and to
another by `sora-admin import maildir` (which stores none; the first by
`sora-admin mail deliver`, the delivery path that APPEND shares), and every
section, partial and BINARY item answers the same in both."""

import imaplib
import re
import shutil
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

# (the importer refuses files not starting with a header field)
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


def test_stored_offsets_agree_with_parsing(sora, tmp_path):
    assert len(SEEDS) >= 10
    s = sora.new()
    s.write_config(BASE)
    for user in ("alice", "bob"):
        admin(s, "accounts", "create", "--email", f"{user}@example.org", "--password", "secret")
    md = tmp_path / "maildir"
    for d in ("cur", "new", "tmp"):
        (md / d).mkdir(parents=True)
    for i, p in enumerate(SEEDS):
        shutil.copyfile(p, md / "cur" / f"{1000 + i}.seed{i}:2,S")
    out = admin(s, "import", "maildir", "--email", "bob@example.org", "--path", str(md),
                "--progress=false")
    assert f"{len(SEEDS)} messages imported" in out or f"{len(SEEDS)} imported" in out, out
    # delivery stores offsets and keeps the bytes as they are (imaplib's
    # APPEND would turn bare LFs into CRLF)
    for p in SEEDS:
        admin(s, "mail", "deliver", "--email", "alice@example.org", "--file", str(p))
    # the premise: offsets for alice's copies, none for bob's
    db = sqlite3.connect(s.dir / "data" / "sora.db")
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
