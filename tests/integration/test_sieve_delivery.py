"""Sieve at delivery, end to end: scripts uploaded with sora-admin, mail
delivered over LMTP, results read over IMAP; redirects and vacation replies
leave through the relay queue to a real Postfix (postfix_testlib), which
hands remote.test and example.org back to sora over LMTP, so they are seen arriving in
real mailboxes. Covers fileinto :create :flags, editheader, Sora's default
script (X-Spam → Junk, +detail → its mailbox), reject (550 5.7.1),
vacation (one reply, then suppressed; RFC 3834 headers; suppression
rules), redirect (X-Sora-Loop, hop counter, loop → 550 5.4.6, rate limit),
the durable queue (250 with the relay down, sent once it is back) and the
fallback to INBOX without a relay."""

import imaplib
import json
import re
import smtplib
import subprocess
import time

import pytest

from postfix_testlib import Postfix
from sora_testlib import SORA_ADMIN, T, Client

EXTENSIONS = ('["fileinto", "reject", "envelope", "vacation", "subaddress", "imap4flags", '
              '"copy", "variables", "mailbox", "relational", "editheader", "body"]')

CONFIG = """
    [database]
    path = "{dir}/data/sora.db"

    [storage]
    path = "{dir}/data/blobs"

    [sieve]
    enabled_extensions = %s
    redirect_rate_limit = %d
    redirect_rate_window = "1h"
    max_redirect_hops = 2

    %s

    [servers.lmtp]
    addr = "127.0.0.1:{port_lmtp}"

    [servers.imap]
    addr = "127.0.0.1:{port_imap}"
"""

RELAY = """
    [relay]
    type = "smtp"
    smtp_host = "127.0.0.1:%d"
    smtp_tls = false

    [relay.queue]
    path = "{dir}/relay"
    worker_interval = "1s"
    retry_backoff = ["1s"]
"""

USERS = ("alice@example.org", "sender@remote.test", "carol@remote.test", "other@remote.test")


def admin(srv, *args, stdin=None):
    r = subprocess.run([str(SORA_ADMIN), "--config", str(srv.config_path), *args],
                       input=stdin, capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def put_script(srv, user, text, name="main"):
    admin(srv, "sieve", "put", "--email", user, "--name", name, "--file", "-", stdin=text)
    admin(srv, "sieve", "activate", "--email", user, "--name", name)


class Env:
    def __init__(self, srv, postfix):
        self.srv = srv
        self.postfix = postfix


@pytest.fixture
def env(sora):
    srv = sora.new()
    back_to_sora = f"lmtp:inet:127.0.0.1:{srv.port('lmtp')}"
    pf = Postfix({"remote.test": back_to_sora, "example.org": back_to_sora})
    text = CONFIG % (EXTENSIONS, 2, RELAY % pf.smtp_port)
    srv.write_config(text)
    for u in USERS:
        admin(srv, "accounts", "create", "--email", u, "--password", "pw", "--hash", "ssha512")
    srv.start(text)
    pf.start()
    yield Env(srv, pf)
    pf.stop()


def lmtp(srv, rcpt, msg, sender="sender@remote.test"):
    with smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=T(30)) as m:
        return m.sendmail(sender, [rcpt], msg)


def imap(srv, user):
    m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    m.login(user, "pw")
    return m


def fetch_all(srv, user, mailbox="INBOX"):
    """[(flags bytes, message bytes)] of a mailbox."""
    m = imap(srv, user)
    typ, _ = m.select(f'"{mailbox}"', readonly=True)
    assert typ == "OK", mailbox
    typ, data = m.uid("SEARCH", None, "ALL")
    out = []
    for uid in data[0].split():
        typ, d = m.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
        out.append((d[0][0], d[0][1]))
    m.logout()
    return out


def wait_for(fn, timeout=40.0, what="condition"):
    deadline = time.monotonic() + T(timeout)
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def msg(subject, to="alice@example.org", sender="sender@remote.test", extra=""):
    return (f"From: Sender <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash(subject + extra))}@remote.test>\r\n{extra}\r\n"
            f"body of {subject}\r\n").encode()


