#!/usr/bin/python3
"""Idle-connection benchmark: how much memory does sora need per idle
connection, and can one process hold N of them?

For each mode (plaintext IMAP, implicit-TLS IMAP) a fresh sora is started
with a raised RLIMIT_NOFILE, N connections are opened from this one Python
process (non-blocking sockets + selectors, from several source addresses
127.0.0.x so the ephemeral ports suffice for 50,000), each greeting is read
(TLS: after a complete handshake), the connections are held idle for a
moment, and the server's VmRSS is read from /proc/<pid>/status.

Usage: /usr/bin/python3 bench/idle_connections.py [--plain N] [--tls N]
           [--sora PATH] [--hold SECONDS] [--json]
  N defaults: IDLE_PLAIN (10000) and IDLE_TLS (5000) from the environment;
  0 skips a mode. SORA_BIN (default build/sora) names the server.
Standard library only. Talks to 127.0.0.0/8 only.
"""

import argparse
import errno
import json
import os
import resource
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h: pick the source port at connect()
PER_SOURCE = 20000            # connections per 127.0.0.x (ephemeral range ~28k)
IN_FLIGHT = 512               # connections being set up at once (listen backlog 1024)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def raise_nofile(n):
    """Raise RLIMIT_NOFILE to at least n (the hard limit too, with
    CAP_SYS_RESOURCE). Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    if want > hard:
        try:
            cap = int(Path("/proc/sys/fs/nr_open").read_text())
        except OSError:
            cap = want
        hard = min(max(hard, want), cap)
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def make_cert(d):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem"],
                   check=True, capture_output=True)


class Server:
    def __init__(self, sora, workdir, tls, nofile):
        self.port = free_port()
        self.dir = workdir
        cfg = Path(workdir) / ("sora-tls.toml" if tls else "sora-plain.toml")
        text = f"""
[logging]
output = "stderr"
level = "warn"

[servers.imap]
addr = "127.0.0.1:{self.port}"
max_connections = 0
max_connections_per_ip = 0
auth_idle_timeout = "1h"
"""
        if tls:
            text += f"""tls = true
