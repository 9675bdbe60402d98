#!/usr/bin/python3
"""sora vs Dovecot 2.3, side by side on this machine (`make bench`).

Runs the same load generators (load.py) against sora (embedded: SQLite +
local blobs) and Dovecot (Maildir, passwd-file), one after the other, with
the same users, passwords, corpus and warm-up, and writes
bench/results/<date>.json, <date>.md and PNG charts (gnuplot).

  BENCH_QUICK=1   reduced sizes (< 3 min): keeps the scripts working in CI
  SORA_BIN        the sora binary (bench/run.sh builds a release one)
  BENCH_ONLY      comma list of sections to run (mixed,lmtp,pop3,login,push,idle,big,s3)
  BENCH_OUT       results directory (default bench/results)

Numbers are never a failure: the exit status is non-zero only when a
script or a server broke (a server died, a setup step failed). Protocol
errors during a load are counted and printed loudly.
"""

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lib  # noqa: E402
import load  # noqa: E402
from lib import DOMAIN, PASSWORD, log  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
P = {
    "mixed_clients": [10, 50] if QUICK else [10, 50, 200],
    "mixed_seconds": 2 if QUICK else 10,
    "warmup": 1 if QUICK else 3,
    "prefill": 10 if QUICK else 25,
    "lmtp_clients": [1, 4] if QUICK else [1, 4, 16],
    "lmtp_seconds": 2 if QUICK else 8,
    "login_clients": [1, 8] if QUICK else [1, 8, 64],
    "bcrypt_logins": 8 if QUICK else 32,
    "login_seconds": 2 if QUICK else 5,
    "idle_n": 100 if QUICK else 10000,
    "idle_hold": 4 if QUICK else 5,
    "big_n": 1000 if QUICK else 100000,
    "big10k_n": 300 if QUICK else 10000,
    "pop3_clients": [1, 4] if QUICK else [1, 4, 16],
    "pop3_seconds": 2 if QUICK else 8,
    "pop3_msgs": 8 if QUICK else 16,
    "bcrypt_samples": 3 if QUICK else 7,
    "push_samples": 3 if QUICK else 12,
    "s3_mixed_clients": [10] if QUICK else [10, 50],
    "s3_lmtp_clients": [4] if QUICK else [1, 4, 16],
}
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))


def want(section):
    return not ONLY or section in ONLY


class Broken(Exception):
    """A script or server failure (not a number)."""


def run(coro):
    return asyncio.run(coro)


def salt(local):
    return (local.encode() + b"-salt-0123456789")[:16]


def users_plan():
    n_mix = max(P["mixed_clients"] + P["s3_mixed_clients"])
    plan = [(f"mix{i}", "ssha") for i in range(n_mix)]
    plan += [(f"sink{i}", "ssha") for i in range(16)]
    plan += [(f"pop{i}", "ssha") for i in range(max(P["pop3_clients"]))]
    plan += [("ssha", "ssha"), ("bcrypt", "bcrypt"), ("probe", "ssha"), ("push", "ssha"),
             ("idle", "ssha")]
    return plan


def create_users(servers, plan):
    """The same users with the same stored hashes on every server: {SSHA512}
    made here, bcrypt-12 made by sora-admin and copied to Dovecot."""
    sora = next(s for s in servers if isinstance(s, lib.Sora))
    sora_users = [(u, lib.ssha512(PASSWORD, salt(u)) if k == "ssha" else None) for u, k in plan]
    sora.add_users(sora_users)
    stored = [(u, sora.stored_hash(u)) for u, _ in plan]
    for s in servers:
        if s is not sora:
            s.add_users(stored)


def creds(srv, local):
    return srv.login_name(local)


def settle(srv, limit=60.0):
    """Waits until the server is (nearly) idle: work queued by a load that
    was cut off must not be billed to the next one."""
    end = time.monotonic() + limit
    last = srv.cpu()
    while time.monotonic() < end:
        time.sleep(0.5)
        now = srv.cpu()
        if now - last < 0.05:
            return
        last = now


PERF = os.environ.get("BENCH_PERF", "") not in ("", "0")
PERF_OUT = {}


