"""ManageSieve (RFC 5804) against the real server, store and Sieve engine:
Sora's capability block and greeting, STARTTLS (capabilities again over
TLS), implicit TLS with client certificates, PROXY from a trusted proxy,
the plaintext policy, AUTHENTICATE PLAIN (initial response, continuation,
literal, cancel) and Sora's LOGIN, master users in both forms and master
SASL, every script command and its error replies, the limits (16 KiB,
100 scripts, line length, 10 errors, literals that lie), UNAUTHENTICATE,
the rate limiter on this server (delays, the cap on held delays, store
errors failing closed), rehash-on-login switched off, `sora-admin sieve`.

Real clients: sieve-connect (STARTTLS with the test CA) and Python's
sievelib; raw lines where a test needs the exact bytes."""

import base64
import shutil
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from sora_testlib import SORA_ADMIN, T, Client, proxy_v1

SSHA512_SECRET = ("{SSHA512}aGuMrEMGi6onmwqe1nusjHfTEWDBWJ6mi7jgmo/NAQWVisJzsnpZKYeQZCTTT8U"
                  "yTU6chXA6SsnsAloMvYN+iEMqQjA=")
USER, PASSWORD = "alice@example.org", "secret"
FAILED = 'NO "Authentication failed"'

BASE = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [servers.managesieve]
    addr = "127.0.0.1:{port_sieve}"
    max_connections_per_ip = 100
    master_username = "proxyuser"
    master_password = "m4ster-secret"
    master_sasl_username = "sasl-master"
    master_sasl_password = "sasl-secret"
"""

STARTTLS = BASE + """
    tls = true
    tls_use_starttls = true
    tls_cert_file = "{cert}"
    tls_key_file = "{key}"
"""

PROXY = """
    [servers.managesieve.proxy_protocol]
    enabled = true
    trusted_proxies = ["127.0.0.0/8"]
