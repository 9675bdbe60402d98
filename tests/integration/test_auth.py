"""Logins against the real server and the real account store: IMAP LOGIN
and AUTHENTICATE (PLAIN with and without SASL-IR, LOGIN), master users in
both forms, master SASL with an authzid, rehash of legacy hashes, the
brute-force limiter, the plaintext policy, and the sora-admin commands
that manage accounts. Uses Python's imaplib as the real client where it
can, and raw lines where the test needs exact responses."""

import base64
import imaplib
import subprocess
import time

import pytest

from sora_testlib import SORA_ADMIN, T, Client, proxy_v1

SSHA512_SECRET = ("{SSHA512}aGuMrEMGi6onmwqe1nusjHfTEWDBWJ6mi7jgmo/NAQWVisJzsnpZKYeQZCTTT8U"
                  "yTU6chXA6SsnsAloMvYN+iEMqQjA=")

BASE = """
    [database]
    path = "{dir}/data/sora.db"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
    master_username = "proxyuser"
    master_password = "m4ster-secret"
    master_sasl_username = "sasl-master"
    master_sasl_password = "sasl-secret"
"""


def admin(srv, *args, stdin=None):
    return subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), *args],
                          input=stdin, capture_output=True, text=True, timeout=T(60))


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


@pytest.fixture
def srv(sora):
    s = sora.new()
    s.write_config(BASE)
    r = admin(s, "accounts", "create", "--email", "alice@example.org", "--password", "secret")
    assert r.returncode == 0, r.stderr
    r = admin(s, "accounts", "create", "--email", "bob@example.org",
              "--password-hash", SSHA512_SECRET)
    assert r.returncode == 0, r.stderr
    s.start(BASE)
    return s


def test_imaplib_login_and_wrong_password(srv):
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    assert "AUTH=PLAIN" in m.capabilities and "SASL-IR" in m.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.login("alice@example.org", "wrong")
    typ, data = m.login("alice@example.org", "secret")
    assert typ == "OK" and b"Logged in" in data[0]
    # the mailbox commands work on the real store
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"0"]
    m.logout()
    srv.wait_log(r"user=alice@example\.org event=login master=no")
    assert "secret" not in srv.log()


def test_unknown_user_same_answer_as_wrong_password(srv):
    with Client(srv.port("imap")) as c:
        c.readline()
        a = c.cmd("a1", "LOGIN nobody@example.org secret")[-1]
        b = c.cmd("a2", "LOGIN alice@example.org wrong")[-1]
    assert a == "a1 NO [AUTHENTICATIONFAILED] Authentication failed"
    assert b == "a2 NO [AUTHENTICATIONFAILED] Authentication failed"
    assert 'reason="unknown user"' in srv.log() and 'reason="wrong password"' in srv.log()


def test_authenticate_plain_ir_and_continuation_and_login_mech(srv):
    with Client(srv.port("imap")) as c:
        c.readline()
        r = c.cmd("a1", "AUTHENTICATE PLAIN " + b64("\0alice@example.org\0secret"))
        assert r[-1].startswith("a1 OK [CAPABILITY IMAP4rev2")
    with Client(srv.port("imap")) as c:
        c.readline()
        c.sendline("a1 AUTHENTICATE PLAIN")
        assert c.readline() == "+ "
        c.sendline(b64("\0alice@example.org\0secret"))
        assert c.read_tagged("a1")[-1].startswith("a1 OK ")
    with Client(srv.port("imap")) as c:
        c.readline()
        c.sendline("a1 AUTHENTICATE LOGIN")
        assert c.readline() == "+ " + b64("Username:")
        c.sendline(b64("alice@example.org"))
        assert c.readline() == "+ " + b64("Password:")
        c.sendline(b64("secret"))
        assert c.read_tagged("a1")[-1].startswith("a1 OK ")
    with Client(srv.port("imap")) as c:
        c.readline()
        c.sendline("a1 AUTHENTICATE PLAIN")
        c.readline()
        c.sendline("*")
        assert c.read_tagged("a1")[-1] == "a1 BAD Authentication cancelled"
        c.sendline("a2 AUTHENTICATE PLAIN")
        c.readline()
        c.sendline("!!notbase64")
        assert c.read_tagged("a2")[-1].startswith("a2 BAD ")
        assert c.cmd("a3", "AUTHENTICATE CRAM-MD5")[-1].startswith("a3 NO [CANNOT]")
        assert c.cmd("a4", "NOOP")[-1] == "a4 OK NOOP completed"