def profile(srv, label, coro):
    """An extra, unrecorded run of a load under `perf record -g` (perf
    slows the server, so the measured runs are never profiled); keeps the
    top of `perf report` for the results directory."""
    data = srv.dir / f"perf-{label}.data"
    secs = P["warmup"] + P["mixed_seconds"]
    rec = subprocess.Popen(["perf", "record", "-g", "-o", str(data), "-p", str(srv.proc.pid),
                            "--", "sleep", str(secs)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    log(f"[{srv.name}] perf record during {label}")
    run(coro)
    _, err = rec.communicate(timeout=120)
    text = ""
    for sort, limit in (("dso", "0.5"), ("dso,symbol", "0.7")):
        r = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                            "--percent-limit", limit, "-g", "none", "--sort", sort],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            text += f"perf report failed: {r.stderr[-500:]} {err.decode()[-500:]}\n"
            break
        text += "\n".join(ln for ln in r.stdout.splitlines()
                          if ln.strip() and not ln.startswith("# (Tip")) + "\n\n"
    PERF_OUT[label] = text
    data.unlink(missing_ok=True)
    settle(srv)


def check_alive(srv):
    if not srv.alive():
        raise Broken(f"{srv.name} died; log tail:\n{srv.log_tail()}")


# --------------------------------------------------------------------------
# sections

def section_workloads(srv, corpus, res, s3=False):
    """Mixed IMAP, LMTP, logins, push on one running server."""
    name = srv.name
    mixed_clients = P["s3_mixed_clients"] if s3 else P["mixed_clients"]
    lmtp_clients = P["s3_lmtp_clients"] if s3 else P["lmtp_clients"]
    if want("mixed") or s3:
        log(f"[{name}] prefill: {P['prefill']} small messages × {max(mixed_clients)} users "
            f"over LMTP")
        smalls = corpus.small()  # APPENDs in the load bring the big ones
        jobs = [(f"mix{i}", smalls[(i * 7919 + k) % len(smalls)])
                for k in range(P["prefill"]) for i in range(max(mixed_clients))]
        t = time.monotonic()
        run(load.lmtp_fill(srv.lmtp_port, jobs))
        res.setdefault("prefill_s", {})[name] = time.monotonic() - t
        for n in mixed_clients:
            log(f"[{name}] IMAP mixed, {n} clients, {P['mixed_seconds']} s")
            r = run(load.mixed(srv, corpus, n, P["warmup"], P["mixed_seconds"], P["prefill"]))
            res.setdefault("mixed", {}).setdefault(name, {})[str(n)] = r
            log(f"[{name}]   {r['total_per_s']:.0f} ops/s, errors {r['errors']}")
            check_alive(srv)
    if want("lmtp") or s3:
        for n in lmtp_clients:
            log(f"[{name}] LMTP, {n} clients, {P['lmtp_seconds']} s")
            r = run(load.lmtp_bench(srv, corpus, n, P["warmup"], P["lmtp_seconds"]))
            res.setdefault("lmtp", {}).setdefault(name, {})[str(n)] = r
            log(f"[{name}]   {r['msgs_per_s']:.0f} msgs/s, errors {r['errors']}")
            check_alive(srv)
    if PERF and isinstance(srv, lib.Sora) and not s3:
        profile(srv, "mixed-50", load.mixed(srv, corpus, 50, P["warmup"], P["mixed_seconds"],
                                            P["prefill"]))
        profile(srv, "lmtp-16", load.lmtp_bench(srv, corpus, 16, P["warmup"],
                                                P["lmtp_seconds"]))
    if s3:
        return
    if want("pop3"):
        boxes = pop3_mailboxes(corpus)
        log(f"[{name}] POP3 prefill: {len(boxes[next(iter(boxes))])} messages "
            f"({sum(map(len, boxes['pop0'])) / 1e6:.1f} MB) × {len(boxes)} users over LMTP")
        run(load.pop3_fill(srv.lmtp_port, boxes))
        for n in P["pop3_clients"]:
            log(f"[{name}] POP3 RETR, {n} clients, {P['pop3_seconds']} s")
            r = run(load.pop3_bench(srv, boxes, n, P["warmup"], P["pop3_seconds"]))
            res.setdefault("pop3", {}).setdefault(name, {})[str(n)] = r
            log(f"[{name}]   {r['msgs_per_s']:.0f} msgs/s, {r['mb_per_s']:.1f} MB/s, "
                f"errors {r['errors']}")
            check_alive(srv)
    if want("login"):
        # both successful: sora keeps the stored {SSHA512} (rehash_on_login = false)
        for scheme, local in (("SSHA512", "ssha"), ("bcrypt-12", "bcrypt")):
            user, pw = creds(srv, local)
            for n in P["login_clients"]:
                probe = None
                if scheme == "bcrypt-12" and n == max(P["login_clients"]):
                    probe = creds(srv, "probe")
                log(f"[{name}] logins {scheme}, {n} clients")
                # bcrypt: fixed work, bcrypt_logins in all, at least one per client
                per = max(1, P["bcrypt_logins"] // n) if scheme == "bcrypt-12" else None
                r = run(load.login_storm(srv, user, pw, True, n, 1.0, P["login_seconds"], probe,
                                         per_client=per))
                res.setdefault("login", {}).setdefault(name, {})[f"{scheme} {n}"] = r
                log(f"[{name}]   {r['per_s']:.1f}/s, errors {r['errors']}")
                settle(srv)
                check_alive(srv)
    if want("push"):
        for via in ("append", "lmtp"):
            log(f"[{name}] push latency via {via}")
            try:
                r = run(load.push_latency(srv, *creds(srv, "push"), corpus, P["push_samples"],
                                          via))
            except load.ImapError as e:
                r = {"error": str(e)}
            res.setdefault("push", {}).setdefault(name, {})[via] = r
            log(f"[{name}]   {r}")
            check_alive(srv)


def pop3_mailboxes(corpus):
    """{pop<i>: messages}: the same pop3_msgs corpus messages for every user,
    the ones nearest to sizes spaced evenly in log scale from 2 KB to 2 MB."""
    by_size = sorted(corpus.messages, key=len)
    n = P["pop3_msgs"]
    picked = []
    for j in range(n):
        want_len = 2048 * 1024 ** (j / (n - 1))
        m = min((m for m in by_size if not any(m is q for q in picked)),
                key=lambda m: abs(len(m) - want_len))
        picked.append(m)
    return {f"pop{i}": picked for i in range(max(P["pop3_clients"]))}


def bcrypt_hash_seconds(stored):
    """Wall time of one bcrypt-12 verification on this machine, one thread:
    libxcrypt's crypt() (the library Dovecot calls) on the stored hash both
    servers check; median of bcrypt_samples."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    stored = stored.split("}", 1)[1] if stored.startswith("{") else stored  # {BLF-CRYPT}
    times = []
    for _ in range(P["bcrypt_samples"]):
        t = time.perf_counter()
        ok = crypt.crypt(PASSWORD, stored) == stored
        times.append(time.perf_counter() - t)
        if not ok:
            raise Broken("crypt() does not verify the bench's bcrypt-12 hash")
    return sorted(times)[len(times) // 2]


def section_idle(make, label, res):
    srv = make()
    try:
        lib_users = [("idle", lib.ssha512(PASSWORD, salt("idle")))]
        srv.add_users(lib_users)
        srv.start()
        time.sleep(1.0)
        before = srv.memory()
        n = P["idle_n"]
        log(f"[{label}] idle: {n} connections (LOGIN, SELECT, IDLE)")

        async def go():
            t = time.monotonic()
            conns, errors = await load.open_idle(srv, *creds(srv, "idle"), n)
            secs = time.monotonic() - t
            await asyncio.sleep(P["idle_hold"])
            after = srv.memory()
            fds = len(conns)
            for c in conns:
                c.close()
            return fds, errors, secs, after

        served, errors, secs, after = run(go())
        check_alive(srv)
        r = {"requested": n, "served": served, "errors": len(errors),
             "error_samples": errors[:5], "connect_s": secs,
             "rss_before_kib": before[0], "pss_before_kib": before[1],
             "rss_after_kib": after[0], "pss_after_kib": after[1],
             "processes_after": after[2],
             "rss_kib_per_conn": (after[0] - before[0]) / served if served else None,
             "pss_kib_per_conn": (after[1] - before[1]) / served if served else None}
        res.setdefault("idle", {})[label] = r
        log(f"[{label}]   {r['pss_kib_per_conn']} KiB/conn (PSS), {served} served, "
            f"{after[2]} processes")
    finally:
        srv.stop()


def section_big(make, label, corpus, res):
    srv = make()
    n, n10k = P["big_n"], P["big10k_n"]
    smalls = corpus.small()
    onemb = corpus.one_mb_message()
    try:
        srv.add_users([("big", lib.ssha512(PASSWORD, salt("big"))),
                       ("big10k", lib.ssha512(PASSWORD, salt("big10k")))])
        srv.start()
        t = time.monotonic()
        if isinstance(srv, lib.Sora):
            log(f"[{label}] big mailbox: {n} + {n10k} messages over LMTP (16 connections)")
            jobs = [("big", corpus.big_mailbox_message(k, smalls)) for k in range(n - 1)]
            jobs.append(("big", onemb))
            jobs += [("big10k", corpus.big_mailbox_message(k, smalls)) for k in range(n10k)]
            run(load.lmtp_fill(srv.lmtp_port, jobs))
        else:
            log(f"[{label}] big mailbox: {n} + {n10k} Maildir files + doveadm force-resync")
            for user, count, last in (("big", n, onemb), ("big10k", n10k, None)):
                md = srv.maildir(user)
                for sub in ("cur", "new", "tmp"):
                    (md / sub).mkdir(parents=True, exist_ok=True)
                base = 1_700_000_000
                for k in range(count):
                    msg = last if (last is not None and k == count - 1) else \
                        corpus.big_mailbox_message(k, smalls)
                    p = md / "cur" / f"{base + k}.M{k}P1.bench,S={len(msg)}:2,"
                    p.write_bytes(msg)
                    os.utime(p, (base + k, base + k))
                subprocess.run(["chown", "-R", f"{lib.MAIL_USER}:", str(srv.dir / "mail")],
                               check=True)
                r = srv.doveadm("force-resync", "-u", f"{user}@{DOMAIN}", "INBOX")
                if r.returncode != 0:
                    raise Broken(f"doveadm force-resync: {r.stderr.strip()}")
        load_s = time.monotonic() - t
        log(f"[{label}]   loaded in {load_s:.0f} s; timing commands")

        async def go():
            c = await load.Imap.connect(srv.imap_port, timeout=600)
            await c.login(*creds(srv, "big"))
            await c.ok("EXAMINE INBOX", timeout=1800)
            _, lines = await c.ok("SEARCH LARGER 1000000", keep=True, timeout=1800)
            seq = int(b"".join(lines).split()[2])
            await c.ok("LOGOUT")
            c.close()
            return await load.big_mailbox(srv, *creds(srv, "big"), n, seq,
                                          creds(srv, "big10k"))

        r = run(go())
        r["load_s"] = load_s
        res.setdefault("big", {})[label] = r
        log(f"[{label}]   {r}")
        check_alive(srv)
    finally:
        srv.stop()


# --------------------------------------------------------------------------
# report

def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def cl(n):
    return f"{n} client" if n == 1 else f"{n} clients"


def targets(res):
    """The ratios issue #8 aims at, with the figure this run measured."""
    out = []

    def add(what, value, ok):
        out.append((what, value, "n/a" if ok is None else "met" if ok else "**not met**"))

    def r(sec, key, *path):
        d = res.get(sec, {})
        return ratio(get(d, "sora", *path, key), get(d, "dovecot", *path, key))

    def show(x, unit="×"):
        return "n/a" if x is None else f"{x:.2f}{unit}" if x >= 0.1 else f"{x:.2g}{unit}"

    if 50 in P["mixed_clients"]:
        x = r("mixed", "total_per_s", "50")
        add("IMAP mixed ops/s ≥ 3× Dovecot at 50 clients", show(x), None if x is None else x >= 3)
    n = max(P["lmtp_clients"])
    x = r("lmtp", "msgs_per_s", str(n))
    add(f"LMTP msgs/s ≥ 2× at {cl(n)} (fsync on both)", show(x), None if x is None else x >= 2)
    n = max(P["login_clients"])
    x = r("login", "per_s", f"SSHA512 {n}")
    add(f"{{SSHA512}} logins/s ≥ 3× at {cl(n)}", show(x), None if x is None else x >= 3)
    x = r("login", "per_s", f"bcrypt-12 {n}")
    add(f"bcrypt-12 logins/s ≥ 1.7× at {cl(n)}", show(x), None if x is None else x >= 1.7)
    idle = res.get("idle", {})
    s_kib = get(idle, "sora", "pss_kib_per_conn")
    h_kib = get(idle, "dovecot-hibernate", "pss_kib_per_conn")
    add("idle IDLE connection ≤ 10 KiB and below hibernating Dovecot",
        "n/a" if s_kib is None else f"{s_kib:.1f} KiB vs {fmt(h_kib)} KiB",
        None if s_kib is None or h_kib is None else s_kib <= 10 and s_kib < h_kib)
    for via in ("append", "lmtp"):
        p = get(res, "push", "sora", via, "p99_ms")
        add(f"push {via} → EXISTS < 100 ms (p99)", show(p, " ms"),
            None if not isinstance(p, (int, float)) else p < 100)
    x = r("big", "median_ms", "10k: FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)")
    add(f"{P['big10k_n']:,} msgs FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE) no slower "
        "(time ratio ≤ 1)", show(x), None if x is None else x <= 1)
    x = r("big", "median_ms", "10k: UID SEARCH TEXT")
    add(f"{P['big10k_n']:,} msgs UID SEARCH TEXT ≥ 10× faster (time ratio ≤ 0.1)", show(x),
        None if x is None else x <= 0.1)
    return out


def rows(res):
    """[(group, label, unit, better, sora, dovecot, sora_s3)] — values may be
    None (not run) or a string ("n/a (not implemented)")."""
    out = []
    mx = res.get("mixed", {})
    for n in P["mixed_clients"]:
        k = str(n)
        out.append(("IMAP mixed", f"ops/s, {cl(n)}", "ops/s", "higher",
                    get(mx, "sora", k, "total_per_s"), get(mx, "dovecot", k, "total_per_s"),
                    get(mx, "sora-s3", k, "total_per_s")))
        out.append(("IMAP mixed", f"ops per server CPU-second, {cl(n)}", "ops/CPU-s",
                    "higher", get(mx, "sora", k, "ops_per_cpu_s"),
                    get(mx, "dovecot", k, "ops_per_cpu_s"),
                    get(mx, "sora-s3", k, "ops_per_cpu_s")))
        ops = sorted(set(get(mx, "sora", k, "ops") or {}) | set(get(mx, "dovecot", k, "ops") or {}))
        for op in ops:
            for q in ("p50_ms", "p99_ms"):
                out.append(("IMAP mixed", f"{op} {q[:3]}, {cl(n)}", "ms", "lower",
                            get(mx, "sora", k, "ops", op, q), get(mx, "dovecot", k, "ops", op, q),
                            get(mx, "sora-s3", k, "ops", op, q)))
        out.append(("IMAP mixed", f"errors, {cl(n)}", "count", "lower",
                    get(mx, "sora", k, "errors"), get(mx, "dovecot", k, "errors"),
                    get(mx, "sora-s3", k, "errors")))
    lm = res.get("lmtp", {})
    for n in P["lmtp_clients"]:
        k = str(n)
        for key, unit, better in (("msgs_per_s", "msgs/s", "higher"),
                                  ("mb_per_s", "MB/s", "higher"),
                                  ("msgs_per_cpu_s", "msgs/CPU-s", "higher"),
                                  ("p50_ms", "ms p50", "lower"), ("p99_ms", "ms p99", "lower"),
                                  ("errors", "errors", "lower")):
            out.append(("LMTP delivery", f"{unit}, {cl(n)}", unit, better,
                        get(lm, "sora", k, key), get(lm, "dovecot", k, key),
                        get(lm, "sora-s3", k, key)))
    po = res.get("pop3", {})
    for n in P.get("pop3_clients", []):
        k = str(n)
        for key, unit, better in (("msgs_per_s", "msgs/s", "higher"),
                                  ("mb_per_s", "MB/s", "higher"),
                                  ("msgs_per_cpu_s", "msgs/CPU-s", "higher"),
                                  ("server_cpu_s", "server CPU-s", "lower"),
                                  ("p50_ms", "ms p50", "lower"), ("p99_ms", "ms p99", "lower"),
                                  ("errors", "errors", "lower")):
            out.append(("POP3 RETR", f"{unit}, {cl(n)}", unit, better,
                        get(po, "sora", k, key), get(po, "dovecot", k, key), None))
    lg = res.get("login", {})
    t_hash = res.get("bcrypt_hash_s")
    cores = os.cpu_count() or 1
    if t_hash:
        out.append(("Logins", "t_hash: one bcrypt-12 hash on this machine (ms, one thread)",
                    "machine", "–", t_hash * 1e3, t_hash * 1e3, None))
    for scheme in ("SSHA512", "bcrypt-12"):
        for n in P["login_clients"]:
            k = f"{scheme} {n}"
            out.append(("Logins", f"{{SSHA512}} logins/s, {cl(n)}" if scheme == "SSHA512"
                        else f"bcrypt-12 logins/s, {cl(n)}", "/s", "higher",
                        get(lg, "sora", k, "per_s"), get(lg, "dovecot", k, "per_s"), None))
            if scheme == "bcrypt-12" and t_hash:
                # the physical ceiling: min(clients, cores) hashes in parallel
                ceil = min(n, cores) / t_hash
                out.append(("Logins", f"bcrypt-12 ceiling min(clients, cores) ÷ t_hash, "
                            f"{cl(n)}", "machine", "–", ceil, ceil, None))
                s_, d_ = get(lg, "sora", k, "per_s"), get(lg, "dovecot", k, "per_s")
                out.append(("Logins", f"bcrypt-12 fraction of that ceiling, {cl(n)}", "",
                            "higher", None if s_ is None else s_ / ceil,
                            None if d_ is None else d_ / ceil, None))
            what = "{SSHA512}" if scheme == "SSHA512" else scheme
            out.append(("Logins", f"{what} logins per server CPU-second, {cl(n)}", "/CPU-s",
                        "higher", get(lg, "sora", k, "per_cpu_s"),
                        get(lg, "dovecot", k, "per_cpu_s"), None))
            out.append(("Logins", f"{what} p99, {cl(n)}", "ms", "lower",
                        get(lg, "sora", k, "p99_ms"), get(lg, "dovecot", k, "p99_ms"), None))
            out.append(("Logins", f"{what} errors, {cl(n)}", "count", "lower",
                        get(lg, "sora", k, "errors"), get(lg, "dovecot", k, "errors"), None))
            if scheme == "bcrypt-12" and n == max(P["login_clients"]):
                for q in ("noop_p50_ms", "noop_p99_ms"):
                    out.append(("Logins", f"NOOP {q[5:8]} on another connection during the "
                                f"bcrypt storm", "ms", "lower", get(lg, "sora", k, q),
                                get(lg, "dovecot", k, q), None))
    idle = res.get("idle", {})
    for dlabel, text in (("dovecot", "Dovecot without hibernation"),
                         ("dovecot-hibernate", "Dovecot with imap_hibernate_timeout = 2s")):
        out.append(("Idle IDLE connections", f"KiB per connection (PSS), vs {text}", "KiB",
                    "lower", get(idle, "sora", "pss_kib_per_conn"),
                    get(idle, dlabel, "pss_kib_per_conn"), None))
    out.append(("Idle IDLE connections", "connections served", "count", "higher",
                get(idle, "sora", "served"), get(idle, "dovecot", "served"), None))
    big = res.get("big", {})
    for op in ("SELECT", "FETCH 1:* (UID FLAGS)", "UID SEARCH TEXT", "SORT (DATE)",
               "FETCH 1 MB body", "10k: FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)",
               "10k: UID SEARCH TEXT"):
        vals = []
        for s in ("sora", "dovecot"):
            d = get(big, s, op)
            vals.append(None if d is None else
                        "n/a (not implemented)" if "na" in d else d["median_ms"])
        if op.startswith("10k: "):
            label = f"{P['big10k_n']:,} msgs: {op[5:]}"
        else:
            label = f"{P['big_n']:,} msgs: {op}"
        out.append(("Big mailbox", label + " (median of 3)", "ms", "lower", *vals, None))
    push = res.get("push", {})
    for via in ("append", "lmtp"):
        for q in ("p50_ms", "p99_ms"):
            vals = []
            for s in ("sora", "dovecot"):
                d = get(push, s, via)
                vals.append(None if d is None else d.get(q, "error: " + d.get("error", "?")))
            out.append(("Push (IDLE)", f"{via} → EXISTS {q[:3]}", "ms", "lower", *vals, None))
    return out


def ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return a / b
    return None


def markdown(res, meta):
    lines = [f"# sora vs Dovecot — {meta['date']}", "",
             f"Machine: {meta['cpus']} CPUs ({meta['cpu_model']}), {meta['mem_gib']} GiB RAM, "
             f"{meta['kernel']}; load average at start {meta['loadavg_start']:.1f}, at end "
             f"{meta['loadavg_end']:.1f}. {meta['sora_version']} ({meta['sora_build']}), "
             f"{meta['dovecot_version']}. Mode: {'QUICK' if QUICK else 'full'}; "
             f"wall time {meta['wall_s']:.0f} s. Corpus: {meta['corpus_messages']} messages, "
             f"{meta['corpus_mb']:.1f} MB, sha256 {meta['corpus_sha256'][:16]}….", "",
             "Both servers: loopback, plaintext (same TLS setting: none), fsync on (sora: SQLite "
             "`synchronous=FULL`; Dovecot: `mail_fsync = always`), same users and stored "
             "password hashes, same corpus, same warm-up, load generator in Python asyncio on "
             "the same 2 cores (its CPU competes with the server's). Ratio = sora / Dovecot; "
             "the \"better\" column says which direction wins.", ""]
    if meta.get("noise"):
        lines += [f"**Noise:** {meta['noise']}", ""]
    lines += ["| group | benchmark | better | sora | Dovecot | sora/Dovecot | sora S3+enc |",
              "|---|---|---|---:|---:|---:|---:|"]
    for g, label, unit, better, s, d, s3 in rows(res):
        if s is None and d is None and s3 is None:
            continue
        r = None if unit == "machine" else ratio(s, d)  # the same figure for both
        rs = (f"{r:.2f}×" if r >= 0.1 else f"{r:.2g}×") if r is not None else "–"
        lines.append(f"| {g} | {label} | {better} | {fmt(s)} | {fmt(d)} | {rs} | "
                     f"{fmt(s3) if s3 is not None else ''} |")
    lines += ["", "## Targets (issue #8)", "", "| target | this run | |", "|---|---:|---|"]
    lines += [f"| {w} | {v} | {ok} |" for w, v, ok in targets(res)]
    errs = []
    for sec in ("mixed", "lmtp", "pop3", "login"):
        for srv, byn in res.get(sec, {}).items():
            for k, r in byn.items():
                if r.get("errors"):
                    errs.append(f"- **{sec} {srv} {k}: {r['errors']} errors**, e.g. "
                                f"`{r['error_samples'][0]}`")
    for srv, r in res.get("idle", {}).items():
        if r.get("errors"):
            errs.append(f"- **idle {srv}: {r['errors']} errors**, e.g. `{r['error_samples'][0]}`")
    if errs:
        lines += ["", "## ERRORS", ""] + errs
    if res.get("failures"):
        lines += ["", "## Sections that broke", ""] + [f"- {f}" for f in res["failures"]]
    lines += ["", "## Notes", "",
              "- Logins inside the mixed, idle, push, POP3 and big-mailbox workloads check "
              "the same stored {SSHA512} hash on both sides (sora with `[auth] "
              "rehash_on_login = false`, so the hash is never rewritten to bcrypt). Login "
              "cost itself is the \"Logins\" group.",
              "- Logins: a new connection per login, each from its own 127.x.y.z, every one a "
              "successful login (a NO counts as an error). {SSHA512} rows: timed window. "
              "bcrypt-12 rows: the same `$2b$12$` hash on both, fixed work (bcrypt_logins in "
              "all, split over the clients; rate = logins / time to the last one), since a "
              "time window would cut a queue of hashes arbitrarily. t_hash = median wall "
              "time of one libxcrypt `crypt()` verification of that hash in one thread, "
              "measured in the same run (load average then: "
              + (f"{res['bcrypt_hash_loadavg']:.1f}"
                 if res.get("bcrypt_hash_loadavg") is not None else "n/a")
              + "); ceiling = min(clients, cores) ÷ t_hash, the most logins/s the CPUs "
              "allow with that many hashes in flight; other load on the machine lowers the "
              "fraction for both servers alike.",
              "- POP3 RETR: client i logs in once (USER/PASS) to its own maildrop, prefilled "
              "over LMTP with the same " + str(P.get("pop3_msgs", "?")) + " corpus messages "
              "(sizes log-spaced 2 KB – 2 MB), and RETRs them in random order; each body is "
              "dot-unstuffed and must have the LIST size and end with the delivered bytes, "
              "else it counts as an error, not a message. MB/s counts unstuffed bytes "
              "(including the servers' own trace headers); server CPU-s is over the "
              "measured window.",
              "- Idle: memory per connection = (sum of PSS over the server's process tree "
              "after N idle IDLE connections − before) / N; Dovecot forks an imap process "
              "per session (hibernated ones move to imap-hibernate).",
              "- Big mailbox: sora loaded over LMTP (16 pipelined connections), Dovecot by "
              "writing Maildir files and `doveadm force-resync`; each command is run 3 times, "
              "median shown (the first, cold, run is in the JSON).",
              "- Push: time from the last byte of the APPEND literal / LMTP DATA to `* n EXISTS` "
              "at another connection in IDLE on the same mailbox.",
              "- sora S3+enc: s3rver 3.7.1 (Node.js, same machine) as the bucket, AES-256-GCM "
              "client-side encryption; s3rver's CPU is not in the server CPU figure.",
              ""]
    gen = []
    for sec in ("mixed", "lmtp", "pop3"):
        for srv, byn in res.get(sec, {}).items():
            for k, r in byn.items():
                if r.get("loadgen_cpu_s") is not None:
                    gen.append(f"{sec} {srv} {k}: {r['loadgen_cpu_s'] / r['seconds']:.2f}")
    if gen:
        lines.insert(-1, "- Load generator CPU (cores busy, of 2) during each window: "
                     + "; ".join(gen) + ".")
    if meta.get("analysis"):
        lines.append(f"- Where sora is behind and what limits it (written after the run): "
                     f"[{meta['analysis']}]({meta['analysis']}).")
    if meta.get("profiles"):
        lines.append("- perf profiles of sora (separate, unrecorded runs): "
                     + ", ".join(f"[{p}]({p})" for p in meta["profiles"]) + ".")
    charts = meta.get("charts") or []
    for c in charts:
        lines.append(f"![{c}]({c})")
    return "\n".join(lines) + "\n"


def charts(res, outdir, stem):
    """gnuplot PNGs: throughput vs concurrency. Returns file names."""
    made = []
    specs = [("mixed", "total_per_s", "IMAP mixed workload", "ops/s", P["mixed_clients"]),
             ("lmtp", "msgs_per_s", "LMTP delivery", "messages/s", P["lmtp_clients"]),
             ("pop3", "mb_per_s", "POP3 RETR", "MB/s", P.get("pop3_clients", []))]
    login = res.get("login", {})
    for sec, key, title, ylabel, xs in specs:
        data = res.get(sec, {})
        if not data:
            continue
        dat = outdir / f"{stem}-{sec}.dat"
        servers = [s for s in ("sora", "dovecot", "sora-s3") if s in data]
        with open(dat, "w") as f:
            f.write("# clients " + " ".join(servers) + "\n")
            for x in xs:
                vals = [get(data, s, str(x), key) for s in servers]
                f.write(f"{x} " + " ".join("NaN" if v is None else f"{v:.3f}" for v in vals)
                        + "\n")
        png = f"{stem}-{sec}.png"
        plots = ", ".join(f"'{dat}' using 1:{i + 2} with linespoints lw 2 title '{s}'"
                          for i, s in enumerate(servers))
        script = (f"set terminal pngcairo size 800,500\nset output '{outdir / png}'\n"
                  f"set title '{title} (throughput vs concurrency)'\nset xlabel 'clients'\n"
                  f"set ylabel '{ylabel}'\nset logscale x\nset key right top\nset grid\n"
                  f"set xrange [{xs[0] * 0.8}:{xs[-1] * 1.25}]\n"
                  f"set xtics ({', '.join(str(x) for x in xs)})\n"
                  f"set yrange [0:*]\nplot {plots}\n")
        if _gnuplot(script):
            made.append(png)
        dat.unlink()
    if login:
        dat = outdir / f"{stem}-login.dat"
        with open(dat, "w") as f:
            for n in P["login_clients"]:
                f.write(f"{n} " + " ".join(
                    f"{get(login, s, f'{sc} {n}', 'per_s') or 0:.3f}"
                    for sc in ("SSHA512", "bcrypt-12") for s in ("sora", "dovecot")) + "\n")
        png = f"{stem}-login.png"
        script = (f"set terminal pngcairo size 800,500\nset output '{outdir / png}'\n"
                  "set title 'Logins per second vs concurrency'\nset xlabel 'clients'\n"
                  "set ylabel 'per second'\nset logscale xy\nset key right center\nset grid\n"
                  f"set xrange [{P['login_clients'][0] * 0.8}:{P['login_clients'][-1] * 1.25}]\n"
                  f"set xtics ({', '.join(str(x) for x in P['login_clients'])})\n"
                  f"plot '{dat}' using 1:2 w lp lw 2 t 'sora SSHA512', "
                  f"'' using 1:3 w lp lw 2 t 'Dovecot SSHA512', "
                  f"'' using 1:4 w lp lw 2 t 'sora bcrypt-12', "
                  f"'' using 1:5 w lp lw 2 t 'Dovecot bcrypt-12'\n")
        if _gnuplot(script):
            made.append(png)
        dat.unlink()
    return made


def _gnuplot(script):
    try:
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        log(f"gnuplot: {e}")
        return False
    if r.returncode != 0:
        log(f"gnuplot: {r.stderr.strip()}")
        return False
    return True


def build_type(sora_bin):
    """"release build" when the binary's meson build dir says so (wherever it is)."""
    try:
        opts = json.loads((Path(sora_bin).parent / "meson-info" / "intro-buildoptions.json")
                          .read_text())
        bt = next(o["value"] for o in opts if o["name"] == "buildtype")
    except (OSError, ValueError, StopIteration, KeyError):
        return f"binary {sora_bin}"
    return "release build" if bt == "release" else f"{bt} build, {sora_bin}"


def meta_info(sora_bin):
    def cmd(*a):
        try:
            return subprocess.run(a, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return "?"
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "quick": QUICK, "params": P, "cpus": os.cpu_count(), "cpu_model": model,
            "mem_gib": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30),
            "kernel": platform.release(), "loadavg_start": os.getloadavg()[0],
            "sora_version": cmd(sora_bin, "--version") or "?",
            "sora_build": build_type(sora_bin),
            "dovecot_version": "Dovecot " + cmd("dovecot", "--version")}


# --------------------------------------------------------------------------

def main():
    sora_bin = Path(os.environ.get("SORA_BIN") or lib.REPO / "build" / "sora")
    if not sora_bin.exists():
        raise SystemExit(f"no sora binary at {sora_bin}")
    outdir = Path(os.environ.get("BENCH_OUT") or lib.REPO / "bench" / "results")
    outdir.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    stem = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M") + ("-quick" if QUICK else "")
    meta = meta_info(str(sora_bin))
    corpus = lib.Corpus()
    meta.update(corpus_sha256=corpus.sha256, corpus_messages=len(corpus.messages),
                corpus_mb=corpus.bytes / 1e6)
    res = {"failures": []}
    tmp = Path(tempfile.mkdtemp(prefix="sora-bench-", dir="/var/tmp"))
    lib.ensure_mail_user()
    os.chmod(tmp, 0o755)
    plan = users_plan()
    # Dovecot's IDLE (and imap_hibernate, which needs it) watches the
    # mailbox with one inotify instance per imap process, all under one uid:
    # the default 128 would silently turn both off past 128 sessions.
    inotify = Path("/proc/sys/fs/inotify/max_user_instances")
    inotify_old = int(inotify.read_text())
    if inotify_old < 3 * P["idle_n"] + 1024:
        try:
            inotify.write_text(str(3 * P["idle_n"] + 1024))
            meta["inotify_max_user_instances"] = 3 * P["idle_n"] + 1024
        except OSError as e:
            log(f"cannot raise {inotify}: {e}; Dovecot falls back to polling past 128 sessions")

    def attempt(what, fn, *a):
        try:
            fn(*a)
        except Exception as e:  # a broken section is reported, the others still run
            res["failures"].append(f"{what}: {type(e).__name__}: {e}")
            log(f"!!! {what} broke: {type(e).__name__}: {e}")
            traceback.print_exc()

    try:
        if any(want(s) for s in ("mixed", "lmtp", "pop3", "login", "push")):
            sora = lib.Sora(sora_bin, tmp / "sora")
            dove = lib.Dovecot(tmp / "dovecot")
            log("creating users")
            create_users([sora, dove], plan)
            if want("login"):
                res["bcrypt_hash_s"] = bcrypt_hash_seconds(sora.stored_hash("bcrypt"))
                res["bcrypt_hash_loadavg"] = os.getloadavg()[0]
                log(f"one bcrypt-12 hash: {res['bcrypt_hash_s'] * 1e3:.0f} ms")
            for srv in (sora, dove):
                def one(srv=srv):
                    srv.start()
                    try:
                        section_workloads(srv, corpus, res)
                    finally:
                        srv.stop()
                attempt(f"workloads on {srv.name}", one)
                lib.rmtree(srv.dir / "blobs")
        if want("idle"):
            attempt("idle sora", section_idle, lambda: lib.Sora(sora_bin, tmp / "idle-sora"),
                    "sora", res)
            attempt("idle dovecot", section_idle, lambda: lib.Dovecot(tmp / "idle-dovecot"),
                    "dovecot", res)
            attempt("idle dovecot-hibernate", section_idle,
                    lambda: lib.Dovecot(tmp / "idle-dovecot-hib", hibernate=True,
                                        label="dovecot-hibernate"), "dovecot-hibernate", res)
        if want("big"):
            attempt("big sora", section_big, lambda: lib.Sora(sora_bin, tmp / "big-sora"),
                    "sora", corpus, res)
            lib.rmtree(tmp / "big-sora")
            attempt("big dovecot", section_big, lambda: lib.Dovecot(tmp / "big-dovecot"),
                    "dovecot", corpus, res)
            lib.rmtree(tmp / "big-dovecot")
        if want("s3"):
            def s3():
                s3d = tmp / "s3"
                s3d.mkdir()
                s3srv = lib.S3rver(s3d / "bucket")
                srv = lib.Sora(sora_bin, tmp / "sora-s3", s3_endpoint=s3srv.endpoint,
                               label="sora-s3")
                try:
                    create_users([srv], [u for u in plan if u[0].startswith(("mix", "sink"))])
                    srv.start()
                    section_workloads(srv, corpus, res, s3=True)
                finally:
                    srv.stop()
                    s3srv.stop()
            attempt("sora S3+encryption", s3)
    finally:
        lib.rmtree(tmp)
        if int(inotify.read_text()) != inotify_old:
            inotify.write_text(str(inotify_old))

    meta["loadavg_end"] = os.getloadavg()[0]
    meta["wall_s"] = time.monotonic() - t_start
    if os.environ.get("BENCH_NOISE"):
        meta["noise"] = os.environ["BENCH_NOISE"]
    meta["charts"] = charts(res, outdir, stem)
    (outdir / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": res}, indent=1)
                                         + "\n")
    for label, text in PERF_OUT.items():
        (outdir / f"{stem}-perf-sora-{label}.txt").write_text(text)
        meta.setdefault("profiles", []).append(f"{stem}-perf-sora-{label}.txt")
    md = markdown(res, meta)
    (outdir / f"{stem}.md").write_text(md)
    print(md)
    log(f"wrote {outdir / stem}.json, .md and {len(meta['charts'])} charts in "
        f"{meta['wall_s']:.0f} s")
    total_errors = sum(r.get("errors", 0) for sec in ("mixed", "lmtp", "pop3", "login")
                       for byn in res.get(sec, {}).values() for r in byn.values())
    if total_errors:
        log(f"!!! {total_errors} PROTOCOL ERRORS during the loads: see the ERRORS section")
    return 1 if res["failures"] else 0


def rerender(path):
    """bench.py --render RESULTS.json: rewrites the .md (and charts) of an
    earlier run from its JSON (after a change to the report only)."""
    global QUICK
    path = Path(path)
    data = json.loads(path.read_text())
    meta, res = data["meta"], data["results"]
    P.update(meta["params"])
    QUICK = meta.get("quick", False)
    meta["charts"] = charts(res, path.parent, path.stem)
    if (path.parent / f"{path.stem}-analysis.md").exists():
        meta["analysis"] = f"{path.stem}-analysis.md"
    path.with_suffix(".md").write_text(markdown(res, meta))
    print(path.with_suffix(".md"))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--render":
        sys.exit(rerender(sys.argv[2]))
    sys.exit(main())