def test_fileinto_flags_editheader_and_default_script(env):
    srv = env.srv
    put_script(srv, "alice@example.org", r'''
require ["fileinto", "imap4flags", "mailbox", "editheader"];
if header :contains "Subject" "invoice" {
    addheader "X-Filed" "by-sieve";
    fileinto :create :flags ["\\Flagged", "$Invoice"] "Finance/Invoices";
}
''')
    assert lmtp(srv, "alice@example.org", msg("Your invoice 42")) == {}
    assert lmtp(srv, "alice@example.org", msg("hello")) == {}
    # the user's script only keeps implicitly here: Sora's default applies
    assert lmtp(srv, "alice@example.org", msg("cheap pills", extra="X-Spam: Yes\r\n")) == {}
    assert lmtp(srv, "alice+News@example.org", msg("weekly news")) == {}
    filed = fetch_all(srv, "alice@example.org", "Finance/Invoices")
    assert len(filed) == 1
    flags, body = filed[0]
    assert b"\\Flagged" in flags and b"$Invoice" in flags, flags
    assert b"X-Filed: by-sieve\r\n" in body and b"Subject: Your invoice 42" in body
    inbox = fetch_all(srv, "alice@example.org")
    assert [re.search(rb"Subject: (.*)\r\n", b).group(1) for _, b in inbox] == [b"hello"]
    assert b"X-Filed" not in inbox[0][1]
    junk = fetch_all(srv, "alice@example.org", "Junk")
    assert len(junk) == 1 and b"cheap pills" in junk[0][1]
    news = fetch_all(srv, "alice@example.org", "news")  # the detail, lower-cased
    assert len(news) == 1 and b"weekly news" in news[0][1]


def test_reject_answers_550_and_stores_nothing(env):
    srv = env.srv
    put_script(srv, "alice@example.org", '''
require "reject";
if header :contains "Subject" "spam" {
    reject text:
Go away,
spammer
.
;
}
''')
    with Client(srv.port("lmtp"), timeout=T(30)) as c:
        c.readline()
        c.sendline("LHLO mta.test")
        c.smtp_reply()
        c.send(b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.org>\r\n"
               b"RCPT TO:<carol@remote.test>\r\nDATA\r\n")
        for _ in range(3):
            c.smtp_reply()
        assert c.smtp_reply()[0].startswith("354")
        c.send(msg("more spam") + b".\r\n")
        # one line, the reason as the script gave it (line breaks blanked)
        assert c.smtp_reply() == ["550 5.7.1 <alice@example.org> Go away,  spammer"]
        assert c.smtp_reply() == ["250 2.0.0 <carol@remote.test> Saved"]
    assert fetch_all(srv, "alice@example.org") == []
    srv.wait_log(r"event=lmtp\.rejected rcpt=alice@example\.org reason=\"?sieve reject")


def test_vacation_once_then_suppressed(env):
    srv = env.srv
    put_script(srv, "alice@example.org", '''
require "vacation";
vacation :days 1 :subject "Away: b\u00fcro geschlossen" "I am away until Monday.";
''')
    assert lmtp(srv, "alice@example.org", msg("question 1")) == {}
    replies = wait_for(lambda: fetch_all(srv, "sender@remote.test"), what="vacation reply")
    assert len(replies) == 1
    reply = replies[0][1]
    assert b"Auto-Submitted: auto-replied" in reply
    assert b"From: <alice@example.org>" in reply and b"To: <sender@remote.test>" in reply
    assert b"Subject: =?UTF-8?B?" in reply  # RFC 2047, the subject is not ASCII
    orig_id = re.search(rb"Message-ID: (<[^>]+>)", msg("question 1")).group(1)
    assert b"In-Reply-To: " + orig_id in reply and b"References: " + orig_id in reply
    assert b"I am away until Monday." in reply
    # the reply went through Postfix with a null return path
    env.postfix.wait_log(r"from=<>, size=")
    # a second message from the same sender in the period: no second reply
    assert lmtp(srv, "alice@example.org", msg("question 2")) == {}
    srv.wait_log(r"event=sieve\.vacation_suppressed account=alice@example\.org "
                 r"sender=sender@remote\.test reason=\"already replied\"")
    # suppression rules: lists, bulk, auto-submitted, null sender, not to us
    lmtp(srv, "alice@example.org", msg("list", sender="other@remote.test",
                                      extra="List-Id: <l.remote.test>\r\n"),
         sender="other@remote.test")
    lmtp(srv, "alice@example.org", msg("bulk", sender="other@remote.test",
                                      extra="Precedence: bulk\r\n"), sender="other@remote.test")
    lmtp(srv, "alice@example.org", msg("auto", sender="other@remote.test",
                                      extra="Auto-Submitted: auto-generated\r\n"),
         sender="other@remote.test")
    lmtp(srv, "alice@example.org", msg("bounce"), sender="")
    lmtp(srv, "alice@example.org", msg("bcc", to="someone@else.test",
                                      sender="other@remote.test"), sender="other@remote.test")
    for reason in ("mailing list", "precedence", "auto-submitted", "null sender",
                   "not addressed to the account"):
        srv.wait_log(rf"event=sieve\.vacation_suppressed account=alice@example\.org "
                     rf"sender=\S+ reason=\"{reason}\"")
    time.sleep(T(2))
    assert len(fetch_all(srv, "sender@remote.test")) == 1
    assert fetch_all(srv, "other@remote.test") == []
    # vacation keeps the original every time
    assert len(fetch_all(srv, "alice@example.org")) == 7


