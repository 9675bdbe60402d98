"""Real IMAP clients against sora, each result checked over IMAP:

  mbsync (isync)   two-way sync over implicit TLS with the test CA: 50
                   messages (some multipart) down into a Maildir, then a
                   local flag change and a new local message pushed back
  offlineimap3     sync over TLS into a Maildir, then a local flag change
                   pushed back
  curl             imap:// LIST, FETCH by UID, UID SEARCH; imaps:// too
  neomutt          under tmux (plaintext IMAP on loopback), reading the
                   INBOX: the index must show the subjects

The clients run as they are, with configuration files written here."""

import imaplib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from sora_testlib import SORA_ADMIN, T

BASE = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"

    [[server]]
    type = "imap"
    name = "imaps"
    addr = "127.0.0.1:{port_imaps}"
    tls = true
    tls_cert_file = "{cert}"
    tls_key_file = "{key}"
"""

N = 50


def message(i):
    subj = f"Test message {i:02d}"
    if i % 5 == 0:
        return (f"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\n"
                f"Subject: {subj}\r\nDate: Mon, 02 Mar 2026 10:{i:02d}:00 +0000\r\n"
                f"Message-ID: <m{i}@example.org>\r\nMIME-Version: 1.0\r\n"
                f"Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n"
                f"--b{i}\r\nContent-Type: text/plain\r\n\r\nPart one of {i}.\r\n"
                f"--b{i}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n"
                f"--b{i}--\r\n").encode()
    return (f"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: {subj}\r\n"
            f"Date: Mon, 02 Mar 2026 10:{i:02d}:00 +0000\r\n"
            f"Message-ID: <m{i}@example.org>\r\n\r\nBody of message {i}.\r\n").encode()


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
    for i in range(1, N + 1):
        assert m.append("INBOX", None, None, message(i))[0] == "OK"
    m.logout()
    return s


def login(srv):
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login("alice@example.org", "secret")
    return m


def run(args, timeout=60, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=T(timeout), **kw)
    assert r.returncode == 0, f"{args[0]} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def maildir_files(d):
    return sorted(p for sub in ("cur", "new") for p in (Path(d) / sub).glob("*"))


def subjects_over_imap(srv, mailbox="INBOX"):
    m = login(srv)
    m.select(mailbox, readonly=True)
    typ, dat = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = {}
    for item in dat:
        if isinstance(item, tuple):
            subj = item[1].decode().strip().split(":", 1)[1].strip()
            out[subj] = item[0].decode()
    m.logout()
    return out


@pytest.mark.skipif(shutil.which("mbsync") is None, reason="isync not installed (scripts/deps.sh)")
def test_mbsync_two_way(srv, certs, tmp_path):
    mail = tmp_path / "mail"
    mail.mkdir()
    cfg = tmp_path / "mbsyncrc"
    cfg.write_text(f"""
IMAPAccount sora
Host localhost
Port {srv.port("imaps")}
User alice@example.org
Pass secret
SSLType IMAPS
CertificateFile {certs.ca}

IMAPStore sora-remote
Account sora

MaildirStore local
Path {mail}/
Inbox {mail}/INBOX
SubFolders Verbatim

Channel sora
Far :sora-remote:
Near :local:
Patterns INBOX Archive
Create Both
Expunge Both
SyncState *
""")
    run(["mbsync", "-c", str(cfg), "-a"])
    files = maildir_files(mail / "INBOX")
    assert len(files) == N
    bodies = [f.read_bytes().replace(b"\r\n", b"\n") for f in files]
    assert any(b"AAECAwQFBgcICQ==" in b for b in bodies)  # the multipart ones came whole
    assert sorted(b.split(b"Subject: ")[1].split(b"\n")[0] for b in bodies) == \
        sorted(f"Test message {i:02d}".encode() for i in range(1, N + 1))

    # local changes: flag message 07, add a new message
    f7 = next(f for f in files if b"Subject: Test message 07\n" in
              f.read_bytes().replace(b"\r\n", b"\n"))
    name = f7.name
    flags = name.split(":2,")[1] if ":2," in name else ""
    newname = (name.split(":2,")[0] if ":2," in name else name) + ":2," + \
        "".join(sorted(set(flags + "FS")))
    f7.rename(f7.parent.parent / "cur" / newname)
    (mail / "INBOX" / "new" / f"{int(time.time())}.local1.host").write_bytes(
        b"From: alice@example.org\nTo: bob@example.org\nSubject: Written offline\n\n"
        b"Made in the maildir.\n")
    run(["mbsync", "-c", str(cfg), "-a"])

    seen = subjects_over_imap(srv)
    assert len(seen) == N + 1
    assert "Written offline" in seen
    assert "\\Flagged" in seen["Test message 07"] and "\\Seen" in seen["Test message 07"]
    assert "\\Flagged" not in seen["Test message 08"]
    # a third run has nothing to do and changes nothing
    run(["mbsync", "-c", str(cfg), "-a"])
    assert len(subjects_over_imap(srv)) == N + 1
    assert len(maildir_files(mail / "INBOX")) == N + 1


@pytest.mark.skipif(shutil.which("offlineimap") is None,
                    reason="offlineimap3 not installed (scripts/deps.sh)")
def test_offlineimap(srv, certs, tmp_path):
    mail = tmp_path / "oi-mail"
    cfg = tmp_path / "offlineimaprc"
    cfg.write_text(f"""
