"""Password hashing runs on its own (niced) worker pool: a storm of bcrypt
logins must not hold the workers that logged-in sessions need. With one
general worker thread, a FETCH issued during eight concurrent bcrypt-12
logins must be answered while logins are still being hashed, not queued
behind them."""

import imaplib
import subprocess
import threading
import time

from sora_testlib import SORA_ADMIN, T

CFG = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [runtime]
    worker_threads = 1

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
"""

STORM = 8


def test_commands_are_not_queued_behind_hashing(sora):
    s = sora.new()
    s.write_config(CFG)
    r = subprocess.run([str(SORA_ADMIN), "--config", str(s.config_path), "accounts", "create",
                        "--email", "alice@example.org", "--password", "secret"],
                       capture_output=True, text=True, timeout=T(120))
    assert r.returncode == 0, r.stderr
    s.start(CFG)
    m = imaplib.IMAP4("127.0.0.1", s.port("imap"))
    m.login("alice@example.org", "secret")
    assert m.append("INBOX", None, None, b"Subject: x\r\n\r\nbody\r\n")[0] == "OK"
    m.select("INBOX")

    done = []
    lock = threading.Lock()

    def one_login():
        c = imaplib.IMAP4("127.0.0.1", s.port("imap"))
        try:
            c.login("alice@example.org", "secret")
        finally:
            with lock:
                done.append(time.monotonic())
            c.logout()

    storm = [threading.Thread(target=one_login) for _ in range(STORM)]
    for t in storm:
        t.start()
    time.sleep(0.05)  # the logins are queued for hashing
    typ, data = m.fetch("1", "(FLAGS BODY.PEEK[])")
    answered = time.monotonic()
    assert typ == "OK", data
    for t in storm:
        t.join(T(120))
    assert len(done) == STORM
    # bcrypt-12 takes ~0.25 s per hash and the machine has few cores: the
    # FETCH, answered from the general pool, comes before the storm ends
    assert answered < max(done), (answered, sorted(done))
    m.logout()
