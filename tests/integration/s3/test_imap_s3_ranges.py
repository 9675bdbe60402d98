"""FETCH of sections and partials with bodies on S3 (s3rver, the
SigV4-checking fork): plain objects are read with HTTP Range requests,
encrypted ones are read and authenticated whole, then cut (AES-GCM has one
tag per object). Either way the bytes must be exactly the message's."""

import base64
import imaplib
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sora_testlib import S3RVER_SH, SORA_ADMIN, S3Server, T  # noqa: E402

KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

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
%s
    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
"""


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    r = subprocess.run([str(S3RVER_SH), "install"], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(f"cannot install the S3 test servers:\n{r.stderr[-3000:]}")
    srv = S3Server("fork", tmp_path_factory.mktemp("s3") / "fork").start()
    yield srv
    srv.stop()


def message():
    text = b"".join(b"line %06d of the text part\r\n" % i for i in range(60_000))
    att = b"".join(b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo%06d\r\n" % i for i in range(30_000))
    return (b"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: ranges\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\n" + text +
            b"\r\n--b\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + att + b"\r\n--b--\r\n")


def literals(dat):
    return [x[1] for x in dat if isinstance(x, tuple)]


@pytest.mark.parametrize("crypt", ["", '    encrypt = true\n    encryption_key = "%s"\n' % KEY],
                         ids=["plain", "encrypted"])
def test_sections_and_partials(sora, s3, crypt):
    srv = sora.new()
    text = CONFIG % (s3.endpoint, crypt)
    srv.write_config(text)
    r = subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), "accounts",
                        "create", "--email", "alice@example.org", "--password", "pw"],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stderr
    srv.start(text)
    body = message()
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"), timeout=T(60))
    m.login("alice@example.org", "pw")
    assert m.append("INBOX", None, None, body)[0] == "OK"
    m.select("INBOX")
    t0 = body.index(b"\r\n\r\n", body.index(b"--b\r\n")) + 4
    t1 = body.index(b"\r\n--b\r\nContent-Type: application")
    for off, n in ((0, 100), (12345, 1000), (len(body) - 50, 1000), (len(body) + 5, 10),
                   (1_000_000, 1_500_000)):
        typ, dat = m.fetch("1", f"(BODY.PEEK[]<{off}.{n}>)")
        assert typ == "OK" and literals(dat) == [body[off:off + n]], (off, n)
    typ, dat = m.fetch("1", "(BODY.PEEK[1]<777.2000> BODY.PEEK[2.MIME] BODY.PEEK[TEXT]<5.10> "
                            "BINARY.PEEK[2]<10.20> BODY.PEEK[])")
    assert typ == "OK"
    lits = literals(dat)
    h = body.index(b"\r\n\r\n") + 4
    assert lits[0] == body[t0 + 777:t0 + 777 + 2000]
    assert lits[1] == (b"Content-Type: application/octet-stream\r\n"
                       b"Content-Transfer-Encoding: base64\r\n\r\n")
    assert lits[2] == body[h + 5:h + 15]
    b64 = body[body.index(b"base64\r\n\r\n") + 10:body.rindex(b"\r\n--b--")]
    assert lits[3] == base64.b64decode(b64)[10:30]
    assert lits[4] == body  # > 1 MiB: streamed
    assert t1 > t0
    m.logout()