def test_redirect_through_postfix_with_loop_detection(env):
    srv = env.srv
    put_script(srv, "alice@example.org", 'redirect "carol@remote.test";\n')
    assert lmtp(srv, "alice@example.org", msg("forward me")) == {}
    got = wait_for(lambda: fetch_all(srv, "carol@remote.test"), what="redirected message")
    body = got[0][1]
    assert b"Subject: forward me" in body
    assert b"X-Sora-Loop: alice@example.org\r\n" in body
    assert b"X-Sora-Redirect-Hops: 1\r\n" in body
    assert fetch_all(srv, "alice@example.org") == []  # redirect cancels the keep
    srv.wait_log(r"event=relay\.sent id=\w+ type=redirect from=sender@remote\.test "
                 r"to=carol@remote\.test")
    # carol sends everything back to alice: the loop is refused by alice
    put_script(srv, "carol@remote.test", 'redirect "alice@example.org";\n')
    assert lmtp(srv, "alice@example.org", msg("ping pong")) == {}
    env.postfix.wait_log(r"to=<alice@example\.org>.*said: 550 5\.4\.6 <alice@example\.org> "
                         r"Mail loop detected")
    srv.wait_log(r"event=lmtp\.loop rcpt=alice@example\.org")


def test_redirect_hop_limit_and_rate_limit(env):
    srv = env.srv
    put_script(srv, "alice@example.org", 'redirect "carol@remote.test";\n')
    # already two hops old: max_redirect_hops = 2 keeps it here
    assert lmtp(srv, "alice@example.org",
                msg("old hops", extra="X-Sora-Redirect-Hops: 2\r\n")) == {}
    srv.wait_log(r"event=sieve\.redirect_hops account=alice@example\.org "
                 r"to=carol@remote\.test hops=2 max=2")
    assert len(fetch_all(srv, "alice@example.org")) == 1
    # redirect_rate_limit = 2 per hour: the third is kept in INBOX
    for i in range(3):
        assert lmtp(srv, "alice@example.org", msg(f"rate {i}")) == {}
    srv.wait_log(r"event=sieve\.redirect_rate_limited account=alice@example\.org "
                 r"to=carol@remote\.test count=2 limit=2")
    wait_for(lambda: len(fetch_all(srv, "carol@remote.test")) == 2, what="two redirects")
    inbox = fetch_all(srv, "alice@example.org")
    assert len(inbox) == 2 and b"Subject: rate 2" in inbox[1][1]


def test_relay_down_entry_is_durable_then_sent(env):
    srv = env.srv
    put_script(srv, "alice@example.org", 'redirect "carol@remote.test";\n')
    env.postfix.halt()
    assert lmtp(srv, "alice@example.org", msg("while the relay is down")) == {}
    pending = srv.dir / "relay" / "pending"
    def tried():
        out = []
        for p in pending.glob("*.json"):
            try:  # the worker may be moving it right now
                e = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            if e["attempts"] >= 1:
                out.append(e)
        return out

    entries = wait_for(tried, what="a failed attempt")
    e = entries[0]
    assert e["type"] == "redirect" and e["to"] == "carol@remote.test"
    assert e["from"] == "sender@remote.test" and e["errors"], e
    def queued_bytes():
        for d in ("pending", "processing"):
            try:
                return (srv.dir / "relay" / d / f"{e['id']}.msg").read_bytes()
            except OSError:
                continue
        return None

    assert wait_for(queued_bytes, what="the .msg").startswith(b"X-Sora-Loop: alice@")
    env.postfix.start()
    got = wait_for(lambda: fetch_all(srv, "carol@remote.test"), what="the queued redirect")
    assert len(got) == 1 and b"while the relay is down" in got[0][1]
    wait_for(lambda: not list(pending.glob("*")), what="an empty queue")


