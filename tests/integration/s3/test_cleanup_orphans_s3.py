"""Cleanup's orphan sweep on the S3 deployment (staging, encryption, cache)
against s3rver: an object under the account's prefix that no metadata row
names is deleted from the bucket once its LastModified is older than the
grace period (read from ListObjectsV2's LastModified); the delivered
bodies and a fresh orphan stay."""

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sora_testlib import T  # noqa: E402
from test_uploader import (BLOBCLI, KEY, admin, bucket_keys, config, deliver,  # noqa: E402,F401
                           imap_fetch, message, new_server, s3, wait_drained)

DAY = 86400


def blobcli_put(s3, key, data, tmp_path):
    src = tmp_path / "orphan.eml"
    src.write_bytes(data)
    e = dict(os.environ, BLOBCLI_SECRET="S3RVER", BLOBCLI_KEY=KEY)
    e.pop("BLOBCLI_PREVIOUS_KEYS", None)
    r = subprocess.run([str(BLOBCLI), "--s3", s3.endpoint, "put", key, str(src)], env=e,
                       capture_output=True, timeout=T(60))
    assert r.returncode == 0, r.stderr


def age_object(s3, key, age):
    """s3rver reports its object file's mtime as LastModified."""
    path = s3.dir / "mail" / (key + "._S3rver_object")
    assert path.exists(), sorted(str(p) for p in (s3.dir / "mail").rglob("*"))[:20]
    t = time.time() - age
    os.utime(path, (t, t))


def orphans(r):
    m = re.search(r"^done\s+.*orphans_deleted=(\d+) orphan_errors=(\d+)$", r.stdout, re.M)
    assert m, r.stdout + r.stderr
    return int(m.group(1)), int(m.group(2))


def test_orphans_s3(sora, s3, tmp_path):
    text = config(s3)
    srv = new_server(sora, text)
    srv.start(text)
    msgs = [message(n) for n in range(1, 6)]
    deliver(srv, msgs)
    wait_drained(srv)
    delivered = bucket_keys(s3)
    assert len(delivered) == 5
    for k in delivered:
        age_object(s3, k, 30 * DAY)
    before = imap_fetch(srv)
    assert len(before) == 5

    prefix = "example.org/alice/"
    old_data = b"Subject: lost\r\n\r\nnever committed\r\n"
    new_data = b"Subject: in flight\r\n\r\nbody\r\n"
    old = prefix + hashlib.sha256(old_data).hexdigest()
    new = prefix + hashlib.sha256(new_data).hexdigest()
    blobcli_put(s3, old, old_data, tmp_path)
    blobcli_put(s3, new, new_data, tmp_path)
    age_object(s3, old, 30 * DAY)

    r = admin(srv, "cleanup", "run", "--grace-period", "1s", check=0)
    assert orphans(r) == (1, 0), r.stdout + r.stderr
    assert f"event=cleanup.orphan_deleted key={old} " in r.stderr, r.stderr
    keys = bucket_keys(s3)
    assert old not in keys
    assert new in keys  # fresh: its delivery could still be committing
    assert set(delivered) <= set(keys)

    # the bucket check above is what matters (IMAP may answer from the
    # local cache); this one checks the server still serves them all
    assert imap_fetch(srv) == before