"""

GOOD = 'require "fileinto";\r\nif header :contains "subject" "x" { fileinto "X"; }\r\n'
BROKEN = 'require "fileinto";\r\nkeep;\r\nfilinto "x";\r\n'


def admin(srv, *args, stdin=None):
    return subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), *args],
                          input=stdin, capture_output=True, text=True, timeout=T(60))


def b64(s):
    return base64.b64encode(s.encode()).decode()


def make(sora, text=BASE, users=((USER, "--password", PASSWORD),)):
    srv = sora.new()
    srv.write_config(text)
    for email, flag, value in users:
        r = admin(srv, "accounts", "create", "--email", email, flag, value)
        assert r.returncode == 0, r.stderr
    srv.start(text)
    return srv


@pytest.fixture
def srv(sora):
    return make(sora)


def caps(sieve_ext, starttls=False, sasl="PLAIN"):
    lines = ['"IMPLEMENTATION" "ManageSieve"', '"VERSION" "1.0"', f'"SIEVE" "{sieve_ext}"']
    if starttls:
        lines.append('"STARTTLS"')
    return lines + [f'"SASL" "{sasl}"', '"MAXSCRIPTSIZE" "16384"', '"UNAUTHENTICATE"']


def read_caps(c):
    """Capability lines up to and including the OK line."""
    lines = []
    while True:
        ln = c.readline()
        lines.append(ln)
        if ln.startswith(("OK", "NO", "BYE")):
            return lines


def reply(c, timeout=None):
    """Lines up to and including the OK/NO/BYE line."""
    lines = []
    while True:
        ln = c.readline(timeout)
        lines.append(ln)
        if ln.startswith(("OK", "NO", "BYE")):
            return lines


def cmd(c, line, timeout=None):
    c.send(line if isinstance(line, bytes) else line.encode() + b"\r\n")
    return reply(c, timeout)


def login(c, user=USER, password=PASSWORD, authzid=""):
    return cmd(c, f'AUTHENTICATE "PLAIN" "{b64(authzid + chr(0) + user + chr(0) + password)}"')[-1]


def connect_login(srv, **kw):
    c = Client(srv.port("sieve"))
    read_caps(c)
    assert login(c, **kw) == 'OK "Logged in."'
    return c


def sieve_ext(c):
    first = read_caps(c)
    return first, first[2].split('"')[3]


# ---- greeting, capabilities, TLS, PROXY, plaintext policy -------------------

def test_greeting_and_capability_exact(srv):
    with Client(srv.port("sieve")) as c:
        greeting, ext = sieve_ext(c)
        assert "fileinto" in ext.split() and "editheader" not in ext.split()
        assert greeting == caps(ext) + ['OK "Sora" ManageSieve server ready.']
        assert cmd(c, "CAPABILITY") == caps(ext) + ['OK "Capability completed."']
        # case-insensitive verbs; NOOP with a tag (RFC 5804 §2.13)
        assert cmd(c, 'noop "x\\"1"') == ['OK (TAG "x\\"1") "Done"']
        assert cmd(c, "NOOP") == ['OK "NOOP completed."']
        assert cmd(c, "STARTTLS") == ['NO "STARTTLS is not available"']
        assert cmd(c, "UNAUTHENTICATE") == ['NO "Not authenticated"']
        assert cmd(c, "CAPABILITY x") == ['NO "Syntax: CAPABILITY"']
        assert cmd(c, "LOGOUT") == ['OK "Logout completed."']
        assert c.wait_closed() == b""


def test_starttls_capabilities_again_over_tls(sora, certs):
    srv = make(sora, STARTTLS)
    with Client(srv.port("sieve")) as c:
        greeting, ext = sieve_ext(c)
        assert greeting == caps(ext, starttls=True) + [
            'OK (STARTTLS) "Sora" ManageSieve server ready.']
        # pipelined plaintext after STARTTLS is dropped (CVE-2011-0411)
        c.send(b'STARTTLS\r\nAUTHENTICATE "PLAIN" "' + b64("\0x\0y").encode() + b'"\r\n')
        assert c.readline() == 'OK "Begin TLS negotiation now."'
        c.starttls(certs.client_context())
        # RFC 5804 §2.2: the server speaks first, without STARTTLS now
        assert read_caps(c) == caps(ext) + ['OK "TLS negotiation successful."']
        assert cmd(c, "STARTTLS")[-1].startswith("NO ")
        assert login(c) == 'OK "Logged in."'
        assert cmd(c, "LISTSCRIPTS") == ['OK "Listscripts completed."']
    assert "Authentication failed" not in srv.log()


def test_plaintext_refused_from_non_loopback_until_tls(sora, certs):
    srv = make(sora, STARTTLS + PROXY)
    with Client(srv.port("sieve"), preamble=proxy_v1("192.0.2.7")) as c:
        greeting, ext = sieve_ext(c)
        assert '"SASL" ""' in greeting
        assert login(c).startswith("NO (ENCRYPT-NEEDED) ")
        assert cmd(c, f'LOGIN "{USER}" "{PASSWORD}"')[-1].startswith("NO (ENCRYPT-NEEDED) ")
        assert cmd(c, "STARTTLS") == ['OK "Begin TLS negotiation now."']
        c.starttls(certs.client_context())
        assert '"SASL" "PLAIN"' in read_caps(c)
        assert login(c) == 'OK "Logged in."'
    # the client's address is the PROXY one
    srv.wait_log(r"remote=192\.0\.2\.7 user=alice@example\.org event=login")


def test_insecure_auth_allows_plaintext(sora):
    srv = make(sora, BASE + "    insecure_auth = true\n" + PROXY)
    with Client(srv.port("sieve"), preamble=proxy_v1("192.0.2.8")) as c:
        assert '"SASL" "PLAIN"' in read_caps(c)
        assert login(c) == 'OK "Logged in."'


def test_implicit_tls_with_client_certificates(sora, certs):
    text = BASE + """
    tls = true
    tls_cert_file = "{cert}"
    tls_key_file = "{key}"
    tls_verify = true
    tls_client_ca_file = "{client_ca}"
    """
    srv = make(sora, text)
    ctx = certs.client_context(certs.client_cert, certs.client_key)
    with Client(srv.port("sieve"), tls=ctx) as c:
        greeting, ext = sieve_ext(c)
        # no STARTTLS on an implicit-TLS port
        assert greeting == caps(ext) + ['OK "Sora" ManageSieve server ready.']
        assert login(c) == 'OK "Logged in."'
    import ssl
    with pytest.raises((ssl.SSLError, ConnectionError, EOFError, OSError)):
        with Client(srv.port("sieve"), tls=certs.client_context()) as c:
            c.readline()


# ---- logins -----------------------------------------------------------------

def test_authenticate_forms_and_login_verb(srv):
    with Client(srv.port("sieve")) as c:
        read_caps(c)
        # continuation: an empty challenge, the response as a quoted string
        c.sendline('AUTHENTICATE "PLAIN"')
        assert c.readline() == '""'
        c.sendline(f'"{b64(chr(0) + USER + chr(0) + PASSWORD)}"')
        assert reply(c) == ['OK "Logged in."']
    with Client(srv.port("sieve")) as c:
        read_caps(c)
        # the response as a literal, and the initial response as a literal
        resp = b64("\0" + USER + "\0" + PASSWORD)
        c.sendline('AUTHENTICATE "PLAIN"')
        assert c.readline() == '""'
        c.send(f"{{{len(resp)}+}}\r\n{resp}\r\n")
        assert reply(c) == ['OK "Logged in."']
    with Client(srv.port("sieve")) as c:
        read_caps(c)
        resp = b64("\0" + USER + "\0" + PASSWORD)
        assert cmd(c, f'AUTHENTICATE "PLAIN" {{{len(resp)}+}}\r\n{resp}') == ['OK "Logged in."']
    with Client(srv.port("sieve")) as c:
        read_caps(c)
        c.sendline('AUTHENTICATE "PLAIN"')
        assert c.readline() == '""'
        c.sendline('"*"')
        assert reply(c) == ['NO "Authentication cancelled."']
        c.sendline('AUTHENTICATE "PLAIN"')
        c.readline()
        c.sendline('"!!notbase64"')
        assert reply(c)[-1].startswith("NO ")
        assert cmd(c, 'AUTHENTICATE "CRAM-MD5"')[-1] == 'NO "Unsupported authentication mechanism"'
        # Sora's LOGIN verb; wrong password and unknown user read the same
        assert cmd(c, f'LOGIN "{USER}" "wrong"') == [FAILED]
        assert cmd(c, 'LOGIN "nobody@example.org" "secret"') == [FAILED]
        assert cmd(c, f'LOGIN "{USER}" "{PASSWORD}"') == ['OK "Logged in."']
        assert cmd(c, f'LOGIN "{USER}" "{PASSWORD}"') == ['NO "Already authenticated"']
    assert 'reason="unknown user"' in srv.log() and 'reason="wrong password"' in srv.log()
    assert PASSWORD not in srv.log()


def test_master_users_both_forms_and_master_sasl(srv):
    for name in (f"{USER}@proxyuser", f"{USER}~proxyuser", "Alice+box@Example.org@proxyuser"):
        with Client(srv.port("sieve")) as c:
            read_caps(c)
            assert cmd(c, f'LOGIN "{name}" "m4ster-secret"') == ['OK "Logged in."'], name
            assert cmd(c, 'PUTSCRIPT "m" "keep;"') == ['OK "Putscript completed."']
    with Client(srv.port("sieve")) as c:
        read_caps(c)
        assert cmd(c, f'LOGIN "{USER}@proxyuser" "wrong"') == [FAILED]
        assert login(c, user="sasl-master", password="sasl-secret", authzid=USER) == \
            'OK "Logged in."'
        assert cmd(c, "LISTSCRIPTS") == ['"m"', 'OK "Listscripts completed."']
    srv.wait_log(r"user=alice@example\.org event=login master=yes")


# ---- scripts ----------------------------------------------------------------

def test_script_commands(srv):
    with connect_login(srv) as c:
        assert cmd(c, f'PUTSCRIPT "one" {{{len(GOOD)}+}}\r\n{GOOD}') == \
            ['OK "Putscript completed."']
        # a synchronising literal is read the same way (no continuation)
        assert cmd(c, 'PUTSCRIPT "two" {5}\r\nkeep;') == ['OK "Putscript completed."']
        assert cmd(c, 'PUTSCRIPT "q\\"uote" "discard;"') == ['OK "Putscript completed."']
        assert cmd(c, "LISTSCRIPTS") == ['"one"', '"q\\"uote"', '"two"',
                                          'OK "Listscripts completed."']
        assert cmd(c, 'SETACTIVE "one"') == ['OK "Setactive completed."']
        assert cmd(c, "LISTSCRIPTS")[0] == '"one" ACTIVE'
        assert cmd(c, 'GETSCRIPT "one"') == [f"{{{len(GOOD)}}}", *GOOD.split("\r\n")[:-1],
                                             "", 'OK "Getscript completed."']
        assert cmd(c, 'GETSCRIPT "nope"') == [
            'NO (NONEXISTENT) "There is no script by that name"']
        assert cmd(c, 'DELETESCRIPT "one"') == ['NO (ACTIVE) "You may not delete an active script"']
        assert cmd(c, 'RENAMESCRIPT "one" "two"')[-1].startswith("NO (ALREADYEXISTS) ")
        assert cmd(c, 'RENAMESCRIPT "one" "uno"') == ['OK "Renamescript completed."']
        assert cmd(c, "LISTSCRIPTS")[-2] == '"uno" ACTIVE'
        assert cmd(c, 'SETACTIVE ""') == ['OK "Setactive completed."']
        assert "ACTIVE" not in " ".join(cmd(c, "LISTSCRIPTS")[:-1])
        assert cmd(c, 'SETACTIVE "nope"')[-1].startswith("NO (NONEXISTENT) ")
        assert cmd(c, 'DELETESCRIPT "uno"') == ['OK "Deletescript completed."']
        assert cmd(c, 'DELETESCRIPT "uno"')[-1].startswith("NO (NONEXISTENT) ")
        assert cmd(c, 'HAVESPACE "x" 16384') == ['OK "Putscript would succeed."']
        assert cmd(c, 'HAVESPACE "x" 16385')[-1].startswith("NO (QUOTA/MAXSIZE) ")
        assert cmd(c, 'HAVESPACE "x" lots')[-1].startswith("NO ")
        assert cmd(c, 'CHECKSCRIPT "keep;"') == ['OK "Script is valid."']
        # the engine's own error, with line and column
        r = cmd(c, f"CHECKSCRIPT {{{len(BROKEN)}+}}\r\n{BROKEN}")
        assert r == ['NO "line 3, column 1: unknown command \\"filinto\\""'], r
        r = cmd(c, f'PUTSCRIPT "bad" {{{len(BROKEN)}+}}\r\n{BROKEN}')
        assert r[-1].startswith('NO "line 3, column 1: ') and "filinto" in r[-1]
        r = cmd(c, 'PUTSCRIPT "ext" "require \\"nosuchext\\"; keep;"')
        assert r[-1].startswith('NO "line 1') and "nosuchext" in r[-1], r
        assert cmd(c, 'PUTSCRIPT "" "keep;"')[-1] == 'NO "Script name is empty"'
        # RFC 5804 §1.6: UTF-8 names, no control characters
        name = "Ünïcode ✓".encode()
        r = cmd(c, b'PUTSCRIPT {%d+}\r\n%s "keep;"\r\n' % (len(name), name))
        assert r == ['OK "Putscript completed."'], r
        assert '"' + name.decode("latin-1") + '"' in cmd(c, "LISTSCRIPTS")
        assert cmd(c, b'DELETESCRIPT {%d+}\r\n%s\r\n' % (len(name), name)) == [
            'OK "Deletescript completed."']
        assert cmd(c, 'PUTSCRIPT {3+}\r\na\x01b "keep;"')[-1] == \
            'NO "Script name contains a forbidden character"'
        assert cmd(c, b'PUTSCRIPT "\xff" "keep;"\r\n')[-1] == 'NO "Script name is not valid UTF-8"'
        assert cmd(c, 'PUTSCRIPT {3+}\r\na\0b "keep;"')[-1].startswith("NO ")
        assert "bad" not in " ".join(cmd(c, "LISTSCRIPTS"))
        assert cmd(c, "UNAUTHENTICATE") == ['OK "Unauthenticate completed."']
        assert cmd(c, "LISTSCRIPTS") == ['NO "Not authenticated"']
        assert login(c) == 'OK "Logged in."'


def test_script_size_and_count_limits(srv):
    with connect_login(srv) as c:
        big = "#" * 16383 + "\n"
        assert cmd(c, f'PUTSCRIPT "max" {{{len(big)}+}}\r\n{big}') == [
            'OK "Putscript completed."']
        big += "x"
        # over the limit: refused at the literal's size, the octets dropped
        r = cmd(c, f'PUTSCRIPT "over" {{{len(big)}+}}\r\n{big}')
        assert r == ['NO (QUOTA/MAXSIZE) "Script is too large"'], r
        assert cmd(c, "NOOP") == ['OK "NOOP completed."']
        # 100 scripts per account, one more is refused; replacing is fine
        batch = b"".join(f'PUTSCRIPT "s{i}" "keep;"\r\n'.encode() for i in range(99))
        c.send(batch)
        for i in range(99):
            assert reply(c, timeout=T(30)) == ['OK "Putscript completed."'], i
        r = cmd(c, 'PUTSCRIPT "s100" "keep;"')
        assert r[-1].startswith("NO (QUOTA/MAXSCRIPTS) "), r
        assert cmd(c, 'HAVESPACE "s100" 10')[-1].startswith("NO (QUOTA/MAXSCRIPTS) ")
        assert cmd(c, 'PUTSCRIPT "s5" "discard;"') == ['OK "Putscript completed."']
        assert len(cmd(c, "LISTSCRIPTS")) == 101


def test_bad_input_errors_and_disconnects(srv):
    with Client(srv.port("sieve")) as c:
        read_caps(c)
        assert cmd(c, "FOO") == ['NO "Unknown command"']
        assert cmd(c, 'GETSCRIPT "a"') == ['NO "Not authenticated"']
        assert cmd(c, 'NOOP "unterminated')[-1].startswith("NO ")
        assert cmd(c, 'NOOP "a""b"') == ['NO "Missing space between arguments"']
        # a pre-login literal larger than a line closes
        c.send(b"LOGIN {99999+}\r\n")
        assert c.readline() == 'BYE "Literal too large"'
        c.wait_closed()
    with Client(srv.port("sieve")) as c:
        read_caps(c)
        for i in range(9):
            assert cmd(c, f"BOGUS{i}")[-1].startswith("NO ")
        c.sendline("BOGUS9")
        assert reply(c) == ['NO "Unknown command"']
        assert c.readline() == 'BYE "Too many errors"'
        c.wait_closed()
    with Client(srv.port("sieve")) as c:
        read_caps(c)
        assert cmd(c, "NOOP " + "x" * 2000) == ['NO "Word too long"']
        c.send(b"NOOP" + b" " * 9000)
        assert c.readline() == 'BYE "Line too long"'
        c.wait_closed()
    # a literal that lies: longer than what follows (the server waits for
    # the octets, within its timeouts) or shorter (the rest is a command)
    with connect_login(srv) as c:
        c.send(b'PUTSCRIPT "lie" {500+}\r\nkeep;\r\n')
        assert c.is_open(0.5)
    with connect_login(srv) as c:
        assert cmd(c, 'PUTSCRIPT "lie" {3+}\r\nkeep;')[-1].startswith("NO ")
        # a huge size is refused at once, never waited for
        c.send(b'PUTSCRIPT "huge" {99999999999+}\r\n')
        assert c.readline() == 'BYE "Literal too large"'
        c.wait_closed()
    # the server still serves
    with connect_login(srv) as c:
        assert cmd(c, "LISTSCRIPTS") == ['OK "Listscripts completed."']


def test_shutdown_says_bye(sora):
    srv = make(sora)
    c = connect_login(srv)
    srv.stop()
    assert c.readline() == 'BYE "Server shutting down"'
    c.close()


# ---- real clients -------------------------------------------------------------

def sieve_connect(srv, certs, *args, password=PASSWORD):
    return subprocess.run(
        ["sieve-connect", "--server", "localhost", "--port", str(srv.port("sieve")),
         "--user", USER, "--passwordfd", "0", "--tlscafile", str(certs.ca), *args],
        input=password + "\n", capture_output=True, text=True, timeout=T(60))


@pytest.mark.skipif(shutil.which("sieve-connect") is None, reason="sieve-connect not installed "
                    "(scripts/deps.sh installs it)")
def test_sieve_connect_starttls(sora, certs, tmp_path):
    srv = make(sora, STARTTLS)
    good = tmp_path / "good.sieve"
    good.write_text(GOOD.replace("\r\n", "\n"))
    bad = tmp_path / "bad.sieve"
    bad.write_text(BROKEN.replace("\r\n", "\n"))
    r = sieve_connect(srv, certs, "--noclearauth", "--upload", "--localsieve", str(good),
                      "--remotesieve", "vacation")
    assert r.returncode == 0, r.stdout + r.stderr
    r = sieve_connect(srv, certs, "--activate", "--remotesieve", "vacation")
    assert r.returncode == 0, r.stdout + r.stderr
    r = sieve_connect(srv, certs, "--list")
    assert r.returncode == 0 and r.stdout == '"vacation" ACTIVE\n', r.stdout + r.stderr
    r = sieve_connect(srv, certs, "--checkscript", "--localsieve", str(bad))
    assert r.returncode != 0
    assert "line 3, column 1" in r.stdout + r.stderr and "filinto" in r.stdout + r.stderr
    out = tmp_path / "back.sieve"
    r = sieve_connect(srv, certs, "--download", "--remotesieve", "vacation",
                      "--localsieve", str(out))
    assert r.returncode == 0 and out.read_text() == good.read_text(), r.stdout + r.stderr
    r = sieve_connect(srv, certs, "--deactivate")
    assert r.returncode == 0, r.stdout + r.stderr
    r = sieve_connect(srv, certs, "--delete", "--remotesieve", "vacation")
    assert r.returncode == 0, r.stdout + r.stderr
    r = sieve_connect(srv, certs, "--list")
    assert "vacation" not in r.stdout
    r = sieve_connect(srv, certs, "--list", password="wrong")
    assert r.returncode != 0
    # the 8 good sessions logged in (sieve-connect uses STARTTLS when offered)
    assert srv.log().count("event=login ") == 8


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_sievelib(sora):
    sievelib = pytest.importorskip("sievelib.managesieve")
    srv = make(sora, STARTTLS)
    client = sievelib.Client("127.0.0.1", srv.port("sieve"))
    assert client.connect(USER, PASSWORD, starttls=True, authmech="PLAIN")
    assert "fileinto" in client.get_sieve_capabilities()
    assert client.putscript("lib", GOOD)
    assert client.setactive("lib")
    active, others = client.listscripts()
    assert active == "lib"
    # sievelib drops the script's last line end
    assert client.getscript("lib").replace("\r\n", "\n") == GOOD.replace("\r\n", "\n").rstrip()
    assert client.havespace("other", 100)
    assert not client.havespace("other", 100000)
    assert not client.putscript("broken", BROKEN)
    assert b"line 3, column 1" in client.errmsg
    assert client.renamescript("lib", "lib2")
    assert not client.deletescript("lib2")          # active
    assert client.errcode == b"ACTIVE"
    assert client.setactive("")
    assert client.deletescript("lib2")
    client.logout()


# ---- sora-admin sieve: the same validation path -------------------------------

def test_admin_sieve_commands(srv, tmp_path):
    good = tmp_path / "good.sieve"
    good.write_text(GOOD)
    bad = tmp_path / "bad.sieve"
    bad.write_text(BROKEN)
    r = admin(srv, "sieve", "put", "--email", USER, "--name", "adm", "--file", str(good))
    assert r.returncode == 0, r.stderr
    r = admin(srv, "sieve", "put", "--email", USER, "--name", "bad", "--file", str(bad))
    assert r.returncode == 1 and "line 3, column 1" in r.stderr, r.stderr
    big = tmp_path / "big.sieve"
    big.write_text("#" * 20000)
    r = admin(srv, "sieve", "put", "--email", USER, "--name", "big", "--file", str(big))
    assert r.returncode == 1 and "QUOTA/MAXSIZE" in r.stderr, r.stderr
    assert admin(srv, "sieve", "activate", "--email", USER, "--name", "adm").returncode == 0
    r = admin(srv, "sieve", "list", "--email", USER)
    assert r.stdout == "adm\tACTIVE\n", r.stdout
    r = admin(srv, "sieve", "get", "--email", USER, "--name", "adm")
    assert r.stdout == GOOD.replace("\r\n", "\n")  # text mode reads CRLF as LF
    r = admin(srv, "sieve", "delete", "--email", USER, "--name", "adm")
    assert r.returncode == 1 and "ACTIVE" in r.stderr
    with connect_login(srv) as c:
        assert cmd(c, "LISTSCRIPTS") == ['"adm" ACTIVE', 'OK "Listscripts completed."']
    assert admin(srv, "sieve", "deactivate", "--email", USER).returncode == 0
    assert admin(srv, "sieve", "delete", "--email", USER, "--name", "adm").returncode == 0
    assert admin(srv, "sieve", "list", "--email", USER).stdout == ""
    r = admin(srv, "sieve", "list", "--email", "nobody@example.org")
    assert r.returncode == 1 and "no such account" in r.stderr
    assert admin(srv, "sieve", "put", "--email", USER).returncode == 2
    r = admin(srv, "sieve", "put", "--email", USER, "--name", "stdin", "--file", "-",
              stdin="discard;\n")
    assert r.returncode == 0, r.stderr
    assert admin(srv, "sieve", "get", "--email", USER, "--name", "stdin").stdout == "discard;\n"


def test_unknown_extension_in_config_refuses_start(sora):
    srv = sora.new()
    srv.expected_rc = None
    srv.start(BASE + '\n[sieve]\nenabled_extensions = ["fileinto", "nosuchthing"]\n',
              wait=False)
    assert srv.wait_exit(10) != 0
    assert "nosuchthing" in srv.log()


def test_enabled_extensions_restrict_scripts(sora):
    srv = make(sora, BASE + '\n[sieve]\nenabled_extensions = ["fileinto", "envelope"]\n')
    with Client(srv.port("sieve")) as c:
        greeting, ext = sieve_ext(c)
        assert ext == "fileinto envelope"
        assert login(c) == 'OK "Logged in."'
        assert cmd(c, 'CHECKSCRIPT "require \\"fileinto\\"; keep;"') == ['OK "Script is valid."']
        r = cmd(c, 'CHECKSCRIPT "require \\"vacation\\"; keep;"')
        assert r[-1].startswith('NO "line 1') and "vacation" in r[-1], r


# ---- the rate limiter on this server (issue 5) --------------------------------

def limiter(**keys):
    base = dict(max_attempts_per_ip=1000, max_attempts_per_username=1000,
                fast_block_threshold=1000, fast_block_duration='"1m"',
                delay_start_threshold=1000, initial_delay='"1s"', max_delay='"30s"')
    base.update(keys)
    return BASE + "\n[servers.managesieve.auth_rate_limit]\nenabled = true\n" + "".join(
        f"{k} = {v}\n" for k, v in base.items())


FAST_USERS = ((USER, "--password", PASSWORD), ("bob@example.org", "--password-hash",
                                              SSHA512_SECRET))


def timed_login(srv, user, password):
    with Client(srv.port("sieve"), timeout=T(30)) as c:
        read_caps(c)
        t0 = time.monotonic()
        r = cmd(c, f'LOGIN "{user}" "{password}"', timeout=T(30))[-1]
        return r, time.monotonic() - t0


def test_rate_limit_fast_block_looks_like_wrong_password(sora):
    srv = make(sora, limiter(fast_block_threshold=3), users=FAST_USERS)
    for _ in range(3):
        assert timed_login(srv, "bob@example.org", "wrong")[0] == FAILED
    assert timed_login(srv, "bob@example.org", "secret")[0] == FAILED
    srv.wait_log(r"event=auth\.failed reason=fast_block")


def test_delay_then_held_delays_capped_per_ip(sora):
    """From the 2nd failure on, every attempt waits 4 s; at most 4 of one
    IP's attempts wait at once, the others are refused at once, with the
    wrong-password reply (auth.h AUTH_MAX_DELAYED_PER_IP_DEFAULT)."""
    srv = make(sora, limiter(delay_start_threshold=1, initial_delay='"4s"', max_delay='"4s"'),
               users=FAST_USERS)
    assert timed_login(srv, "bob@example.org", "wrong")[0] == FAILED
    results = []
    lock = threading.Lock()
    clients = []
    for _ in range(7):
        c = Client(srv.port("sieve"), timeout=T(30))
        read_caps(c)
        clients.append(c)

    def attempt(c):
        t0 = time.monotonic()
        r = cmd(c, 'LOGIN "bob@example.org" "wrong"', timeout=T(30))[-1]
        with lock:
            results.append((r, time.monotonic() - t0))

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T(60))
    for c in clients:
        c.close()
    assert all(r == FAILED for r, _ in results), results
    waited = [d for _, d in results if d >= 3.5]
    quick = [d for _, d in results if d < 2.5]
    assert len(waited) == 4 and len(quick) == 3, results
    srv.wait_log(r'event=auth\.failed reason="too many delayed attempts"', count=3)


def test_store_error_logged_and_fails_closed(sora):
    srv = make(sora, limiter(), users=FAST_USERS)
    assert timed_login(srv, "bob@example.org", "secret")[0] == 'OK "Logged in."'
    db = sqlite3.connect(srv.dir / "data" / "sora.db", timeout=10)
    db.execute("ALTER TABLE auth_blocks RENAME TO auth_blocks_gone")
    db.commit()
    try:
        assert timed_login(srv, "bob@example.org", "secret")[0] == FAILED
        lines = srv.wait_log(r"event=ratelimit\.store\.fail error=[^\n]*")
        assert "secret" not in lines[0]
    finally:
        db.execute("ALTER TABLE auth_blocks_gone RENAME TO auth_blocks")
        db.commit()
        db.close()
    assert timed_login(srv, "bob@example.org", "secret")[0] == 'OK "Logged in."'


def stored_hash(srv, address):
    db = sqlite3.connect(srv.dir / "data" / "sora.db", timeout=10)
    try:
        return db.execute("SELECT password_hash FROM credentials WHERE address = ?",
                          (address,)).fetchone()[0]
    finally:
        db.close()


@pytest.mark.parametrize("rehash", [True, False])
def test_rehash_on_login_switch(sora, rehash):
    text = BASE + f"\n[auth]\nrehash_on_login = {'true' if rehash else 'false'}\n"
    srv = make(sora, text, users=FAST_USERS)
    assert stored_hash(srv, "bob@example.org") == SSHA512_SECRET
    assert timed_login(srv, "bob@example.org", "secret")[0] == 'OK "Logged in."'
    srv.wait_log(r"user=bob@example\.org event=login master=no rehashed=" +
                 ("yes" if rehash else "no"))
    after = stored_hash(srv, "bob@example.org")
    if rehash:
        assert after.startswith(("{BLF-CRYPT}", "$2")), after
    else:
        assert after == SSHA512_SECRET


def test_head_server_block_form(sora):
    """Sora's newer layout: [[server]] type = "managesieve"."""
    srv = make(sora, """
        [database]
        path = "{dir}/data/sora.db"

        [[server]]
        type = "managesieve"
        name = "sieve-head"
        addr = "127.0.0.1:{port_sieve}"
    """)
    with connect_login(srv) as c:
        assert cmd(c, 'PUTSCRIPT "h" "keep;"') == ['OK "Putscript completed."']