def test_legacy_hash_rehashed_to_bcrypt(srv):
    assert "scheme=SSHA512" in admin(srv, "accounts", "show", "--email", "bob@example.org").stdout
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login("bob@example.org", "secret")
    m.logout()
    srv.wait_log(r"user=bob@example\.org event=login master=no rehashed=yes")
    assert "scheme=BLF-CRYPT" in admin(srv, "accounts", "show",
                                       "--email", "bob@example.org").stdout
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login("bob@example.org", "secret")  # the new hash works
    m.logout()


def test_master_user_both_forms_and_detail(srv):
    for login in ("alice@example.org@proxyuser", "alice@example.org~proxyuser",
                  "Alice+lists@Example.org@proxyuser"):
        m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
        m.login(login, "m4ster-secret")
        m.logout()
    srv.wait_log(r"user=alice@example\.org event=login master=yes", count=3)
    with Client(srv.port("imap")) as c:
        c.readline()
        # the master password never opens an account by itself, nor with a wrong one
        assert "NO [AUTHENTICATIONFAILED]" in c.cmd("a1", "LOGIN proxyuser m4ster-secret")[-1]
        assert "NO [AUTHENTICATIONFAILED]" in c.cmd(
            "a2", "LOGIN alice@example.org@proxyuser secret")[-1]
    assert "m4ster-secret" not in srv.log()


def test_master_sasl_with_authzid(srv):
    with Client(srv.port("imap")) as c:
        c.readline()
        r = c.cmd("a1", "AUTHENTICATE PLAIN " + b64("alice@example.org\0sasl-master\0sasl-secret"))
        assert r[-1].startswith("a1 OK ")
    with Client(srv.port("imap")) as c:
        c.readline()
        # an ordinary user may not act for another
        r = c.cmd("a1", "AUTHENTICATE PLAIN " + b64("bob@example.org\0alice@example.org\0secret"))
        assert r[-1] == "a1 NO [AUTHENTICATIONFAILED] Authentication failed"
    srv.wait_log(r"user=alice@example\.org event=login master=yes")


def test_three_failures_disconnect(srv):
    with Client(srv.port("imap")) as c:
        c.readline()
        for i in range(3):
            assert "AUTHENTICATIONFAILED" in c.cmd(f"a{i}", "LOGIN alice@example.org x")[-1]
        assert c.readline() == "* BYE Too many authentication failures"
        c.wait_closed()


def test_plaintext_login_refused_from_non_loopback(sora):
    """A client behind a trusted proxy at 192.0.2.7 on a plaintext port:
    LOGINDISABLED, and LOGIN refused before any password check."""
    srv = sora.start("""
        [database]
        path = "{dir}/data/sora.db"

        [servers.imap]
        addr = "127.0.0.1:{port_imap}"

        [servers.imap.proxy_protocol]
        enabled = true
        trusted_proxies = ["127.0.0.0/8"]
    """)
    with Client(srv.port("imap"), preamble=proxy_v1("192.0.2.7")) as c:
        greeting = c.readline()
        assert "LOGINDISABLED" in greeting and "AUTH=PLAIN" not in greeting
        assert c.cmd("a1", "LOGIN alice@example.org secret")[-1].startswith(
            "a1 NO [PRIVACYREQUIRED]")
        assert c.cmd("a2", "AUTHENTICATE PLAIN")[-1].startswith("a2 NO [PRIVACYREQUIRED]")


