"""The scale-out storage with the security guide's [s3] snippet: sora
stores bodies in a real S3 server (s3rver, the SigV4-checking fork),
encrypted client-side with AES-256-GCM. A message delivered over LMTP is
read back byte-exact over POP3; the object in the bucket, read raw with
the aws CLI, holds no plaintext; a sora started with another key refuses
to start instead of writing blobs nobody could read."""

import os
import poplib
import smtplib
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sora_testlib import S3RVER_SH, SORA_ADMIN, SORA_BIN, S3Server, T  # noqa: E402

KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
OTHER_KEY = "ff" * 32

CONFIG = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    driver = "s3"

    [s3]
    endpoint = "%s"
    disable_tls = true
    access_key = "S3RVER"
    secret_key = "S3RVER"
    bucket = "mail"
    encrypt = true
    encryption_key = "%s"

    [servers.lmtp]
    addr = "127.0.0.1:{port_lmtp}"

    [servers.pop3]
    addr = "127.0.0.1:{port_pop3}"
"""

SECRET_LINE = b"the plaintext that must never reach the bucket"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    r = subprocess.run([str(S3RVER_SH), "install"], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(f"cannot install the S3 test servers:\n{r.stderr[-3000:]}")
    srv = S3Server("fork", tmp_path_factory.mktemp("s3") / "fork").start()
    yield srv
    srv.stop()


def admin(cfg, *args):
    return subprocess.run([str(SORA_ADMIN), "--config", str(cfg), *args],
                          capture_output=True, text=True, timeout=T(60))


def test_encrypted_s3_delivery_and_retrieval(sora, s3):
    srv = sora.new()
    text = CONFIG % (s3.endpoint, KEY)
    srv.write_config(text)
    r = admin(srv.config_path, "accounts", "create", "--email", "alice@example.org",
              "--password", "pw", "--hash", "ssha512")
    assert r.returncode == 0, r.stderr
    srv.start(text)
    msg = b"Subject: s3\r\nFrom: a@example.net\r\n\r\n" + SECRET_LINE + b"\r\n"
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(20)) as m:
        assert m.sendmail("a@example.net", ["alice@example.org"], msg) == {}
    p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=T(20))
    p.user("alice@example.org")
    p.pass_("pw")
    lines = p.retr(1)[1]
    p.quit()
    assert SECRET_LINE in lines

    # the object as stored, read raw by a second S3 client
    env = dict(os.environ, AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER",
               AWS_DEFAULT_REGION="us-east-1")
    env.pop("AWS_CA_BUNDLE", None)
    ls = subprocess.run(["/usr/bin/aws", "--endpoint-url", f"http://{s3.endpoint}", "s3", "ls",
                         "--recursive", "s3://mail/example.org/alice/"],
                        capture_output=True, text=True, env=env, timeout=T(60))
    assert ls.returncode == 0, ls.stderr
    keys = [line.split()[-1] for line in ls.stdout.splitlines() if line.strip()]
    assert len(keys) == 1 and len(keys[0].rsplit("/", 1)[1]) == 64, ls.stdout
    raw = subprocess.run(["/usr/bin/aws", "--endpoint-url", f"http://{s3.endpoint}", "s3", "cp",
                          f"s3://mail/{keys[0]}", "-"],
                         capture_output=True, env=env, timeout=T(60)).stdout
    assert SECRET_LINE not in raw and b"Subject: s3" not in raw
    assert len(raw) > len(SECRET_LINE) + 28  # nonce(12) + ciphertext + tag(16)


def test_wrong_key_refuses_to_start(sora, s3, tmp_path):
    # a first server writes the key check object with KEY
    first = sora.new()
    first.write_config(CONFIG % (s3.endpoint, KEY))
    assert admin(first.config_path, "accounts", "list").returncode == 0
    first.start(CONFIG % (s3.endpoint, KEY))
    first.stop()
    # the same bucket with another key: refused, naming the setting
    second = sora.new()
    cfg = second.write_config(CONFIG % (s3.endpoint, OTHER_KEY))
    r = subprocess.run([str(SORA_BIN), "--config", str(cfg)], capture_output=True, text=True,
                       cwd=second.dir, timeout=T(30))
    assert r.returncode != 0
    assert "s3.encryption_key" in r.stderr, r.stderr
    assert OTHER_KEY not in r.stderr and KEY not in r.stderr