[general]
accounts = sora
metadata = {tmp_path}/oi-meta

[Account sora]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {mail}

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {srv.port("imaps")}
remoteuser = alice@example.org
remotepass = secret
ssl = yes
sslcacertfile = {certs.ca}
folderfilter = lambda f: f in ['INBOX']
""")
    env = dict(os.environ, HOME=str(tmp_path))
    run(["offlineimap", "-c", str(cfg), "-o", "-u", "basic"], timeout=120, env=env)
    files = maildir_files(mail / "INBOX")
    assert len(files) == N
    # flag one locally (maildir F), push it back
    f = next(f for f in files if b"Subject: Test message 12" in f.read_bytes())
    base, _, flags = f.name.partition(":2,")
    f.rename(f.parent.parent / "cur" / (base + ":2," + "".join(sorted(set(flags + "F")))))
    run(["offlineimap", "-c", str(cfg), "-o", "-u", "basic"], timeout=120, env=env)
    seen = subjects_over_imap(srv)
    assert len(seen) == N
    assert "\\Flagged" in seen["Test message 12"]
    assert "\\Flagged" not in seen["Test message 13"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl(srv, certs):
    base = f"imap://127.0.0.1:{srv.port('imap')}"
    user = ["--user", "alice@example.org:secret", "-s", "--max-time", str(int(T(20)))]
    r = run(["curl", *user, base + "/"])
    names = [ln.rsplit(" ", 1)[-1].strip('"') for ln in r.stdout.splitlines()
             if ln.startswith("* LIST")]
    assert "INBOX" in names and "Sent" in names and "Trash" in names, r.stdout
    r = run(["curl", *user, base + "/INBOX", "-X", "UID SEARCH SUBJECT \"message 1\""])
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("* SEARCH"))
    uids = [int(x) for x in line.split()[2:]]
    assert uids == list(range(10, 20)), line  # "Test message 10" .. 19
    r = subprocess.run(["curl", *user, base + f"/INBOX;UID={uids[0]}"], capture_output=True,
                       timeout=T(30))
    assert r.returncode == 0
    assert r.stdout == message(10)
    # a multipart message, byte-exact, over implicit TLS with the test CA
    r = subprocess.run(["curl", *user, "--cacert", str(certs.ca),
                        f"imaps://localhost:{srv.port('imaps')}/INBOX;UID=5"],
                       capture_output=True, timeout=T(30))
    assert r.returncode == 0, r.stderr
    assert r.stdout == message(5)


def tmux(sock, *args, check=True):
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True,
                          timeout=T(20), check=check)


@pytest.mark.skipif(shutil.which("neomutt") is None or shutil.which("tmux") is None,
                    reason="neomutt/tmux not installed (scripts/deps.sh)")
def test_neomutt_reads_inbox(srv, tmp_path):
    rc = tmp_path / "muttrc"
    rc.write_text(f"""
set folder = "imap://127.0.0.1:{srv.port('imap')}/"
set spoolfile = "+INBOX"
set imap_user = "alice@example.org"
set imap_pass = "secret"
set ssl_starttls = no
set ssl_force_tls = no
set record = ""
set postponed = ""
set mail_check = 60
set imap_check_subscribed = no
set sort = date
set index_format = "%4C %s"
set header_cache = ""
set message_cachedir = ""
""")
    sock = f"sora-test-{os.getpid()}"
    env_cmd = f"HOME={tmp_path} TERM=xterm neomutt -n -F {rc}"
    tmux(sock, "new-session", "-d", "-s", "mutt", "-x", "160", "-y", "60", env_cmd)
    try:
        deadline = time.time() + T(30)
        screen = ""
        while time.time() < deadline:
            screen = tmux(sock, "capture-pane", "-p", "-t", "mutt", check=False).stdout
            if "Test message 50" in screen and "Test message 01" in screen:
                break
            time.sleep(0.3)
        assert "Test message 01" in screen and "Test message 50" in screen, screen
        # open the first message: its body is shown (and it becomes \Seen)
        # "1 Enter" jumps to message 1, Enter displays it
        tmux(sock, "send-keys", "-t", "mutt", "1", "Enter")
        time.sleep(0.3)
        tmux(sock, "send-keys", "-t", "mutt", "Enter")
        deadline = time.time() + T(20)
        while time.time() < deadline:
            screen = tmux(sock, "capture-pane", "-p", "-t", "mutt", check=False).stdout
            if "Body of message 1." in screen:
                break
            time.sleep(0.3)
        assert "Body of message 1." in screen, screen
        tmux(sock, "send-keys", "-t", "mutt", "q", "")
        tmux(sock, "send-keys", "-t", "mutt", "q", "")
        deadline = time.time() + T(10)
        while time.time() < deadline and \
                tmux(sock, "has-session", "-t", "mutt", check=False).returncode == 0:
            time.sleep(0.2)
    finally:
        tmux(sock, "kill-server", check=False)
    seen = subjects_over_imap(srv)
    assert "\\Seen" in seen["Test message 01"]
    assert "\\Seen" not in seen["Test message 02"]
