"""The S3 deployment's operational side against a real S3 server (s3rver,
the SigV4-checking fork): deliveries staged locally while S3 is down and
uploaded once it is back (byte-identical, encrypted at rest), the staging
cap answered with a temporary LMTP error, the local cache, cleanup
deleting objects from the bucket, and encryption key rotation with
sora-admin blobs reencrypt."""

import hashlib
import hmac
import imaplib
import os
import re
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sora_testlib import S3RVER_SH, SORA_ADMIN, SORA_BIN, S3Server, T  # noqa: E402

BLOBCLI = SORA_BIN.parent / "src" / "store" / "blobcli"
AWS = Path("/usr/bin/aws")
KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
KEY2 = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
USER = "alice@example.org"
SECRET = b"staged plaintext that must never reach the bucket"

CONFIG = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    driver = "s3"

    [s3]
    endpoint = "%(endpoint)s"
    disable_tls = true
    access_key = "S3RVER"
    secret_key = "S3RVER"
    bucket = "mail"
    encrypt = %(encrypt)s
    encryption_key = "%(key)s"
    previous_encryption_keys = [%(previous)s]
    timeout = "5s"

    [uploader]
    path = "{dir}/data/uploads"
    retry_interval = "1s"
    max_attempts = 1000
    concurrency = 4
    batch_size = 3
    max_staging_size = "%(max_staging)s"

    [local_cache]
    path = "{dir}/data/cache"
    capacity = "%(cache)s"

    [servers.lmtp]
    addr = "127.0.0.1:{port_lmtp}"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
    max_connections_per_ip = 50