def test_no_relay_redirect_falls_back_to_inbox(sora):
    srv = sora.new()
    text = CONFIG % (EXTENSIONS, 100, "")
    srv.write_config(text)
    admin(srv, "accounts", "create", "--email", "alice@example.org", "--password", "pw",
          "--hash", "ssha512")
    srv.start(text)
    put_script(srv, "alice@example.org", 'redirect "carol@remote.test";\n')
    assert lmtp(srv, "alice@example.org", msg("nowhere to go")) == {}
    srv.wait_log(r"event=sieve\.redirect_no_relay account=alice@example\.org")
    inbox = fetch_all(srv, "alice@example.org")
    assert len(inbox) == 1 and b"nowhere to go" in inbox[0][1]


@pytest.mark.parametrize("relay,problem", [
    ('[relay]\ntype = "http"\n', r'relay\.type: "http" is not available in this build'),
    ('[relay]\ntype = "smtp"\n', r'relay\.smtp_host: required when relay\.type = "smtp"'),
    ('[relay]\ntype = "smtp"\nsmtp_host = "h:25"\n[relay.queue]\nretry_backoff = ["soon"]\n',
     r'relay\.queue\.retry_backoff\[0\]'),
    ('[relay]\ntype = "smtp"\nsmtp_host = "h:25"\nsmtp_username = "u"\n',
     r'relay\.smtp_username: relay\.smtp_username and relay\.smtp_password go together'),
])
def test_relay_config_errors(tmp_path, relay, problem):
    from sora_testlib import SORA_BIN
    cfg = tmp_path / "sora.toml"
    cfg.write_text(f'[database]\npath = "{tmp_path}/sora.db"\n{relay}')
    r = subprocess.run([str(SORA_BIN), "--config", str(cfg), "--check"], capture_output=True,
                       text=True, timeout=T(30))
    assert r.returncode == 2, r.stdout + r.stderr
    assert re.search(rf"sora\.toml:\d+: {problem}", r.stderr), r.stderr


def test_relay_gives_up_after_max_attempts_with_circuit_breaker(sora):
    from sora_testlib import free_port
    srv = sora.new()
    relay = f"""
    [relay]
    type = "smtp"
    smtp_host = "127.0.0.1:{free_port()}"
    smtp_tls = false

    [relay.queue]
    path = "{{dir}}/relay"
    worker_interval = "1s"
    retry_backoff = ["1s"]
    max_attempts = 2
    circuit_breaker_threshold = 1
    circuit_breaker_timeout = "3s"
"""
    text = CONFIG % (EXTENSIONS, 100, relay)
    srv.write_config(text)
    admin(srv, "accounts", "create", "--email", "alice@example.org", "--password", "pw",
          "--hash", "ssha512")
    srv.start(text)
    put_script(srv, "alice@example.org",
               'require "copy";\nredirect :copy "carol@remote.test";\n')
    assert lmtp(srv, "alice@example.org", msg("nobody listens")) == {}
    assert len(fetch_all(srv, "alice@example.org")) == 1  # :copy keeps it
    srv.wait_log(r"event=relay\.retry id=\w+ type=redirect to=carol@remote\.test attempts=1")
    srv.wait_log(r"event=relay\.circuit_open failures=1 until_in=3s")
    srv.wait_log(r"event=relay\.failed id=\w+ type=redirect to=carol@remote\.test attempts=2",
                 timeout=30)
    failed = list((srv.dir / "relay" / "failed").glob("*.json"))
    assert len(failed) == 1
    e = json.loads(failed[0].read_text())
    assert e["attempts"] == 2 and len(e["errors"]) == 2 and e["last_attempt"]
    assert failed[0].with_suffix(".msg").exists()
    assert not list((srv.dir / "relay" / "pending").glob("*"))
    # the breaker held the second attempt back for its timeout
    times = re.findall(r"^(\S+) warn .*event=relay\.(?:retry|failed) ", srv.log(), re.M)
    assert len(times) == 2
    from datetime import datetime
    t0, t1 = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times)
    assert (t1 - t0).total_seconds() >= 2.5, times