def test_rate_limit_fast_block_same_reply_after_delay(sora):
    text = BASE + """
    [servers.imap.auth_rate_limit]
    enabled = true
    max_attempts_per_ip = 100
    max_attempts_per_username = 100
    fast_block_threshold = 3
    fast_block_duration = "1m"
    delay_start_threshold = 100
    """
    srv = sora.new()
    srv.write_config(text)
    assert admin(srv, "accounts", "create", "--email", "carol@example.org",
                 "--password", "right").returncode == 0
    srv.start(text)
    for i in range(3):
        with Client(srv.port("imap")) as c:
            c.readline()
            assert "AUTHENTICATIONFAILED" in c.cmd("a1", "LOGIN carol@example.org wrong")[-1]
    # now blocked: even the right password gets the failure reply
    with Client(srv.port("imap")) as c:
        c.readline()
        assert c.cmd("a1", "LOGIN carol@example.org right")[-1] == \
            "a1 NO [AUTHENTICATIONFAILED] Authentication failed"
    srv.wait_log(r'event=auth\.failed reason=fast_block')


def test_admin_accounts_lifecycle(sora):
    srv = sora.new()
    srv.write_config(BASE)
    r = admin(srv, "accounts", "create", "--email", "dave@example.org", "--password-stdin",
              "--hash", "ssha512", stdin="pw-from-stdin\n")
    assert r.returncode == 0, r.stderr
    assert "scheme=SSHA512" in admin(srv, "accounts", "show", "--email", "dave@example.org").stdout
    r = admin(srv, "accounts", "create", "--email", "dave@example.org", "--password", "x")
    assert r.returncode == 1 and "dave@example.org" in r.stderr
    r = admin(srv, "accounts", "create", "--email", "eve@example.org",
              "--password-hash", "{NOPE}abc")
    assert r.returncode == 1 and "not usable" in r.stderr
    r = admin(srv, "accounts", "create", "--email", "eve@example.org")
    assert r.returncode == 1 and "password is required" in r.stderr
    r = admin(srv, "credentials", "add", "--primary", "dave@example.org",
              "--email", "d@example.net")
    assert r.returncode == 0, r.stderr
    out = admin(srv, "credentials", "list", "--email", "d@example.net").stdout
    assert "dave@example.org (primary)" in out and "d@example.net" in out
    assert "pw-from-stdin" not in out and "{SSHA512}" not in out
    srv.start(BASE)
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login("d@example.net", "pw-from-stdin")  # the alias shares the hash
    m.logout()
    assert admin(srv, "accounts", "delete", "--email", "dave@example.org").returncode == 0
    with pytest.raises(imaplib.IMAP4.error):
        imaplib.IMAP4("127.0.0.1", srv.port("imap")).login("dave@example.org", "pw-from-stdin")
    assert "(deleted)" in admin(srv, "accounts", "list", "--deleted").stdout
    assert admin(srv, "accounts", "restore", "--email", "dave@example.org").returncode == 0
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login("dave@example.org", "pw-from-stdin")
    m.logout()
    r = admin(srv, "migrate", "version")
    assert r.returncode == 0 and "schema version" in r.stdout
    r = admin(srv, "accounts", "frobnicate", "--email", "x@y.z")
    assert r.returncode == 2


def test_login_does_not_stall_other_clients(srv):
    """Hashing runs on the worker pool: while bcrypt logins are being
    verified, another connection's NOOP is answered at once."""
    clients = []
    for i in range(4):
        c = Client(srv.port("imap"))
        c.readline()
        c.sendline(f"x{i} LOGIN alice@example.org secret")
        clients.append(c)
    with Client(srv.port("imap")) as probe:
        probe.readline()
        t0 = time.monotonic()
        assert probe.cmd("p1", "NOOP")[-1] == "p1 OK NOOP completed"
        noop_s = time.monotonic() - t0
    for i, c in enumerate(clients):
        assert c.read_tagged(f"x{i}", timeout=T(20))[-1].startswith(f"x{i} OK ")
        c.close()
    # not a timing assertion on the logins themselves: only that the loop
    # answered while 4 bcrypt verifications (~0.2 s each) were queued
    assert noop_s < T(0.5)