tls_cert_file = "{workdir}/cert.pem"
tls_key_file = "{workdir}/key.pem"
tls_handshake_timeout = "60s"
"""
        cfg.write_text(text)
        self.stderr = open(Path(workdir) / ("tls.log" if tls else "plain.log"), "wb")

        def limits():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen([sora, "--config", str(cfg)], stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr, cwd=workdir,
                                     preexec_fn=limits)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"sora exited with {self.proc.returncode}: "
                                 f"{Path(self.stderr.name).read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("sora did not listen within 10 s")
                time.sleep(0.05)
        time.sleep(0.3)  # let the probe connection go away

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        return self.proc.returncode


def client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


STALL = float(os.environ.get("IDLE_STALL", 10))  # seconds without progress: give up


def open_idle(port, first, n, tls, timeout, stall=STALL):
    """Opens connections number first … first+n-1 (the number picks the
    source address), reads each greeting. Gives up after timeout seconds,
    or stall seconds without progress. Returns (open sockets, seconds,
    failures by reason)."""
    tls_ctx = client_context() if tls else None
    sel = selectors.DefaultSelector()
    idle, failures = [], {}
    started = 0
    pending = 0
    t0 = time.monotonic()
    deadline = t0 + timeout

    def fail(sock, why):
        nonlocal pending
        failures[why] = failures.get(why, 0) + 1
        try:
            sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()
        pending -= 1

    def start_one(i):
        src = f"127.0.{1 + (i // PER_SOURCE) // 250}.{2 + (i // PER_SOURCE) % 250}"
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((src, 0))
        err = s.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            failures[os.strerror(err)] = failures.get(os.strerror(err), 0) + 1
            return
        # state: [phase, buffer]; phase "connect" → ("handshake") → "greeting"
        sel.register(s, selectors.EVENT_WRITE, ["connect", b""])

    progress, last_done = time.monotonic(), 0
    while (started < n or pending > 0) and time.monotonic() < deadline:
        done = len(idle) + sum(failures.values())
        if done != last_done:
            progress, last_done = time.monotonic(), done
        elif time.monotonic() - progress > stall:
            break
        while started < n and pending < IN_FLIGHT:
            before = sum(failures.values())
            start_one(first + started)
            started += 1
            if sum(failures.values()) == before:
                pending += 1
        for key, _ in sel.select(timeout=0.2):
            s, st = key.fileobj, key.data
            try:
                if st[0] == "connect":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        fail(s, os.strerror(err))
                        continue
                    if tls_ctx is not None:
                        sel.unregister(s)
                        s = tls_ctx.wrap_socket(s, server_hostname="localhost",
                                                do_handshake_on_connect=False)
                        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE,
                                     ["handshake", b""])
                        st = None
                    else:
                        st[0] = "greeting"
                        sel.modify(s, selectors.EVENT_READ, st)
                    continue
                if st[0] == "handshake":
                    try:
                        s.do_handshake()
                    except ssl.SSLWantReadError:
                        sel.modify(s, selectors.EVENT_READ, st)
                        continue
                    except ssl.SSLWantWriteError:
                        sel.modify(s, selectors.EVENT_WRITE, st)
                        continue
                    st[0] = "greeting"
                    sel.modify(s, selectors.EVENT_READ, st)
                    # the greeting may already be decrypted and buffered
                if st[0] == "greeting":
                    while True:
                        try:
                            chunk = s.recv(4096)
                        except (ssl.SSLWantReadError, BlockingIOError):
                            break
                        if not chunk:
                            fail(s, "closed before greeting")
                            break
                        st[1] += chunk
                        if b"\r\n" in st[1]:
                            sel.unregister(s)
                            pending -= 1
                            if st[1].startswith(b"* OK "):
                                idle.append(s)
                            else:
                                why = "refused: " + st[1].split(b"\r\n")[0].decode(
                                    "latin-1")[:60]
                                failures[why] = failures.get(why, 0) + 1
                                s.close()
                            break
            except (OSError, ssl.SSLError) as e:
                fail(s, type(e).__name__ + ": " + (e.strerror or str(e))[:60])
    for key in list(sel.get_map().values()):
        failures["no greeting in time"] = failures.get("no greeting in time", 0) + 1
        key.fileobj.close()
    sel.close()
    if started < n:
        failures["not attempted (stalled)"] = n - started
    return idle, time.monotonic() - t0, failures


def worker(port, first, n, tls, timeout, conn):
    """A child process holding its share of the connections (one process
    may not have enough file descriptors for all of them)."""
    socks, secs, failures = open_idle(port, first, n, tls, timeout)
    conn.send((len(socks), secs, failures))
    conn.recv()  # "close"
    for s in socks:
        s.close()
    conn.close()


def open_idle_spread(port, n, tls, timeout, per_process):
    """open_idle over as many processes as RLIMIT_NOFILE requires; returns
    (served, seconds, failures, close function)."""
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    procs = []
    for first in range(0, n, per_process):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker, args=(port, first, min(per_process, n - first), tls,
                                             timeout, child))
        p.start()
        procs.append((p, parent))
    served, secs, failures = 0, 0.0, {}
    for p, conn in procs:
        got, t, f = conn.recv()
        served += got
        secs = max(secs, t)
        for k, v in f.items():
            failures[k] = failures.get(k, 0) + v

    def close():
        for p, conn in procs:
            conn.send("close")
        for p, conn in procs:
            p.join(60)

    return served, secs, failures, close


def run_mode(name, sora, workdir, n, tls, hold, nofile):
    srv_nofile = min(n + 1024, nofile)
    if srv_nofile < n + 64:
        log(f"{name}: WARNING: RLIMIT_NOFILE hard limit is {nofile} (raising it needs "
            f"CAP_SYS_RESOURCE): the server can hold at most ~{srv_nofile - 64} of the {n} "
            f"connections")
    srv = Server(sora, workdir, tls, srv_nofile)
    try:
        before = rss_kib(srv.proc.pid)
        log(f"{name}: opening {n} connections to 127.0.0.1:{srv.port} …")
        served, secs, failures, close = open_idle_spread(
            srv.port, n, tls, timeout=max(60, n / 200), per_process=max(1000, nofile - 256))
        time.sleep(hold)
        after = rss_kib(srv.proc.pid)
        fds = len(os.listdir(f"/proc/{srv.proc.pid}/fd"))
        alive = srv.proc.poll() is None
        close()
        return {
            "mode": name, "requested": n, "served": served, "failed": failures,
            "connect_seconds": round(secs, 2), "rss_before_kib": before,
            "rss_after_kib": after, "server_fds": fds, "server_alive": alive,
            "kib_per_conn": round((after - before) / served, 2) if served else None,
        }
    finally:
        rc = srv.stop()
        log(f"{name}: sora exited with {rc}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plain", type=int, default=int(os.environ.get("IDLE_PLAIN", 10000)))
    ap.add_argument("--tls", type=int, default=int(os.environ.get("IDLE_TLS", 5000)))
    ap.add_argument("--sora", default=os.environ.get("SORA_BIN", str(REPO / "build" / "sora")))
    ap.add_argument("--hold", type=float, default=float(os.environ.get("IDLE_HOLD", 2)))
    ap.add_argument("--json", action="store_true", help="one JSON object per mode")
    args = ap.parse_args()
    if not Path(args.sora).exists():
        raise SystemExit(f"no sora binary at {args.sora} (make build, or --sora/SORA_BIN)")
    try:
        nofile = raise_nofile(max(args.plain, args.tls) + 1024)
    except (ValueError, OSError):
        # no CAP_SYS_RESOURCE: take what the hard limit allows; the
        # connections are then spread over several client processes
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    results = []
    with tempfile.TemporaryDirectory(prefix="sora-bench-") as d:
        make_cert(d)
        if args.plain > 0:
            results.append(run_mode("plaintext", args.sora, d, args.plain, False, args.hold,
                                    nofile))
        if args.tls > 0:
            results.append(run_mode("tls", args.sora, d, args.tls, True, args.hold, nofile))

    if args.json:
        for r in results:
            print(json.dumps(r))
    else:
        print(f"{'mode':<10} {'requested':>9} {'served':>7} {'rss_before':>11} "
              f"{'rss_after':>10} {'KiB/conn':>9} {'connect_s':>9}")
        for r in results:
            print(f"{r['mode']:<10} {r['requested']:>9} {r['served']:>7} "
                  f"{r['rss_before_kib']:>8} KiB {r['rss_after_kib']:>7} KiB "
                  f"{r['kib_per_conn'] if r['kib_per_conn'] is not None else '-':>9} "
                  f"{r['connect_seconds']:>9}")
            if r["failed"]:
                print(f"  {r['mode']}: failures: {r['failed']}")
            if not r["server_alive"]:
                print(f"  {r['mode']}: the server DIED during the run")
    ok = all(r["served"] == r["requested"] and r["server_alive"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