def test_script_that_no_longer_compiles_is_an_implicit_keep(sora):
    """A stored script that fails to compile at delivery (here: editheader
    was switched off after it was uploaded) never loses mail: the default
    script and the implicit keep apply, and the log says why."""
    srv = sora.new()
    text = CONFIG % (EXTENSIONS, 100, "")
    srv.write_config(text)
    admin(srv, "accounts", "create", "--email", "alice@example.org", "--password", "pw",
          "--hash", "ssha512")
    put_script(srv, "alice@example.org", 'require "editheader";\naddheader "X-A" "b";\ndiscard;\n')
    text = CONFIG % ('[]', 100, "")  # the default set: no editheader
    srv.start(text)
    assert lmtp(srv, "alice@example.org", msg("still here")) == {}
    srv.wait_log(r"event=sieve\.compile_failed account=alice@example\.org script=main error=")
    inbox = fetch_all(srv, "alice@example.org")
    assert len(inbox) == 1 and b"still here" in inbox[0][1] and b"X-A: b" not in inbox[0][1]


def test_vacation_from_only_for_owned_addresses(env):
    srv = env.srv
    admin(srv, "credentials", "add", "--primary", "alice@example.org", "--email",
          "office@example.org", "--password", "pw2")
    put_script(srv, "alice@example.org", '''
require "vacation";
if header :contains "Subject" "owned" {
    vacation :from "office@example.org" :handle "owned" "Reply from the office address.";
} else {
    vacation :from "ceo@bigbank.test" :handle "forged" "Reply that must not be forged.";
}
''')
    assert lmtp(srv, "alice@example.org", msg("owned one")) == {}
    assert lmtp(srv, "alice@example.org", msg("forged one"), sender="other@remote.test") == {}
    a = wait_for(lambda: fetch_all(srv, "sender@remote.test"), what="first reply")[0][1]
    b = wait_for(lambda: fetch_all(srv, "other@remote.test"), what="second reply")[0][1]
    assert b"From: <office@example.org>" in a and b"office address" in a
    # :from an address alice does not own: her primary address instead
    assert b"From: <alice@example.org>" in b and b"ceo@bigbank" not in b


def test_specialuse_and_mailboxid_targets(sora):
    srv = sora.new()
    exts = ('["fileinto", "special-use", "mailboxid", "mailbox", "imap4flags"]')
    text = CONFIG % (exts, 100, "")
    srv.write_config(text)
    admin(srv, "accounts", "create", "--email", "alice@example.org", "--password", "pw",
          "--hash", "ssha512")
    srv.start(text)
    m = imap(srv, "alice@example.org")
    m.create("Archive/2026")
    m.select('"Archive/2026"')
    archive_id = re.search(rb"MAILBOXID \((M\d+)\)", b" ".join(
        x if isinstance(x, bytes) else b"" for x in m.untagged_responses.get("OK", []))).group(1)
    m.logout()
    put_script(srv, "alice@example.org", f'''
require ["fileinto", "special-use", "mailboxid", "mailbox"];
if header :is "Subject" "su" {{ fileinto :specialuse "\\\\Junk" "Spam"; }}
elsif header :is "Subject" "id" {{ fileinto :mailboxid "{archive_id.decode()}" "Elsewhere"; }}
elsif header :is "Subject" "noid" {{ fileinto :mailboxid "M999999" :create "Fallback"; }}
''')
    for subj in ("su", "id", "noid"):
        assert lmtp(srv, "alice@example.org", msg(subj)) == {}
    # \\Junk is Sora's default Junk mailbox; "Spam" is not created
    assert len(fetch_all(srv, "alice@example.org", "Junk")) == 1
    assert len(fetch_all(srv, "alice@example.org", "Archive/2026")) == 1
    assert len(fetch_all(srv, "alice@example.org", "Fallback")) == 1
    m = imap(srv, "alice@example.org")
    names = b" ".join(m.list()[1])
    m.logout()
    assert b"Spam" not in names and b"Elsewhere" not in names


