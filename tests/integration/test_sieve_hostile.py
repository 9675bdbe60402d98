"""Hostile Sieve input (issue #10 "Bad input"): scripts that are too big or
too deep are refused with a clear error; a regex bomb and a variable that
doubles itself run into the engine's bounds at delivery. Each time the
server keeps serving and every delivered message is stored (implicit keep
on a failed run, RFC 5228 §2.10.6)."""

import subprocess
import time

from sora_testlib import SORA_ADMIN, T
from test_sieve_delivery import fetch_all, lmtp, msg

CONFIG = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [sieve]
    enabled_extensions = ["fileinto", "regex", "variables", "mailbox", "imap4flags"]
    max_script_size = "2mb"
    max_execution_time = "500ms"

    [servers.lmtp]
    addr = "127.0.0.1:{port_lmtp}"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
"""

USER = "alice@example.org"


def admin(srv, *args, stdin=None):
    return subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), *args],
                          input=stdin, capture_output=True, text=True, timeout=T(60))


def start(sora):
    srv = sora.new()
    srv.write_config(CONFIG)
    r = admin(srv, "accounts", "create", "--email", USER, "--password", "pw", "--hash", "ssha512")
    assert r.returncode == 0, r.stderr
    srv.start(CONFIG)
    return srv


def put(srv, text):
    r = admin(srv, "sieve", "put", "--email", USER, "--name", "s", "--file", "-", stdin=text)
    if r.returncode == 0:
        r2 = admin(srv, "sieve", "activate", "--email", USER, "--name", "s")
        assert r2.returncode == 0, r2.stderr
    return r


def test_oversized_and_too_deep_scripts_are_refused(sora):
    srv = start(sora)
    huge = "# " + "x" * (3 * 1024 * 1024) + "\nkeep;\n"
    r = put(srv, huge)
    assert r.returncode != 0 and "larger than" in r.stderr, r.stderr
    deep = "if true { " * 200 + "keep;" + " }" * 200 + "\n"
    r = put(srv, deep)
    assert r.returncode != 0 and "nest" in r.stderr.lower(), r.stderr
    # nothing was stored, mail is still delivered and kept
    assert lmtp(srv, USER, msg("after refused scripts")) == {}
    assert len(fetch_all(srv, USER)) == 1


def test_regex_bomb_is_bounded_and_the_message_kept(sora):
    srv = start(sora)
    r = put(srv, 'require ["regex", "fileinto"];\n'
                 'if header :regex "subject" "^(a|a)+(a|a)+(a|a)+$" { fileinto "Junk"; }\n'
                 'if header :regex "subject" "^(a+)+b$" { fileinto "Junk"; }\n')
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    assert lmtp(srv, USER, msg("a" * 4000 + "c")) == {}
    elapsed = time.monotonic() - t0
    # bounded: the 30 s LMTP client timeout is never approached
    assert elapsed < T(10), elapsed
    inbox = fetch_all(srv, USER)
    assert len(inbox) == 1, inbox
    assert fetch_all(srv, USER, "Junk") == []
    # the server keeps serving the next delivery normally
    assert lmtp(srv, USER, msg("next one")) == {}
    assert len(fetch_all(srv, USER)) == 2


def test_self_doubling_variable_is_capped(sora):
    srv = start(sora)
    doubling = 'require ["variables", "fileinto", "mailbox"];\nset "a" "xxxxxxxxxxxxxxxx";\n'
    doubling += 'set "a" "${a}${a}";\n' * 40
    doubling += 'if string :matches "${a}" "*x*x*x*x*x*x*x*x*x*x*y" { fileinto "Junk"; }\n'
    doubling += 'fileinto :create "Doubled";\n'
    r = put(srv, doubling)
    assert r.returncode == 0, r.stderr
    assert lmtp(srv, USER, msg("doubling")) == {}
    # capped at the variable size limit, then filed as the script says (or
    # kept if a bound stopped the run): never lost, never in Junk
    stored = fetch_all(srv, USER) + fetch_all_maybe(srv, "Doubled")
    assert len(stored) == 1, stored
    assert fetch_all(srv, USER, "Junk") == []


def fetch_all_maybe(srv, mailbox):
    try:
        return fetch_all(srv, USER, mailbox)
    except AssertionError:
        return []
