"""sora-admin import maildir|mbox and export maildir, end to end.

Sources are written by Python's `mailbox` module (a real Maildir/mbox
writer), folder names in modified UTF-7 as Dovecot stores them; what was
imported is checked over IMAP with imaplib (LIST names, counts, FLAGS,
INTERNALDATE, byte-exact BODY[]), what was exported is read back with
`mailbox.Maildir` and re-imported into another account."""

import base64
import calendar
import datetime
import gzip
import imaplib
import mailbox
import os
import re
import subprocess
from pathlib import Path

import pytest

from sora_testlib import SANITIZER_RE, SORA_ADMIN, T

BASE = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
"""

DATE1 = calendar.timegm((2020, 5, 17, 10, 11, 12))
DATE2 = calendar.timegm((2011, 1, 2, 3, 4, 5))


def run_admin(srv, *args, check=True):
    r = subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), *args],
                       capture_output=True, timeout=T(300))
    # under make asan: a report fails the test even when the exit status was expected
    assert not SANITIZER_RE.search(r.stderr.decode(errors="replace")), r.stderr.decode()
    if check:
        assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r


def mutf7(name):
    """RFC 3501 §5.1.3 modified UTF-7 of one name."""
    out, pending = [], ""

    def flush():
        nonlocal pending
        if pending:
            b64 = base64.b64encode(pending.encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b64.replace("/", ",") + "-")
            pending = ""

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending += ch
    flush()
    return "".join(out)


def msg(n, subject, body=b"", crlf=False):
    nl = b"\r\n" if crlf else b"\n"
    lines = [b"From: Sender %d <s%d@example.net>" % (n, n), b"To: alice@example.org",
             b"Subject: " + subject.encode(), b"Message-ID: <m%d@example.net>" % n,
             b"Date: Sun, 17 May 2020 10:00:00 +0000", b""]
    return nl.join(lines) + nl + (body or b"Body of message %d\n" % n).replace(b"\n", nl)


# (folder name or None for INBOX, message bytes, maildir flags, mtime)
def source_messages():
    multipart = (b"MIME-Version: 1.0\r\nFrom: c@example.net\r\nSubject: parts\r\n"
                 b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
                 b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 b"Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n"
                 b"--b1\r\nContent-Type: application/octet-stream\r\n"
                 b"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--b1--\r\n")
    return [
        (None, msg(1, "plain seen"), "S", DATE1),
        (None, msg(2, "answered flagged", crlf=True), "FR", DATE2),
        (None, msg(3, "draft deleted keywords"), "DTab", DATE1),
        (None, multipart, "", DATE2),
        ("Bär", msg(5, "umlaut folder"), "S", DATE1),
        ("Bär/Kind", msg(6, "nested umlaut"), "b", DATE2),
        ("日本語", msg(7, "cjk folder", crlf=True), "", DATE1),
        ("Work/Projects", msg(8, "work"), "S", DATE2),
        ("Work/Projects", msg(9, "work two"), "", DATE1),
        # the same bytes twice in one folder: both are kept, and kept once on re-import
        ("Work/Projects", msg(10, "twin"), "", DATE1),
        ("Work/Projects", msg(10, "twin"), "", DATE1),
    ]


KEYWORDS = {"a": "$Label1", "b": "Important_Customer"}
IMAP_FLAGS = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "T": "\\Deleted",
              "D": "\\Draft"}


def build_maildir(root, messages):
    md = mailbox.Maildir(str(root), create=True)
    folders = {}
    for folder, data, flags, mtime in messages:
        if folder is None:
            box = md
        else:
            # Maildir++: ".Level1.Level2", each level in modified UTF-7
            dirname = ".".join(mutf7(p) for p in folder.split("/"))
            if dirname not in folders:
                folders[dirname] = md.add_folder(dirname)
            box = folders[dirname]
        m = mailbox.MaildirMessage(data)
        m.set_subdir("cur")
        m.set_flags(flags)
        m.set_date(mtime)
        key = box.add(m)
        # mailbox writes LF line ends; put the exact bytes back (CRLF, 8-bit)
        path = Path(box._path, box._lookup(key))
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
    for path in [Path(root)] + [Path(root) / ("." + d) for d in folders]:
        (path / "dovecot-keywords").write_text(
            "".join(f"{ord(k) - ord('a')} {v}\n" for k, v in KEYWORDS.items()))


def expected_flags(flags):
    out = set()
    for c in flags:
        out.add(IMAP_FLAGS[c] if c in IMAP_FLAGS else KEYWORDS[c])
    return out


FETCH_RE = re.compile(rb"UID (\d+) .*FLAGS \(([^)]*)\) .*INTERNALDATE \"([^\"]+)\"", re.S)


def fetch_all(m, mailbox_utf7):
    typ, data = m.select('"' + mailbox_utf7 + '"', readonly=True)
    assert typ == "OK", data
    count = int(data[0])
    out = []
    if count == 0:
        return out
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
    assert typ == "OK", data
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, body = item
        mo = FETCH_RE.search(head)
        assert mo, head
        when = datetime.datetime.strptime(mo.group(3).decode(), "%d-%b-%Y %H:%M:%S %z")
        out.append((body, set(mo.group(2).decode().split()), int(when.timestamp())))
    assert len(out) == count
    return out


def list_names(m):
    typ, data = m.list()
    assert typ == "OK"
    names = set()
    for line in data:
        mo = re.match(rb'\(([^)]*)\) "(.)" (.*)$', line)
        names.add(mo.group(3).decode().strip('"'))
    return names


@pytest.fixture
def srv(sora):
    s = sora.new()
    s.write_config(BASE)
    run_admin(s, "accounts", "create", "--email", "alice@example.org", "--password", "secret")
    run_admin(s, "accounts", "create", "--email", "bob@example.org", "--password", "secret")
    s.start(BASE)
    return s


def login(srv, user="alice@example.org"):
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login(user, "secret")
    return m


def by_folder(messages):
    out = {}
    for folder, data, flags, mtime in messages:
        out.setdefault(folder or "INBOX", []).append((data, expected_flags(flags), mtime))
    return out


def check_account(srv, user, expected):
    m = login(srv, user)
    try:
        names = list_names(m)
        for folder, items in expected.items():
            assert mutf7(folder) in names, (folder, names)
            got = fetch_all(m, mutf7(folder))
            key = lambda t: (t[0], sorted(t[1]), t[2])  # noqa: E731
            assert sorted(got, key=key) == sorted(items, key=key), folder
    finally:
        m.logout()


def test_import_maildir_then_rerun_adds_nothing(srv, tmp_path):
    src = source_messages()
    build_maildir(tmp_path / "Maildir", src)
    r = run_admin(srv, "import", "maildir", "--email", "alice@example.org",
                  "--maildir-path", str(tmp_path / "Maildir"))
    out = r.stdout.decode()
    assert f"{len(src)} messages imported" in out, out
    assert b"import: 11/11 messages" in r.stderr  # progress, at least the final line
    check_account(srv, "alice@example.org", by_folder(src))

    # a second run finds every message already there, the twins included
    r = run_admin(srv, "import", "maildir", "--email", "alice@example.org",
                  "--path", str(tmp_path / "Maildir"))
    assert "0 messages imported" in r.stdout.decode()
    assert f"{len(src)} already there" in r.stdout.decode()
    check_account(srv, "alice@example.org", by_folder(src))


def test_import_options_dry_run_prefix_flags(srv, tmp_path):
    src = source_messages()[:5]
    build_maildir(tmp_path / "Maildir", src)
    r = run_admin(srv, "import", "maildir", "--email", "alice@example.org",
                  "--maildir-path", str(tmp_path / "Maildir"), "--dry-run")
    assert "dry run" in r.stdout.decode() and "5 messages to import" in r.stdout.decode()
    m = login(srv)
    assert mutf7("Bär") not in list_names(m)
    assert fetch_all(m, "INBOX") == []
    m.logout()

    run_admin(srv, "import", "maildir", "--email", "alice@example.org", "--maildir-path",
              str(tmp_path / "Maildir"), "--mailbox-prefix", "Old", "--preserve-flags=false")
    want = {f"Old/{k}": [(d, set(), t) for d, _, t in v] for k, v in by_folder(src).items()}
    check_account(srv, "alice@example.org", want)


def test_date_filters(srv, tmp_path):
    src = source_messages()
    build_maildir(tmp_path / "Maildir", src)
    recent = [t for t in src if t[3] == DATE1]
    r = run_admin(srv, "import", "maildir", "--email", "alice@example.org", "--maildir-path",
                  str(tmp_path / "Maildir"), "--start-date", "2020-05-17")
    assert f"{len(recent)} messages imported" in r.stdout.decode()
    assert f"{len(src) - len(recent)} messages outside" in r.stdout.decode()
    check_account(srv, "alice@example.org", by_folder(recent))
    r = run_admin(srv, "export", "maildir", "--email", "alice@example.org", "--maildir-path",
                  str(tmp_path / "old"), "--end-date", "2020-05-16")
    assert "0 messages written" in r.stdout.decode()
    r = run_admin(srv, "export", "maildir", "--email", "alice@example.org", "--maildir-path",
                  str(tmp_path / "day"), "--start-date", "2020-05-17", "--end-date", "2020-05-17")
    assert f"{len(recent)} messages written" in r.stdout.decode()
    r = run_admin(srv, "import", "maildir", "--email", "alice@example.org", "--maildir-path",
                  str(tmp_path / "Maildir"), "--end-date", "17.5.2020", check=False)
    assert r.returncode == 2 and b"YYYY-MM-DD" in r.stderr


def test_import_fs_layout(srv, tmp_path):
    root = tmp_path / "fs"
    for rel in ("", "Lists", "Lists/dev", mutf7("Grüße")):
        for sub in ("cur", "new", "tmp"):
            (root / rel / sub).mkdir(parents=True, exist_ok=True)
    (root / "new" / "1.a.host").write_bytes(msg(1, "inbox new"))
    # Dovecot's zlib plugin: gzip-compressed files, imported inflated
    (root / "cur" / "4.d.host:2,S").write_bytes(gzip.compress(msg(4, "gzipped")))
    (root / "Lists" / "dev" / "cur" / "2.b.host:2,S").write_bytes(msg(2, "dev"))
    (root / mutf7("Grüße") / "cur" / "3.c.host:2,F").write_bytes(msg(3, "greetings"))
    run_admin(srv, "import", "maildir", "--email", "alice@example.org",
              "--maildir-path", str(root))
    m = login(srv)
    names = list_names(m)
    assert {"Lists/dev", mutf7("Grüße")} <= names
    assert [(b, f) for b, f, _ in fetch_all(m, "Lists/dev")] == [(msg(2, "dev"), {"\\Seen"})]
    assert [b for b, _, _ in fetch_all(m, mutf7("Grüße"))] == [msg(3, "greetings")]
    assert sorted((b, tuple(f)) for b, f, _ in fetch_all(m, "INBOX")) == [
        (msg(1, "inbox new"), ()), (msg(4, "gzipped"), ("\\Seen",))]
    m.logout()


def test_export_roundtrip(srv, tmp_path):
    src = source_messages()
    build_maildir(tmp_path / "Maildir", src)
    run_admin(srv, "import", "maildir", "--email", "alice@example.org",
              "--maildir-path", str(tmp_path / "Maildir"))
    out = tmp_path / "export"
    r = run_admin(srv, "export", "maildir", "--email", "alice@example.org",
                  "--maildir-path", str(out))
    assert f"{len(src)} messages written" in r.stdout.decode(), r.stdout

    # read the export back with Python's Maildir reader
    md = mailbox.Maildir(str(out), create=False)
    folders = {"INBOX": md}
    for name in md.list_folders():
        folders[name] = md.get_folder(name)
    want = by_folder(src)
    for folder, items in want.items():
        dirname = "INBOX" if folder == "INBOX" else ".".join(mutf7(p) for p in folder.split("/"))
        box = folders[dirname]
        kwfile = Path(box._path) / "dovecot-keywords"
        letters = {}
        if kwfile.exists():
            for line in kwfile.read_text().splitlines():
                n, name = line.split(" ", 1)
                letters[chr(ord("a") + int(n))] = name
        got = []
        for key in box.keys():
            m = box.get_message(key)
            flags = {IMAP_FLAGS[c] if c in IMAP_FLAGS else letters[c] for c in m.get_flags()}
            data = Path(box._path, box._lookup(key)).read_bytes()
            mtime = int(os.stat(Path(box._path, box._lookup(key))).st_mtime)
            got.append((data, flags, mtime))
        srt = lambda t: (t[0], sorted(t[1]), t[2])  # noqa: E731
        assert sorted(got, key=srt) == sorted(items, key=srt), folder

    # exporting again writes nothing new
    r = run_admin(srv, "export", "maildir", "--email", "alice@example.org",
                  "--maildir-path", str(out))
    assert "0 messages written" in r.stdout.decode()

    # the export imported into another account gives the same messages
    run_admin(srv, "import", "maildir", "--email", "bob@example.org",
              "--maildir-path", str(out))
    check_account(srv, "bob@example.org", want)

    # one mailbox only
    one = tmp_path / "one"
    run_admin(srv, "export", "maildir", "--email", "alice@example.org",
              "--maildir-path", str(one), "--mailbox", "Bär/Kind")
    assert sorted(p.name for p in one.iterdir()) == [".B&AOQ-r.Kind"]

    # flags changed over IMAP: a re-export renames the file, no second copy
    m = login(srv)
    m.select("INBOX")
    typ, data = m.uid("SEARCH", "UNSEEN")
    uid = data[0].split()[0]
    assert m.uid("STORE", uid, "+FLAGS", "(\\Seen $Label1)")[0] == "OK"
    m.logout()
    before = sorted(p.name for p in (out / "cur").iterdir())
    r = run_admin(srv, "export", "maildir", "--email", "alice@example.org",
                  "--maildir-path", str(out))
    assert "0 messages written" in r.stdout.decode() and "1 with new flags" in r.stdout.decode()
    after = sorted(p.name for p in (out / "cur").iterdir())
    assert len(after) == len(before) and len(set(after) - set(before)) == 1
    changed = (set(after) - set(before)).pop()
    assert changed.startswith(f"{(set(before) - set(after)).pop().split(':')[0]}:2,")
    assert "S" in changed.split(":2,")[1] and "a" in changed.split(":2,")[1]


def test_broken_files_reported_rest_imported(srv, tmp_path):
    root = tmp_path / "Maildir"
    build_maildir(root, source_messages()[:3])
    (root / "cur" / "100.empty.host:2,S").write_bytes(b"")
    (root / "cur" / "101.binary.host:2,").write_bytes(bytes(range(256)) * 4)
    (root / "new" / "102.text.host").write_bytes(b"just some notes, not a mail\n")
    (root / "new" / "103.gz.host").write_bytes(gzip.compress(msg(9, "cut"))[:-12])
    r = run_admin(srv, "import", "maildir", "--email", "alice@example.org",
                  "--maildir-path", str(root), check=False)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    for name in ("100.empty.host:2,S", "101.binary.host:2,", "102.text.host",
                 "103.gz.host: truncated gzip"):
        assert name in err, err
    assert "4 of 7 messages failed" in err
    assert "3 messages imported" in r.stdout.decode()
    m = login(srv)
    assert len(fetch_all(m, "INBOX")) == 3
    m.logout()


def test_import_mbox(srv, tmp_path):
    path = tmp_path / "archive.mbox"
    box = mailbox.mbox(str(path), create=True)
    bodies = [msg(1, "one", b"Hello\nFrom the start of a line\nbye\n"),
              msg(2, "two"), msg(3, "three")]
    for i, data in enumerate(bodies):
        m = mailbox.mboxMessage(data)
        m.set_from("sender@example.net", (2019, 3, 4, 5, 6, 7 + i, 0, 1, 0))
        if i == 1:
            m.set_flags("RF")
        box.add(m)
    box.close()
    run_admin(srv, "import", "mbox", "--email", "alice@example.org", "--path", str(path),
              "--mailbox", "Archive/2019")
    m = login(srv)
    got = fetch_all(m, "Archive/2019")
    m.logout()
    # Python writes mboxo: "From " in a body is quoted, unquoted on import
    assert [b for b, _, _ in got][0] == bodies[0]
    assert got[0][2] == calendar.timegm((2019, 3, 4, 5, 6, 7))
    assert got[1][1] == {"\\Seen", "\\Flagged"}
    # mboxMessage adds Status:/X-Status: headers for flags; bodies otherwise as written
    assert got[2][0] == bodies[2]
    r = run_admin(srv, "import", "mbox", "--email", "alice@example.org", "--path", str(path),
                  "--mailbox", "Archive/2019")
    assert "0 messages imported" in r.stdout.decode()

    # mboxrd: one '>' comes off every quoted "From " line
    rd = tmp_path / "rd.mbox"
    rd.write_bytes(b"From a@example.net Sat Jan  1 00:00:00 2022\n"
                   + msg(4, "rd", b"x\n>From a\n>>From b\n")
                   + b"\nFrom a@example.net Sat Jan  1 00:00:01 2022\n" + msg(5, "rd2") + b"\n")
    run_admin(srv, "import", "mbox", "--email", "alice@example.org", "--path", str(rd),
              "--mailbox", "RD")
    m = login(srv)
    got = fetch_all(m, "RD")
    m.logout()
    assert [b for b, _, _ in got] == [msg(4, "rd", b"x\nFrom a\n>From b\n"), msg(5, "rd2")]


def test_help_and_usage_errors(srv, tmp_path):
    for args in (["import", "--help"], ["import", "maildir", "--help"],
                 ["export", "maildir", "--help"]):
        r = subprocess.run([str(SORA_ADMIN), *args], capture_output=True, text=True,
                           timeout=T(30))
        assert r.returncode == 0 and r.stdout.startswith("Usage:"), (args, r)
    r = run_admin(srv, "import", "maildir", "--email", "alice@example.org", check=False)
    assert r.returncode == 2 and b"--maildir-path" in r.stderr
    r = run_admin(srv, "import", "maildir", "--bogus", check=False)
    assert r.returncode == 2 and b"unknown flag" in r.stderr
    r = run_admin(srv, "import", "maildir", "--email", "nobody@example.org",
                  "--maildir-path", str(tmp_path), check=False)
    assert r.returncode == 1
    r = run_admin(srv, "import", "maildir", "--email", "alice@example.org",
                  "--maildir-path", str(tmp_path / "missing"), check=False)
    assert r.returncode == 1 and b"missing" in r.stderr


# ---- the same on PostgreSQL (scripts/pg.sh, as test_postgres.py) --------------

PG_CONFIG = """
    [database]
    driver = "postgres"

    [database.write]
    hosts = ["127.0.0.1"]
    port = {pg_port}
    user = "postgres"
    name = "{pg_db}"

    [storage]
    path = "{pg_blobs}"

    [servers.imap]
    addr = "127.0.0.1:{{port_imap}}"
    insecure_auth = true