def test_alias_with_detail_seen_as_primary_with_detail(sora):
    srv = sora.new()
    text = CONFIG % (EXTENSIONS, 100, "")
    srv.write_config(text)
    admin(srv, "accounts", "create", "--email", "alice@example.org", "--password", "pw",
          "--hash", "ssha512")
    admin(srv, "credentials", "add", "--primary", "alice@example.org", "--email",
          "office@example.org", "--password", "pw2")
    srv.start(text)
    put_script(srv, "alice@example.org", '''
require ["envelope", "fileinto", "mailbox"];
if envelope :all :is "to" "alice+reports@example.org" { fileinto :create "ViaAlias"; }
''')
    assert lmtp(srv, "office+Reports@example.org", msg("alias detail")) == {}
    assert lmtp(srv, "alice+reports@example.org", msg("primary detail")) == {}
    got = fetch_all(srv, "alice@example.org", "ViaAlias")
    assert len(got) == 2
    assert got[0][1].startswith(b"Delivered-To: alice@example.org\r\n")


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_relay_over_tls(sora, certs, mode):
    """The relay client speaks TLS: STARTTLS (smtp_use_starttls, Postfix
    requiring it) or implicit TLS (smtp_tls, Postfix in wrapper mode)."""
    srv = sora.new()
    tls_main = (f"smtpd_tls_cert_file = {certs.chain}\nsmtpd_tls_key_file = {certs.key}\n"
                "smtpd_tls_loglevel = 1\n")
    if mode == "starttls":
        pf = Postfix({"remote.test": f"lmtp:inet:127.0.0.1:{srv.port('lmtp')}"},
                     extra_main=tls_main + "smtpd_tls_security_level = encrypt\n")
        relay_tls = "smtp_tls = false\nsmtp_use_starttls = true\n"
    else:
        pf = Postfix({"remote.test": f"lmtp:inet:127.0.0.1:{srv.port('lmtp')}"},
                     extra_main=tls_main,
                     smtpd_opts=" -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt")
        relay_tls = "smtp_tls = true\n"
    relay = (RELAY % pf.smtp_port).replace("smtp_tls = false\n", "") \
        .replace('[relay]\n', '[relay]\n' + relay_tls + "smtp_tls_verify = false\n")
    text = CONFIG % (EXTENSIONS, 100, relay)
    srv.write_config(text)
    for u in ("alice@example.org", "carol@remote.test"):
        admin(srv, "accounts", "create", "--email", u, "--password", "pw", "--hash", "ssha512")
    srv.start(text)
    pf.start()
    try:
        put_script(srv, "alice@example.org", 'redirect "carol@remote.test";\n')
        assert lmtp(srv, "alice@example.org", msg(f"over {mode}")) == {}
        try:
            got = wait_for(lambda: fetch_all(srv, "carol@remote.test"), what="the redirect")
        except AssertionError:
            raise AssertionError(pf.log()[-3000:])
        assert b"over " + mode.encode() in got[0][1]
        pf.wait_log(r"TLS connection established from localhost\[127\.0\.0\.1\]")
    finally:
        pf.stop()


@pytest.mark.parametrize("password", ["relay-secret", "not-the-relay-secret"])
def test_relay_smtp_auth_over_starttls(sora, certs, password):
    """SMTP AUTH to a relay that accepts nothing without it (Postfix with
    Cyrus SASL): the right password relays; a wrong one is a 535, final,
    so the entry goes to failed/ at once, and the password is never logged."""
    srv = sora.new()
    pf = Postfix({"remote.test": f"lmtp:inet:127.0.0.1:{srv.port('lmtp')}"},
                 extra_main=(f"smtpd_tls_cert_file = {certs.chain}\n"
                             f"smtpd_tls_key_file = {certs.key}\n"
                             "smtpd_tls_security_level = encrypt\n"
                             "smtpd_tls_auth_only = yes\n"),
                 sasl_users={"relayuser@mx.postfix.test": "relay-secret"})
    relay = (RELAY % pf.smtp_port).replace(
        "smtp_tls = false\n",
        "smtp_tls = false\nsmtp_use_starttls = true\nsmtp_tls_verify = false\n"
        f'smtp_username = "relayuser@mx.postfix.test"\nsmtp_password = "{password}"\n')
    text = CONFIG % (EXTENSIONS, 100, relay)
    srv.write_config(text)
    for u in ("alice@example.org", "carol@remote.test"):
        admin(srv, "accounts", "create", "--email", u, "--password", "pw", "--hash", "ssha512")
    srv.start(text)
    pf.start()
    try:
        put_script(srv, "alice@example.org", 'redirect "carol@remote.test";\n')
        assert lmtp(srv, "alice@example.org", msg("authenticated")) == {}
        if password != "relay-secret":
            srv.wait_log(r"event=relay\.failed id=\w+ type=redirect to=carol@remote\.test "
                         r"attempts=1 error=.*535", timeout=30)
            assert len(list((srv.dir / "relay" / "failed").glob("*.json"))) == 1
        else:
            got = wait_for(lambda: fetch_all(srv, "carol@remote.test"), what="the redirect")
            assert b"authenticated" in got[0][1]
            pf.wait_log(r"sasl_method=PLAIN, sasl_username=relayuser@mx\.postfix\.test")
        assert password not in srv.log()
    finally:
        pf.stop()
