"""The S3 blob driver (src/store/blob-s3.c, blob-crypt.c) against real servers.

Two S3 servers run for this module, both on 127.0.0.1 with S3RVER/S3RVER and
bucket "mail" (scripts/s3rver.sh installs them once with npm):
  v3    s3rver@3.7.1: checks the access key, not the signature
  fork  @20minutes/s3rver@5.0.0: verifies SigV4, so a wrong secret fails

The blob layer is driven through blobcli (tests/integration/s3/blobcli.c),
which meson builds next to the store library as <build>/src/store/blobcli;
<build> is SORA_BIN's directory. /usr/bin/aws is the second client: it
reads what we wrote and writes what we read.

Every server started here is stopped at the end, also when a test fails.
"""

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sora_testlib import (REPO, S3RVER_SH, SANITIZER_RE, SORA_BIN, S3Server, T,  # noqa: E402
                          free_port)

BLOBCLI = SORA_BIN.parent / "src" / "store" / "blobcli"
AWS = Path("/usr/bin/aws")
KEY_A = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
KEY_B = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f"

# blobcli's exit codes: 10 + enum blob_err
NOT_FOUND, TEMPORARY, PERMANENT, CORRUPT = 11, 12, 13, 14


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if not BLOBCLI.exists():
        pytest.fail(f"{BLOBCLI} not built (ninja -C {SORA_BIN.parent} src/store/blobcli)")
    r = subprocess.run([str(S3RVER_SH), "install"], capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        pytest.fail(f"cannot install the S3 test servers:\n{r.stderr[-3000:]}")
    base = tmp_path_factory.mktemp("s3")
    started = {}
    try:
        for kind in ("v3", "fork"):
            started[kind] = S3Server(kind, base / kind).start()
        yield started
    finally:
        for srv in started.values():
            srv.stop()


@pytest.fixture(params=["v3", "fork"])
def srv(request, servers):
    return servers[request.param]


def blobcli(srv, *args, env=None, opts=(), check=True, stdin=None, timeout=60):
    """Runs blobcli against srv (an S3Server or ("fs", dir)); returns the result."""
    e = dict(os.environ)
    for k in ("BLOBCLI_SECRET", "BLOBCLI_KEY", "BLOBCLI_PREVIOUS_KEYS"):
        e.pop(k, None)
    e.update(env or {})
    where = ["--fs", str(srv[1])] if isinstance(srv, tuple) else ["--s3", srv.endpoint]
    r = subprocess.run([str(BLOBCLI), *where, *map(str, opts), *map(str, args)], env=e,
                       capture_output=True, timeout=T(timeout), input=stdin)
    stderr = r.stderr.decode(errors="replace")
    if SANITIZER_RE.search(stderr):
        pytest.fail(f"blobcli {' '.join(map(str, args))}: sanitizer report:\n{stderr}")
    if check and r.returncode != 0:
        pytest.fail(f"blobcli {' '.join(map(str, args))} → {r.returncode}: {stderr}")
    return r


def aws(srv, *args, check=True, input=None, tmp=None):
    """The aws CLI v2 (Debian's), path-style against srv, no user config."""
    if not AWS.exists():
        pytest.skip("/usr/bin/aws not installed")
    e = dict(os.environ)
    e.pop("AWS_CA_BUNDLE", None)
    e.update(AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER",
             AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
             AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
             AWS_PAGER="")
    r = subprocess.run([str(AWS), "--endpoint-url", f"http://{srv.endpoint}", *args], env=e,
                       capture_output=True, timeout=T(60), input=input)
    if check and r.returncode != 0:
        pytest.fail(f"aws {' '.join(args)} → {r.returncode}: {r.stderr.decode()}")
    return r


def unique(prefix):
    return f"{prefix}-{random.randrange(1 << 30):08x}"


# --------------------------------------------------------------------------

def test_roundtrip(srv, tmp_path):
    body = b"From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
    src = tmp_path / "m.eml"
    src.write_bytes(body)
    key = blobcli(srv, "key", "Alice@Example.ORG", "AB" * 32).stdout.decode().strip()
    assert key == "example.org/Alice/" + "ab" * 32
    key = key.replace("example.org", unique("rt") + ".example.org")

    assert blobcli(srv, "exists", key).stdout == b"no\n"
    assert blobcli(srv, "get", key, "-", check=False).returncode == NOT_FOUND
    assert blobcli(srv, "head", key, check=False).returncode == NOT_FOUND
    blobcli(srv, "put", key, src)
    assert blobcli(srv, "exists", key).stdout == b"yes\n"
    assert blobcli(srv, "head", key).stdout == f"{len(body)} {len(body)}\n".encode()
    assert blobcli(srv, "get", key, "-").stdout == body
    assert blobcli(srv, "get-stream", key, "-").stdout == body
    blobcli(srv, "get-fd", key, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == body
    # a put from memory replaces; an empty object is an object
    (tmp_path / "e").write_bytes(b"")
    blobcli(srv, "put-mem", key, tmp_path / "e")
    assert blobcli(srv, "head", key).stdout == b"0 0\n"
    assert blobcli(srv, "get", key, "-").stdout == b""
    blobcli(srv, "delete", key)
    assert blobcli(srv, "get", key, "-", check=False).returncode == NOT_FOUND
    blobcli(srv, "delete", key)  # deleting nothing succeeds


def test_copy(srv, tmp_path):
    # no '+' here: both s3rvers decode x-amz-copy-source with JavaScript's
    # decodeURI, which leaves %2B (and other reserved escapes) encoded, so
    # they cannot find such a source. AWS decodes it fully, as we encode it.
    (tmp_path / "b").write_bytes(b"copied body")
    a, b = unique("cp") + "/src/x", unique("cp") + "/dst é x/y"
    blobcli(srv, "put", a, tmp_path / "b")
    blobcli(srv, "copy", a, b)
    blobcli(srv, "delete", a)
    assert blobcli(srv, "get", b, "-").stdout == b"copied body"
    r = blobcli(srv, "copy", a, b + "2", check=False)
    assert r.returncode == NOT_FOUND, r.stderr


def test_list_pagination(srv, tmp_path):
    """More objects than max-keys: every key once, in order, nothing else."""
    (tmp_path / "b").write_bytes(b"x" * 10)
    base = unique("pg")
    keys = sorted(f"{base}/u{i % 3}/{i:04d}" for i in range(23))
    for k in keys:
        blobcli(srv, "put", k, tmp_path / "b")
    blobcli(srv, "put", base + "-other/x", tmp_path / "b")  # shares the string prefix
    for page in (1, 5, 7, 1000):
        out = blobcli(srv, "list", base + "/", opts=["--page-size", page]).stdout.decode()
        assert out.splitlines() == [f"{k}\t10" for k in keys], page
    out = blobcli(srv, "list", base + "/u1/", opts=["--page-size", 2]).stdout.decode()
    assert [line.split("\t")[0] for line in out.splitlines()] == \
        [k for k in keys if "/u1/" in k]
    # a string prefix, not a directory: "-other" too. In one page only: s3rver
    # returns directory-walk order ("x/…" before "x-…") but pages by byte
    # order, so across that boundary its pages skip keys (a server quirk)
    out = blobcli(srv, "list", base).stdout.decode()
    assert sorted(line.split("\t")[0] for line in out.splitlines()) == \
        sorted(keys + [base + "-other/x"])
    assert blobcli(srv, "list", unique("none") + "/").stdout == b""


SPECIAL_KEYS = [
    "d/a b/c d",              # spaces
    "d/x+y/a+b",              # '+': %2B, never a space
    "d/\u00e9t\u00e9/\u6f22\u5b57\U0001F600",  # unicode
    "d/t~i~l/~",              # '~' is unreserved: not encoded (curl signs verbatim)
    "d/b=b!c(d)'*/&;,$@:",    # sub-delims and friends
    "d/100%/50%25",           # '%' itself
]


@pytest.mark.parametrize("suffix", SPECIAL_KEYS)
def test_special_keys(srv, tmp_path, suffix):
    base = unique("sp")
    key = f"{base}/{suffix}"
    body = ("body of " + suffix).encode()
    (tmp_path / "b").write_bytes(body)
    blobcli(srv, "put", key, tmp_path / "b")
    assert blobcli(srv, "get", key, "-").stdout == body
    assert blobcli(srv, "head", key).stdout == f"{len(body)} {len(body)}\n".encode()
    out = blobcli(srv, "list", base + "/", opts=["--page-size", 1]).stdout.decode()
    if srv.kind == "fork" and any(c in key for c in "&'\"<>"):
        # @20minutes/s3rver escapes keys twice in list results ("&amp;amp;")
        assert out.startswith(base + "/") and out.endswith(f"\t{len(body)}\n")
    else:
        assert out == f"{key}\t{len(body)}\n"
    # the key as another client sees it
    r = aws(srv, "s3api", "head-object", "--bucket", "mail", "--key", key)
    assert f'"ContentLength": {len(body)}' in r.stdout.decode()
    blobcli(srv, "delete", key)
    assert blobcli(srv, "exists", key).stdout == b"no\n"


def test_big_object(srv, tmp_path):
    """10 MB streamed in and out, byte-identical, through every read path."""
    data = random.randbytes(10 * 1024 * 1024)
    (tmp_path / "big").write_bytes(data)
    key = unique("big") + "/x"
    blobcli(srv, "put", key, tmp_path / "big")
    assert blobcli(srv, "head", key).stdout == f"{len(data)} {len(data)}\n".encode()
    blobcli(srv, "get-fd", key, tmp_path / "o1")
    blobcli(srv, "get-stream", key, tmp_path / "o2")
    blobcli(srv, "get", key, tmp_path / "o3")
    for o in ("o1", "o2", "o3"):
        assert (tmp_path / o).read_bytes() == data, o
    # the other client agrees
    assert aws(srv, "s3", "cp", f"s3://mail/{key}", "-").stdout == data
    blobcli(srv, "delete", key)


def test_wrong_secret_fork(servers, tmp_path):
    """The verifying server refuses a bad signature: PERMANENT, no retries,
    and the secret appears nowhere in what we print."""
    fork = servers["fork"]
    (tmp_path / "b").write_bytes(b"x")
    secret = "Wrong-Secret-0123456789"
    env = {"BLOBCLI_SECRET": secret}
    for args in (("put", "ws/k", tmp_path / "b"), ("get", "ws/k", "-"), ("head", "ws/k"),
                 ("list", "ws/"), ("delete", "ws/k")):
        t0 = time.monotonic()
        r = blobcli(fork, *args, env=env, check=False, opts=["--retry-ms", 500])
        assert r.returncode == PERMANENT, (args, r.stderr)
        assert time.monotonic() - t0 < T(2)  # no backoff: permanent errors are not retried
        err = r.stderr.decode()
        if args[0] != "head":
            assert "SignatureDoesNotMatch" in err, err
        assert secret not in err and "S3RVER" not in err
    # s3rver 3.7.1 does not check signatures (a known quirk): the same works there
    v3 = servers["v3"]
    blobcli(v3, "put", "ws/k", tmp_path / "b", env=env)
    blobcli(v3, "delete", "ws/k", env=env)


def test_wrong_access_key(srv, tmp_path):
    r = blobcli(srv, "get", "x/y", "-", opts=["--access-key", "NOBODY"], check=False)
    assert r.returncode == PERMANENT, r.stderr
    assert b"InvalidAccessKeyId" in r.stderr
    assert b"NOBODY" not in r.stderr


def test_server_down(servers, tmp_path_factory, tmp_path):
    """A server that goes away: TEMPORARY after the configured attempts, with
    backoff in between; back again, everything is there."""
    srv = S3Server("v3", tmp_path_factory.mktemp("down") / "v3").start()
    try:
        (tmp_path / "b").write_bytes(b"durable")
        blobcli(srv, "put", "dn/k", tmp_path / "b")
        port = srv.port
        srv.stop()
        for args in (("get", "dn/k", "-"), ("put", "dn/k2", tmp_path / "b"),
                     ("head", "dn/k"), ("list", ""), ("delete", "dn/k")):
            t0 = time.monotonic()
            r = blobcli(srv, *args, check=False, opts=["--attempts", 3, "--retry-ms", 100])
            elapsed = time.monotonic() - t0
            assert r.returncode == TEMPORARY, (args, r.stderr)
            assert b"after 3 attempts" in r.stderr, r.stderr
            assert elapsed >= 0.15, elapsed  # backoff 50..100 ms, then 100..200 ms
        srv.start(port)
        assert blobcli(srv, "get", "dn/k", "-").stdout == b"durable"
    finally:
        srv.stop()


def test_encrypted_raw_with_aws(srv, tmp_path):
    """Encrypted objects, read raw by the aws CLI: 28 bytes longer, no
    plaintext; written back raw by aws, they still decrypt."""
    marker = b"PLAINTEXT-MARKER-" + os.urandom(8).hex().encode()
    body = b"Subject: secret\r\n\r\n" + marker * 200 + b"\r\n"
    (tmp_path / "m").write_bytes(body)
    key = unique("enc") + "/alice/" + "cd" * 32
    env = {"BLOBCLI_KEY": KEY_A}
    blobcli(srv, "put", key, tmp_path / "m", env=env)
    raw = aws(srv, "s3", "cp", f"s3://mail/{key}", "-").stdout
    assert len(raw) == len(body) + 28
    assert marker not in raw and b"Subject" not in raw
    assert blobcli(srv, "head", key, env=env).stdout == \
        f"{len(body)} {len(body) + 28}\n".encode()
    r = blobcli(srv, "get", key, "-", env=env)
    assert r.stdout == body
    key_id = blobcli(srv, "key-id", env=env).stdout.decode().strip()
    assert f"key_id={key_id} previous=0".encode() in r.stderr
    # the raw bytes copied by another client decrypt: the layout is all there is
    (tmp_path / "raw").write_bytes(raw)
    aws(srv, "s3", "cp", str(tmp_path / "raw"), f"s3://mail/{key}.copy")
    assert blobcli(srv, "get-stream", key + ".copy", "-", env=env).stdout == body
    # a flipped byte, or the wrong key: CORRUPT and no output
    bad = bytearray(raw)
    bad[len(bad) // 2] ^= 0x40
    (tmp_path / "bad").write_bytes(bytes(bad))
    aws(srv, "s3", "cp", str(tmp_path / "bad"), f"s3://mail/{key}.bad")
    r = blobcli(srv, "get-stream", key + ".bad", "-", env=env, check=False)
    assert r.returncode == CORRUPT and r.stdout == b""
    r = blobcli(srv, "get", key, "-", env={"BLOBCLI_KEY": KEY_B}, check=False)
    assert r.returncode == CORRUPT and r.stdout == b""
    assert KEY_A not in r.stderr.decode() and KEY_B not in r.stderr.decode()
    # after a rotation the old key reads it, and says so
    r = blobcli(srv, "get", key, "-", env={"BLOBCLI_KEY": KEY_B,
                                           "BLOBCLI_PREVIOUS_KEYS": KEY_A})
    assert r.stdout == body and f"key_id={key_id} previous=1".encode() in r.stderr


def test_key_check_object(tmp_path_factory):
    """verify-key on a fresh bucket of its own: CREATED, MATCH, MISMATCH with
    another key, ROTATED when the old key is a previous one."""
    srv = S3Server("fork", tmp_path_factory.mktemp("kc") / "fork").start()
    try:
        a, b = {"BLOBCLI_KEY": KEY_A}, {"BLOBCLI_KEY": KEY_B}
        assert blobcli(srv, "verify-key", env=a).stdout == b"CREATED\n"
        assert blobcli(srv, "verify-key", env=a).stdout == b"MATCH\n"
        r = blobcli(srv, "verify-key", env=b)
        assert r.stdout == b"MISMATCH\n"
        assert b"encryption_key" in r.stderr and KEY_B.encode() not in r.stderr
        assert blobcli(srv, "verify-key", env=dict(b, BLOBCLI_PREVIOUS_KEYS=KEY_A)).stdout \
            == b"ROTATED\n"
        assert blobcli(srv, "verify-key", env=b).stdout == b"MATCH\n"
        assert blobcli(srv, "verify-key", env=a).stdout == b"MISMATCH\n"
        # listed raw, hidden by the crypt layer
        assert b".sora-key-check" in blobcli(srv, "list").stdout
        assert b".sora-key-check" not in blobcli(srv, "list", env=b).stdout
        # not an encrypted store: no key check
        assert blobcli(srv, "verify-key", check=False).returncode == PERMANENT
    finally:
        srv.stop()


def test_aws_writes_we_read(srv, tmp_path):
    """Cross-check: an object uploaded by aws reads identically through us,
    and ours through aws; both list each other's keys."""
    body = os.urandom(300 * 1024)
    (tmp_path / "b").write_bytes(body)
    base = unique("aws")
    aws(srv, "s3", "cp", str(tmp_path / "b"), f"s3://mail/{base}/from aws+x y")
    assert blobcli(srv, "get", f"{base}/from aws+x y", "-").stdout == body
    assert blobcli(srv, "head", f"{base}/from aws+x y").stdout == \
        f"{len(body)} {len(body)}\n".encode()
    blobcli(srv, "put", f"{base}/from us+x y", tmp_path / "b")
    assert aws(srv, "s3", "cp", f"s3://mail/{base}/from us+x y", "-").stdout == body
    out = blobcli(srv, "list", base + "/").stdout.decode()
    assert out.splitlines() == [f"{base}/from aws+x y\t{len(body)}",
                                f"{base}/from us+x y\t{len(body)}"]
    r = aws(srv, "s3api", "list-objects-v2", "--bucket", "mail", "--prefix", base + "/",
            "--query", "Contents[].Key", "--output", "text")
    assert r.stdout.decode().rstrip("\n").split("\t") == \
        [f"{base}/from aws+x y", f"{base}/from us+x y"]
    blobcli(srv, "delete", f"{base}/from aws+x y")
    assert aws(srv, "s3", "ls", f"s3://mail/{base}/", check=False).stdout.count(b"\n") == 1


def test_threads_share_pool(servers):
    """8 threads over a pool of 4 connections: every put/get/delete right
    (bench checks each body); figures printed for the record."""
    srv = servers["fork"]
    r = blobcli(srv, "bench", 200, 65536, opts=["--threads", 8, "--pool", 4], timeout=120)
    print(r.stdout.decode())
    assert r.stdout.count(b"op=") == 3