"""


@pytest.fixture(scope="module")
def pg_cluster():
    import uuid
    from sora_testlib import REPO, free_port
    base = f"/tmp/sora-pg-impexp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, SORA_PG_DIR=base, SORA_PG_PORT=str(free_port()))

    def sh(*args, check=True):
        r = subprocess.run([str(REPO / "scripts" / "pg.sh"), *args], env=env,
                           capture_output=True, text=True, timeout=T(60))
        assert not check or r.returncode == 0, r.stderr
        return r

    r = sh("start", check=False)
    if r.returncode == 77:
        pytest.skip(r.stderr.strip())
    assert r.returncode == 0, r.stderr
    sh("createdb", "sora_impexp")
    yield int(env["SORA_PG_PORT"])
    sh("destroy", check=False)


def test_postgres_import_rerun_export_roundtrip(sora, pg_cluster, tmp_path):
    text = PG_CONFIG.format(pg_port=pg_cluster, pg_db="sora_impexp",
                            pg_blobs=tmp_path / "blobs")
    s = sora.new()
    s.write_config(text)
    run_admin(s, "accounts", "create", "--email", "alice@example.org", "--password", "secret")
    run_admin(s, "accounts", "create", "--email", "bob@example.org", "--password", "secret")
    s.start(text)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    test_import_maildir_then_rerun_adds_nothing(s, tmp_path / "a")
    test_export_roundtrip(s, tmp_path / "b")
