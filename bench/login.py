#!/usr/bin/python3
"""Login benchmark (issue 5 "Benchmark"): IMAP LOGIN per second over
loopback with a bcrypt (cost 12) account and an {SSHA512} account, at 1, 8
and 64 concurrent clients, and the latency of NOOP on another, already
logged-in connection during the bcrypt storm.

Each client loops for --duration seconds: connect, read the greeting,
LOGIN, read the tagged reply, close. The rate limiter is off (it would
block the storm). bcrypt's cost is physics, so each rate is also given as
a fraction of the bound cores / (time of one hash), the hash timed here
with libcrypt through Python's crypt module when available.

{SSHA512}: the server rehashes a legacy hash to bcrypt at the first
successful login (always on in this build: no configuration knob), so a
steady stream of successful {SSHA512} logins cannot be had; the {SSHA512}
rows time wrong-password attempts instead (account lookup, verification,
the failure reply: all of a login's work but the session setup). The
bcrypt rows are successful logins.

Usage: /usr/bin/python3 bench/login.py [--sora PATH] [--duration S]
           [--clients 1,8,64] [--json]
Standard library only. Talks to 127.0.0.1 only.
"""

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SSHA512_SECRET = ("{SSHA512}aGuMrEMGi6onmwqe1nusjHfTEWDBWJ6mi7jgmo/NAQWVisJzsnpZKYeQZCTTT8U"
                  "yTU6chXA6SsnsAloMvYN+iEMqQjA=")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Line:
    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def readline(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode(errors="replace")

    def cmd(self, tag, text):
        self.sock.sendall(f"{tag} {text}\r\n".encode())
        while True:
            line = self.readline()
            if line.startswith(tag + " "):
                return line

    def close(self):
        self.sock.close()


def admin(sora_admin, conf, *args):
    r = subprocess.run([str(sora_admin), "--config", str(conf), *args],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit(f"sora-admin {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def start_sora(sora, d, port):
    cores = os.cpu_count() or 1
    conf = d / "sora.toml"
    conf.write_text(f"""
[logging]
output = "stderr"
level = "warn"

[runtime]
event_loops = 2
worker_threads = {cores}

[database]
path = "{d}/sora.db"

[servers.imap]
addr = "127.0.0.1:{port}"
max_connections = 10000
max_connections_per_ip = 10000

[servers.imap.auth_rate_limit]
enabled = false
""")
    return conf


def wait_port(port, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("sora did not start")


def storm(port, user, password, clients, duration, expect_ok):
    """Logins per second with `clients` concurrent loops."""
    stop = time.monotonic() + duration
    counts = [0] * clients
    errors = []

    def loop(i):
        try:
            while time.monotonic() < stop:
                c = Line(port)
                c.readline()
                r = c.cmd("a1", f"LOGIN {user} {password}")
                want = "a1 OK" if expect_ok else "a1 NO [AUTHENTICATIONFAILED]"
                if not r.startswith(want):
                    errors.append(r)
                    return
                counts[i] += 1
                c.close()
        except OSError as e:
            errors.append(repr(e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    if errors:
        raise SystemExit(f"{user} x{clients}: {errors[0]}")
    return sum(counts) / elapsed


def noop_probe(port, stop_event, samples):
    """NOOPs every 10 ms on a logged-in connection until stop_event."""
    c = Line(port)
    c.readline()
    if not c.cmd("p0", "LOGIN probe@example.org probe-pw").startswith("p0 OK"):
        raise SystemExit("probe login failed")
    n = 0
    while not stop_event.is_set():
        n += 1
        t0 = time.monotonic()
        if not c.cmd(f"n{n}", "NOOP").startswith(f"n{n} OK"):
            raise SystemExit("NOOP failed")
        samples.append(time.monotonic() - t0)
        time.sleep(0.01)
    c.close()


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else float("nan")


def hash_time(stored, password, rounds):
    """Seconds per verification of stored (the scheme's own cost)."""
    if stored.startswith("{SSHA512}"):
        import base64
        raw = base64.b64decode(stored[9:])
        t0 = time.perf_counter()
        for _ in range(rounds):
            hashlib.sha512(password.encode() + raw[64:]).digest()
        return (time.perf_counter() - t0) / rounds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import crypt
        except ImportError:
            return None
    t0 = time.perf_counter()
    for _ in range(rounds):
        crypt.crypt(password, stored)
    return (time.perf_counter() - t0) / rounds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sora", default=os.environ.get("SORA_BIN", str(REPO / "build" / "sora")))
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--clients", default="1,8,64")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sora = Path(args.sora)
    sora_admin = sora.with_name("sora-admin")
    clients = [int(x) for x in args.clients.split(",")]
    cores = os.cpu_count() or 1

    with tempfile.TemporaryDirectory(prefix="sora-bench-login-") as tmp:
        d = Path(tmp)
        port = free_port()
        conf = start_sora(sora, d, port)
        admin(sora_admin, conf, "accounts", "create", "--email", "b@example.org",
              "--password", "bench-pw")  # bcrypt, cost 12 (the default)
        admin(sora_admin, conf, "accounts", "create", "--email", "s@example.org",
              "--password-hash", SSHA512_SECRET)
        admin(sora_admin, conf, "accounts", "create", "--email", "probe@example.org",
              "--password", "probe-pw", "--hash", "ssha512")
        import sqlite3
        db = sqlite3.connect(d / "sora.db")
        bcrypt_hash = db.execute("SELECT password_hash FROM credentials WHERE address = ?",
                                 ("b@example.org",)).fetchone()[0]
        db.close()
        if bcrypt_hash.startswith("{BLF-CRYPT}"):
            bcrypt_hash = bcrypt_hash[len("{BLF-CRYPT}"):]
        err = open(d / "sora.stderr", "wb")
        proc = subprocess.Popen([str(sora), "--config", str(conf)], cwd=d,
                                stdout=err, stderr=err, stdin=subprocess.DEVNULL)
        rows, noop = [], {}
        try:
            wait_port(port)
            t_bcrypt = hash_time(bcrypt_hash, "bench-pw", 3)
            t_ssha = hash_time(SSHA512_SECRET, "secret", 20000)
            for label, user, pw, ok, t_hash in (
                    ("bcrypt-12 login", "b@example.org", "bench-pw", True, t_bcrypt),
                    ("{SSHA512} attempt", "s@example.org", "wrong", False, t_ssha)):
                for n in clients:
                    probe = None
                    if n == max(clients) and ok:
                        stop_event, samples = threading.Event(), []
                        probe = threading.Thread(target=noop_probe,
                                                 args=(port, stop_event, samples))
                        probe.start()
                        time.sleep(0.5)  # the probe's own login is done
                        samples.clear()
                    rate = storm(port, user, pw, n, args.duration, ok)
                    if probe is not None:
                        stop_event.set()
                        probe.join()
                        noop = {"clients": n, "count": len(samples),
                                "p50_ms": pct(samples, 50) * 1000,
                                "p99_ms": pct(samples, 99) * 1000,
                                "max_ms": max(samples) * 1000 if samples else float("nan")}
                    bound = cores / t_hash if t_hash else None
                    rows.append({"what": label, "clients": n, "per_s": rate,
                                 "hash_ms": t_hash * 1000 if t_hash else None,
                                 "bound_per_s": bound,
                                 "fraction": rate / bound if bound else None})
                    log(f"{label} x{n}: {rate:.1f}/s")
        except SystemExit:
            err.flush()
            log("sora log tail:\n" + "\n".join(
                (d / "sora.stderr").read_text(errors="replace").splitlines()[-5:]))
            raise
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            err.close()

    if args.json:
        print(json.dumps({"cores": cores, "rows": rows, "noop_during_bcrypt": noop}, indent=1))
        return
    print(f"cores: {cores} (worker_threads = {cores}), {args.duration:g} s per point, "
          f"loopback, plaintext LOGIN, a new connection per login")
    print(f"{'what':<20} {'clients':>7} {'per s':>10} {'hash ms':>9} "
          f"{'cores/hash':>11} {'fraction':>9}")
    for r in rows:
        hm = f"{r['hash_ms']:.4g}" if r["hash_ms"] is not None else "?"
        bd = f"{r['bound_per_s']:.0f}" if r["bound_per_s"] is not None else "?"
        fr = f"{r['fraction']:.2g}" if r["fraction"] is not None else "?"
        print(f"{r['what']:<20} {r['clients']:>7} {r['per_s']:>10.1f} {hm:>9} {bd:>11} {fr:>9}")
    if noop:
        print(f"NOOP on another connection during the bcrypt storm ({noop['clients']} clients): "
              f"p50 {noop['p50_ms']:.2f} ms, p99 {noop['p99_ms']:.2f} ms, "
              f"max {noop['max_ms']:.2f} ms ({noop['count']} samples)")
    print("{SSHA512} rows: wrong-password attempts (a successful {SSHA512} login is "
          "rehashed to bcrypt at once; no knob turns that off)")


if __name__ == "__main__":
    main()