"""


def config(s3, key=KEY, previous=(), max_staging="1gb", cache="64mb", encrypt=True):
    return CONFIG % dict(endpoint=s3.endpoint, key=key, max_staging=max_staging, cache=cache,
                         previous=", ".join(f'"{k}"' for k in previous),
                         encrypt="true" if encrypt else "false")


@pytest.fixture
def s3(tmp_path):
    r = subprocess.run([str(S3RVER_SH), "install"], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(f"cannot install the S3 test servers:\n{r.stderr[-3000:]}")
    srv = S3Server("fork", tmp_path / "s3").start()
    yield srv
    srv.stop()


def admin(srv, *args, check=None):
    r = subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), *args],
                       capture_output=True, text=True, timeout=T(120))
    if check is not None:
        assert r.returncode == check, f"{args}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def aws(s3, *args, check=True):
    if not AWS.exists():
        pytest.skip("/usr/bin/aws not installed")
    e = dict(os.environ)
    e.pop("AWS_CA_BUNDLE", None)
    e.update(AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER",
             AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
             AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
    r = subprocess.run([str(AWS), "--endpoint-url", f"http://{s3.endpoint}", *args], env=e,
                       capture_output=True, timeout=T(60))
    if check and r.returncode != 0:
        pytest.fail(f"aws {' '.join(args)} → {r.returncode}: {r.stderr.decode()}")
    return r


def bucket_keys(s3, prefix="example.org/alice/"):
    r = aws(s3, "s3", "ls", "--recursive", f"s3://mail/{prefix}", check=False)
    if r.returncode == 1 and not r.stdout and not r.stderr:
        return []  # aws s3 ls: exit 1 for an empty listing
    assert r.returncode == 0, r.stderr
    return sorted(line.split()[-1] for line in r.stdout.decode().splitlines() if line.strip())


def raw_object(s3, key):
    return aws(s3, "s3", "cp", f"s3://mail/{key}", "-").stdout


def blobcli_get(s3, key, enc_key, previous=()):
    """Reads and decrypts key with only these keys: (exit code, bytes, stderr)."""
    e = dict(os.environ, BLOBCLI_SECRET="S3RVER", BLOBCLI_KEY=enc_key)
    e.pop("BLOBCLI_PREVIOUS_KEYS", None)
    if previous:
        e["BLOBCLI_PREVIOUS_KEYS"] = ",".join(previous)
    r = subprocess.run([str(BLOBCLI), "--s3", s3.endpoint, "get", key, "-"], env=e,
                       capture_output=True, timeout=T(60))
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def key_id(enc_key):
    """blob_crypt_key_id(): HMAC-SHA-256(key, "sora blob key id"), 8 hex digits."""
    return hmac.new(bytes.fromhex(enc_key), b"sora blob key id", hashlib.sha256).hexdigest()[:8]


def new_server(sora, text):
    if not BLOBCLI.exists():
        pytest.fail(f"{BLOBCLI} not built")
    srv = sora.new()
    srv.write_config(text)
    admin(srv, "accounts", "create", "--email", USER, "--password", "pw", "--hash", "ssha512",
          check=0)
    return srv


def message(n, size=400):
    body = (f"body {n} ".encode() * (size // 7 + 1))[:size]
    return (f"From: s@example.net\r\nTo: {USER}\r\nSubject: staged {n}\r\nX-Seq: {n}\r\n\r\n"
            ).encode() + SECRET + b"\r\n" + body + b"\r\n"


def deliver(srv, msgs):
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(30)) as c:
        for m in msgs:
            assert c.sendmail("s@example.net", [USER], m) == {}


def imap_fetch(srv, mailbox="INBOX"):
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"), timeout=T(30))
    m.login(USER, "pw")
    assert m.select(mailbox)[0] == "OK"
    typ, data = m.uid("SEARCH", "ALL")
    assert typ == "OK", data
    uids = [int(u) for u in data[0].split()]
    out = {}
    # in slices: the server answers [LIMIT] past 48 MB in one response
    for i in range(0, len(uids), 50):
        chunk = uids[i:i + 50]
        typ, data = m.uid("FETCH", f"{chunk[0]}:{chunk[-1]}", "(BODY.PEEK[])")
        assert typ == "OK", data
        for item in data:
            if isinstance(item, tuple):
                out[int(re.search(rb"UID (\d+)", item[0]).group(1))] = item[1]
    m.logout()
    return out


def staged(srv):
    r = admin(srv, "uploader", "status", check=0)
    return int(re.search(r"^staged\s+(\d+)$", r.stdout, re.M).group(1)), r.stdout


def wait_drained(srv, timeout=60):
    deadline = time.monotonic() + T(timeout)
    while True:
        n, out = staged(srv)
        if n == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"staging never drained:\n{out}\n{srv.log()[-3000:]}")
        time.sleep(0.5)


def test_deliveries_staged_while_s3_is_down(sora, s3):
    srv = new_server(sora, config(s3))
    text = config(s3)
    srv.start(text)
    s3.stop()  # S3 goes away after the start-up key check
    msgs = [message(n) for n in range(1, 7)]
    deliver(srv, msgs)  # every one answered 250
    n, out = staged(srv)
    assert n == 6, out
    assert re.search(r"^oldest\s+\d{4}-", out, re.M), out
    # served from staging, byte-exact after our prepended headers
    stored = imap_fetch(srv)
    assert len(stored) == 6
    for uid, data in stored.items():
        assert data.endswith(msgs[uid - 1])
    # the uploader keeps trying and says so
    srv.wait_log(r"event=upload\.retry", timeout=30)

    s3.start(port=s3.port)  # same port, same data directory
    wait_drained(srv)
    keys = bucket_keys(s3)
    assert len(keys) == 6, keys
    by_hash = {k.rsplit("/", 1)[1]: k for k in keys}
    for data in stored.values():
        h = hashlib.sha256(data).hexdigest()
        assert h in by_hash, (h, keys)
        rc, plain, err = blobcli_get(s3, by_hash[h], KEY)
        assert rc == 0, err
        assert plain == data  # byte-identical to what IMAP served
        raw = raw_object(s3, by_hash[h])
        assert SECRET not in raw and b"Subject:" not in raw
        assert len(raw) == len(data) + 28
    # staging files are gone; reads now come from S3 (then the cache)
    assert not any(p.is_file() for p in (srv.dir / "data" / "uploads").rglob("*"))
    assert imap_fetch(srv) == stored
    assert imap_fetch(srv) == stored
    srv.stop()
    r = admin(srv, "cache", "stats", check=0)
    assert re.search(r"^entries\s+6$", r.stdout, re.M), r.stdout
    assert re.search(r"^hits\s+(\d+)$", r.stdout, re.M).group(1) != "0", r.stdout
    assert int(re.search(r"^misses\s+(\d+)$", r.stdout, re.M).group(1)) >= 6, r.stdout


def test_staged_survive_restart(sora, s3):
    """Staged bodies of a server stopped while S3 was down are uploaded by
    the next run, which starts and accepts mail while S3 is still down
    (the key check waits for S3; nothing is uploaded before it passed)."""
    text = config(s3)
    srv = new_server(sora, text)
    srv.start(text)
    s3.stop()
    msgs = [message(n) for n in range(1, 5)]
    deliver(srv, msgs[:3])
    srv.stop()
    assert staged(srv)[0] == 3
    srv.proc = None
    srv.start(text)
    srv.wait_log(r"event=storage\.key_check_deferred")
    srv.wait_log(r"event=uploader\.start staged=3")
    deliver(srv, msgs[3:])
    assert staged(srv)[0] == 4
    s3.start(port=s3.port)
    wait_drained(srv)
    assert len(bucket_keys(s3)) == 4
    stored = imap_fetch(srv)
    assert [d[-len(m):] for d, m in zip(stored.values(), msgs)] == msgs


def test_deferred_key_check_refuses_wrong_key(sora, s3):
    """Started with another key while S3 was down: mail is staged, and once
    S3 answers the key check fails, nothing is uploaded, bodies stay
    staged and readable."""
    text = config(s3)
    srv = new_server(sora, text)
    srv.start(text)  # writes the key check object with KEY
    srv.stop()
    s3.stop()
    wrong = config(s3, key=KEY2)
    srv.proc = None
    srv.start(wrong)
    srv.wait_log(r"event=storage\.key_check_deferred")
    deliver(srv, [message(1)])
    s3.start(port=s3.port)
    srv.wait_log(r"event=upload\.key_mismatch", timeout=30)
    time.sleep(T(2))
    assert staged(srv)[0] == 1
    assert bucket_keys(s3) == []
    assert list(imap_fetch(srv).values())[0].endswith(message(1))
    assert KEY not in srv.log() and KEY2 not in srv.log()


def test_staging_full_is_temporary(sora, s3):
    text = config(s3, max_staging="3kb")
    srv = new_server(sora, text)
    srv.start(text)
    s3.stop()
    accepted, refused = 0, None
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(30)) as c:
        for n in range(1, 20):
            try:
                c.sendmail("s@example.net", [USER], message(n, 800))
                accepted += 1
            except smtplib.SMTPDataError as e:
                refused = e
                break
    assert 1 <= accepted <= 3, accepted
    assert refused is not None and refused.smtp_code == 451, refused
    assert srv.wait_log(r"staging area full")
    # S3 back: the queue drains and deliveries are accepted again
    s3.start(port=s3.port)
    wait_drained(srv)
    deliver(srv, [message(99, 800)])


def test_cleanup_deletes_from_bucket(sora, s3):
    # unencrypted: sora-admin then opens the store without the key check
    # that would need S3, so it can be run while S3 is down below
    text = config(s3, encrypt=False)
    srv = new_server(sora, text)
    srv.start(text)
    deliver(srv, [message(1), message(2)])
    wait_drained(srv)
    assert len(bucket_keys(s3)) == 2
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"), timeout=T(30))
    m.login(USER, "pw")
    m.select("INBOX")
    assert m.uid("COPY", "1", "Archive")[0] == "OK"
    assert m.uid("STORE", "1:2", "+FLAGS.SILENT", r"(\Deleted)")[0] == "OK"
    assert m.expunge()[0] == "OK"
    m.logout()
    r = admin(srv, "cleanup", "run", "--grace-period", "0", check=0)
    assert "blobs_deleted=1 blob_errors=0" in r.stdout, r.stdout
    keys = bucket_keys(s3)
    assert len(keys) == 1  # the body the Archive copy refers to stays
    assert list(imap_fetch(srv, "Archive").values())[0].endswith(message(1))
    # S3 down: the delete fails, the row stays and the next run retries
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"), timeout=T(30))
    m.login(USER, "pw")
    m.select("Archive")
    assert m.uid("STORE", "1:*", "+FLAGS.SILENT", r"(\Deleted)")[0] == "OK"
    assert m.expunge()[0] == "OK"
    m.logout()
    srv.stop()
    s3.stop()
    r = admin(srv, "cleanup", "run", "--grace-period", "0")
    assert r.returncode == 1 and "could not be deleted" in r.stderr, r.stdout + r.stderr
    s3.start(port=s3.port)
    r = admin(srv, "cleanup", "run", "--grace-period", "0", check=0)
    assert "blobs_deleted=1 blob_errors=0 rows=1" in r.stdout, r.stdout
    assert bucket_keys(s3) == []


def test_key_rotation_and_reencrypt(sora, s3):
    # cache off: every read below must decrypt what is in the bucket
    text1 = config(s3, cache="0")
    srv = new_server(sora, text1)
    srv.start(text1)
    msgs = [message(n) for n in range(1, 5)]
    deliver(srv, msgs)
    wait_drained(srv)
    before = imap_fetch(srv)
    srv.stop()
    keys = bucket_keys(s3)
    assert len(keys) == 4
    for k in keys:
        rc, _, err = blobcli_get(s3, k, KEY)
        assert rc == 0 and f"key_id={key_id(KEY)}" in err, err

    # rotate: KEY2 current, KEY previous; old bodies stay readable
    text2 = config(s3, key=KEY2, previous=[KEY], cache="0")
    srv.write_config(text2)
    srv.proc = None
    srv.start(text2)
    assert imap_fetch(srv) == before
    deliver(srv, [message(5)])  # written under KEY2 from the start
    wait_drained(srv)
    srv.stop()

    r = admin(srv, "blobs", "reencrypt", check=0)
    assert re.search(r"^done\s+seen=5 rewritten=4 current=1 staged=0 missing=0 failed=0$",
                     r.stdout, re.M), r.stdout
    # idempotent: nothing left to do, from the metadata alone
    r = admin(srv, "blobs", "reencrypt", check=0)
    assert re.search(r"^done\s+seen=5 rewritten=0 current=5 ", r.stdout, re.M), r.stdout
    keys = bucket_keys(s3)
    assert len(keys) == 5
    for k in keys:
        rc, plain, err = blobcli_get(s3, k, KEY2)  # the new key alone reads everything
        assert rc == 0 and f"key_id={key_id(KEY2)}" in err, err
        assert SECRET in plain
        rc, _, err = blobcli_get(s3, k, KEY)       # the old key alone reads nothing
        assert rc == 14, err
        raw = raw_object(s3, k)
        assert SECRET not in raw and b"Subject:" not in raw

    # the previous key can go now
    text3 = config(s3, key=KEY2, cache="0")
    srv.write_config(text3)
    srv.proc = None
    srv.start(text3)
    after = imap_fetch(srv)
    assert {u: after[u] for u in before} == before
    srv.stop()
    # going back to the old key alone is refused with a clear message
    srv.write_config(config(s3, key=KEY, cache="0"))
    r = subprocess.run([str(SORA_BIN), "--config", str(srv.config_path)], capture_output=True,
                       text=True, cwd=srv.dir, timeout=T(30))
    assert r.returncode != 0
    assert "s3.encryption_key" in r.stderr and "not the key this store was written with" in \
        r.stderr, r.stderr
    assert KEY not in r.stderr and KEY2 not in r.stderr


def test_kill9_with_staging(sora, s3):
    """kill -9 during a stream of deliveries to the S3 deployment, ten times:
    every acknowledged message is readable after the restarts, complete, and
    ends up in the bucket (staged files of a killed run are uploaded by the
    next one)."""
    import random
    import threading
    text = config(s3)
    srv = new_server(sora, text)
    srv.start(text)
    sent, acked, seq = {}, set(), 0
    rng = random.Random(7)
    for _ in range(10):
        stop = threading.Event()

        def stream():
            nonlocal seq
            try:
                with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(10)) as c:
                    while not stop.is_set():
                        seq += 1
                        n = seq
                        sent[n] = message(n, rng.choice((300, 20000, 120000)))
                        if c.sendmail("s@example.net", [USER], sent[n]) == {}:
                            acked.add(n)
            except (OSError, smtplib.SMTPException):
                pass

        t = threading.Thread(target=stream)
        t.start()
        time.sleep(T(rng.uniform(0.3, 1.0)))
        srv.kill()
        stop.set()
        t.join(T(30))
        assert not t.is_alive()
        srv.proc = None
        srv.start(text)
    assert len(acked) >= 10, len(acked)
    wait_drained(srv)
    stored = imap_fetch(srv)
    seen = {}
    for data in stored.values():
        n = int(re.search(rb"\r\nX-Seq: (\d+)\r\n", data).group(1))
        assert n not in seen
        seen[n] = data
        assert data.endswith(sent[n])  # never partial
    assert not sorted(acked - set(seen)), "acknowledged but lost"
    keys = {k.rsplit("/", 1)[1] for k in bucket_keys(s3)}
    assert {hashlib.sha256(d).hexdigest() for d in stored.values()} <= keys
    # a kill between the staged write and the commit leaves at most the one
    # body in flight on the connection, unreferenced (never a message
    # without its body)
    assert len(keys) - len(stored) <= 10
