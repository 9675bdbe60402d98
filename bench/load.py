"""Load generators (Python asyncio; they speak IMAP and LMTP themselves).
Each returns plain dicts; bench.py runs them against both servers with the
same parameters and the same warm-up.

An "error" is anything but the expected reply (NO/BAD, a closed
connection, a timeout): it is counted and its first lines kept, so the
report can print them loudly.
"""

import asyncio
import os
import itertools
import random
import re
import resource
import time

from lib import DOMAIN, SEARCH_WORD

LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
EXISTS = re.compile(rb"^\* (\d+) EXISTS")
EXPUNGE = re.compile(rb"^\* (\d+) EXPUNGE")
NOT_IMPL = re.compile(rb"not implemented|unknown command|UNAVAILABLE|CANNOT|not supported",
                      re.I)
TIMEOUT = 120.0



DELIVERY_SEQ = itertools.count(1)

class ImapError(Exception):
    pass


def self_cpu():
    """CPU seconds of this load generator (it shares the cores with the server)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


class Imap:
    """One IMAP connection. Tracks EXISTS/EXPUNGE of the selected mailbox."""

    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.n = 0
        self.exists = 0

    @classmethod
    async def connect(cls, port, timeout=TIMEOUT, source=None):
        r, w = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, limit=1 << 24,
                                    local_addr=(source, 0) if source else None), timeout)
        c = cls(r, w)
        g = await asyncio.wait_for(c.r.readuntil(b"\r\n"), timeout)
        if not g.startswith(b"* OK"):
            raise ImapError("greeting: " + g[:100].decode("latin-1"))
        return c

    async def line(self):
        """One response line with its literals inlined."""
        ln = await self.r.readuntil(b"\r\n")
        if not ln.endswith(b"}\r\n"):
            return ln
        parts = [ln]
        while True:
            m = LITERAL.search(ln)
            if m is None:
                return b"".join(parts)
            parts.append(await self.r.readexactly(int(m.group(1))))
            ln = await self.r.readuntil(b"\r\n")
            parts.append(ln)

    def _untagged(self, ln):
        if ln.endswith(b"EXISTS\r\n"):
            m = EXISTS.match(ln)
            if m:
                self.exists = int(m.group(1))
        elif ln.endswith(b"EXPUNGE\r\n"):
            if EXPUNGE.match(ln):
                self.exists -= 1

    async def cmd(self, text, literal=None, keep=False, timeout=TIMEOUT):
        """Sends one command; returns (tagged line, untagged lines or their
        count). literal: bytes sent as a synchronizing literal after text."""
        self.n += 1
        tag = b"t%d" % self.n
        body = text.encode() if isinstance(text, str) else text

        async def run():
            if literal is not None:
                self.w.write(tag + b" " + body + b" {%d}\r\n" % len(literal))
                while True:
                    ln = await self.line()
                    if ln.startswith(b"+"):
                        break
                    if ln.startswith(tag + b" "):
                        return ln, []
                    self._untagged(ln)
                self.w.write(literal + b"\r\n")
            else:
                self.w.write(tag + b" " + body + b"\r\n")
            out = [] if keep else 0
            while True:
                ln = await self.line()
                if ln.startswith(tag + b" "):
                    return ln, out
                self._untagged(ln)
                if keep:
                    out.append(ln)
                else:
                    out += 1

        return await asyncio.wait_for(run(), timeout)

    async def ok(self, text, literal=None, keep=False, timeout=TIMEOUT):
        tagged, out = await self.cmd(text, literal, keep, timeout)
        if b" OK" not in tagged[:12]:
            raise ImapError(f"{text[:60]!s} -> {tagged[:200].decode('latin-1').strip()}")
        return tagged, out

    async def login(self, user, password):
        return await self.ok(f'LOGIN "{user}" "{password}"')

    def close(self):
        try:
            self.w.close()
        except Exception:
            pass


class Stats:
    """Latencies per operation inside the measurement window."""

    def __init__(self):
        self.lat = {}
        self.errors = []
        self.window = (0.0, 0.0)

    def add(self, op, t0, t1):
        if self.window[0] <= t1 <= self.window[1]:  # completed in the window
            self.lat.setdefault(op, []).append(t1 - t0)

    def err(self, what):
        self.errors.append(what)

    def summary(self, seconds):
        ops = {}
        total = 0
        for op, v in sorted(self.lat.items()):
            total += len(v)
            ops[op] = {"count": len(v), "per_s": len(v) / seconds,
                       "p50_ms": pct(v, 50) * 1e3, "p99_ms": pct(v, 99) * 1e3}
        return {"ops": ops, "total_per_s": total / seconds, "errors": len(self.errors),
                "error_samples": self.errors[:5]}


async def timed(stats, op, coro):
    t0 = time.monotonic()
    r = await coro
    stats.add(op, t0, time.monotonic())
    return r


# --------------------------------------------------------------------------
# (1) IMAP mixed workload

async def mixed_client(srv, i, corpus, stats, stop_at, seed, prefill):
    """imaptest-like: LOGIN, SELECT, then a session of 5–15 commands drawn
    from FETCH envelope, FETCH body, STORE flags, EXPUNGE, APPEND, then
    LOGOUT; again until the end. Each client has its own user, so
    sequence numbers are never raced by another client's EXPUNGE."""
    rnd = random.Random(seed * 1000 + i)
    user, pw = srv.login_name(f"mix{i}")
    while time.monotonic() < stop_at:
        c = None
        try:
            c = await Imap.connect(srv.imap_port)
            await timed(stats, "LOGIN", c.login(user, pw))
            await timed(stats, "SELECT", c.ok("SELECT INBOX"))
            for _ in range(rnd.randint(5, 15)):
                if time.monotonic() >= stop_at:
                    break
                n = c.exists
                op = rnd.choice(("FETCH envelope", "FETCH body", "STORE", "EXPUNGE", "APPEND"))
                if n == 0 or (op == "EXPUNGE" and n < prefill // 2):
                    op = "APPEND"
                elif op == "APPEND" and n > 2 * prefill:
                    op = "EXPUNGE"
                if op == "FETCH envelope":
                    a = rnd.randint(1, n)
                    await timed(stats, op, c.ok(f"FETCH {a}:{min(n, a + 9)} (UID FLAGS "
                                                f"RFC822.SIZE INTERNALDATE ENVELOPE)"))
                elif op == "FETCH body":
                    await timed(stats, op, c.ok(f"FETCH {rnd.randint(1, n)} (BODY.PEEK[])"))
                elif op == "STORE":
                    flag = rnd.choice(("\\Seen", "\\Flagged", "\\Answered", "$Bench"))
                    sign = rnd.choice("+-")
                    await timed(stats, op, c.ok(f"STORE {rnd.randint(1, n)} {sign}FLAGS "
                                                f"({flag})"))
                elif op == "EXPUNGE":
                    await timed(stats, "STORE", c.ok(f"STORE {rnd.randint(1, n)} "
                                                     f"+FLAGS.SILENT (\\Deleted)"))
                    await timed(stats, op, c.ok("EXPUNGE"))
                else:
                    msg = corpus.messages[rnd.randrange(len(corpus.messages))]
                    await timed(stats, op, c.ok("APPEND INBOX (\\Seen)", literal=msg))
                    if c.exists == n:  # EXISTS comes with the next command otherwise
                        c.exists = n + 1
            await timed(stats, "LOGOUT", c.ok("LOGOUT"))
        except (ImapError, OSError, asyncio.IncompleteReadError, asyncio.TimeoutError,
                asyncio.LimitOverrunError) as e:
            stats.err(f"mix{i}: {type(e).__name__}: {e}"[:300])
            await asyncio.sleep(0.1)
        finally:
            if c is not None:
                c.close()


async def mixed(srv, corpus, clients, warmup, seconds, prefill, seed=1):
    stats = Stats()
    t0 = time.monotonic()
    stats.window = (t0 + warmup, t0 + warmup + seconds)
    cpu0 = None

    async def mark():
        nonlocal cpu0, me0
        await asyncio.sleep(warmup)
        cpu0, me0 = srv.cpu(), self_cpu()

    me0 = None
    m = asyncio.ensure_future(mark())
    await asyncio.gather(*(mixed_client(srv, i, corpus, stats, stats.window[1], seed, prefill)
                           for i in range(clients)))
    await m
    cpu = srv.cpu() - cpu0
    out = stats.summary(seconds)
    out.update(clients=clients, seconds=seconds, server_cpu_s=cpu,
               loadgen_cpu_s=self_cpu() - me0,
               ops_per_cpu_s=(out["total_per_s"] * seconds / cpu) if cpu > 0 else None)
    return out


# --------------------------------------------------------------------------
# LMTP

def dot_stuff(msg):
    if msg.startswith(b"."):
        msg = b"." + msg
    return msg.replace(b"\r\n.", b"\r\n..")


class Lmtp:
    @classmethod
    async def connect(cls, port):
        c = cls()
        c.r, c.w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        await c.reply()
        c.w.write(b"LHLO bench.example\r\n")
        await c.reply()
        return c

    async def reply(self):
        lines = []
        while True:
            ln = await asyncio.wait_for(self.r.readuntil(b"\r\n"), TIMEOUT)
            lines.append(ln)
            if len(ln) < 4 or ln[3:4] != b"-":
                code = int(ln[:3])
                return code, b"".join(lines)

    async def deliver(self, rcpt, stuffed, on_sent=None):
        """One transaction (MAIL/RCPT/DATA pipelined); raises on non-2xx.
        Every delivery gets a unique first header line: sora absorbs an MTA's
        retry of the same bytes to the same recipient without storing it
        again, so repeating corpus messages would measure that shortcut
        instead of delivery (and a repeated push sample would never arrive)."""
        stuffed = b"X-Bench-Delivery: %d.%d\r\n" % (os.getpid(), next(DELIVERY_SEQ)) + stuffed
        self.w.write(b"MAIL FROM:<bench@sender.example>\r\nRCPT TO:<%s@%s>\r\nDATA\r\n"
                     % (rcpt.encode(), DOMAIN.encode()))
        replies = [await self.reply() for _ in range(3)]
        if [code for code, _ in replies] != [250, 250, 354]:
            if replies[2][0] == 354:  # a server that took DATA anyway: end it empty
                self.w.write(b".\r\n")
                await self.reply()
            bad = next(t for c, t in replies if c >= 400)
            raise ImapError(f"LMTP: {bad[:200].decode('latin-1').strip()}")
        self.w.write(stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        if on_sent is not None:
            on_sent()
        code, text = await self.reply()
        if code != 250:
            raise ImapError(f"LMTP after DATA: {text[:200].decode('latin-1')}")

    def close(self):
        try:
            self.w.write(b"QUIT\r\n")
            self.w.close()
        except Exception:
            pass


async def lmtp_bench(srv, corpus, clients, warmup, seconds, sinks=16, seed=2):
    """LMTP delivery: msgs/s, MB/s, p50/p99 per message."""
    stuffed = [dot_stuff(m) for m in corpus.messages]
    t0 = time.monotonic()
    w0, w1 = t0 + warmup, t0 + warmup + seconds
    lat, sizes, errors = [], [], []
    cpu0 = None

    async def client(i):
        rnd = random.Random(seed * 100 + i)
        c = await Lmtp.connect(srv.lmtp_port)
        try:
            while time.monotonic() < w1:
                k = rnd.randrange(len(stuffed))
                s = time.monotonic()
                try:
                    await c.deliver(f"sink{rnd.randrange(sinks)}", stuffed[k])
                except (ImapError, OSError, asyncio.IncompleteReadError,
                        asyncio.TimeoutError) as e:
                    errors.append(f"{type(e).__name__}: {e}"[:300])
                    c.close()
                    c = await Lmtp.connect(srv.lmtp_port)
                    continue
                e = time.monotonic()
                if w0 <= e <= w1:
                    lat.append(e - s)
                    sizes.append(len(corpus.messages[k]))
        finally:
            c.close()

    async def mark():
        nonlocal cpu0, me0
        await asyncio.sleep(warmup)
        cpu0, me0 = srv.cpu(), self_cpu()

    me0 = None
    m = asyncio.ensure_future(mark())
    await asyncio.gather(*(client(i) for i in range(clients)))
    await m
    cpu = srv.cpu() - cpu0
    return {"clients": clients, "seconds": seconds, "msgs_per_s": len(lat) / seconds,
            "loadgen_cpu_s": self_cpu() - me0,
            "mb_per_s": sum(sizes) / 1e6 / seconds, "p50_ms": (pct(lat, 50) or 0) * 1e3,
            "p99_ms": (pct(lat, 99) or 0) * 1e3, "errors": len(errors),
            "error_samples": errors[:5], "server_cpu_s": cpu,
            "msgs_per_cpu_s": len(lat) / cpu if cpu > 0 else None}


async def lmtp_fill(port, jobs, clients=16):
    """Delivers jobs [(localpart, message bytes)] over `clients` pipelined
    connections; raises on the first error (prefill must be complete)."""
    queue = list(reversed(jobs))

    async def client():
        c = await Lmtp.connect(port)
        try:
            while queue:
                rcpt, msg = queue.pop()
                await c.deliver(rcpt, dot_stuff(msg))
        finally:
            c.close()

    await asyncio.gather(*(client() for _ in range(min(clients, len(jobs)) or 1)))


# --------------------------------------------------------------------------
# POP3 RETR

class Pop3:
    """One POP3 connection (USER/PASS, LIST, RETR)."""

    @classmethod
    async def connect(cls, port):
        c = cls()
        c.r, c.w = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, limit=1 << 24), TIMEOUT)
        await c.ok()
        return c

    async def ok(self, cmd=None):
        if cmd is not None:
            self.w.write(cmd.encode() + b"\r\n")
        ln = await asyncio.wait_for(self.r.readuntil(b"\r\n"), TIMEOUT)
        if not ln.startswith(b"+OK"):
            what = cmd.split()[0] if cmd else "greeting"
            raise ImapError(f"POP3 {what} -> {ln[:200].decode('latin-1').strip()}")
        return ln

    async def multiline(self, cmd):
        """A multi-line reply, dot-unstuffed, without the terminating '.'.
        One readuntil for the whole body (a 2 MB message is ~27,000 lines):
        needs at least one line before the '.', true for RETR and a LIST of
        a non-empty maildrop (the only uses)."""
        await self.ok(cmd)
        raw = await asyncio.wait_for(self.r.readuntil(b"\r\n.\r\n"), TIMEOUT)
        body = raw[:-3]  # keeps the last line's CRLF
        if body.startswith(b".."):
            body = body[1:]
        return body.replace(b"\r\n..", b"\r\n.")

    def close(self):
        try:
            self.w.write(b"QUIT\r\n")
            self.w.close()
        except Exception:
            pass


async def pop3_fill(port, mailboxes):
    """mailboxes: {localpart: [message bytes]}, delivered in order over one
    LMTP connection per mailbox (so message k of a maildrop is msgs[k])."""
    await asyncio.gather(*(lmtp_fill(port, [(u, m) for m in msgs], clients=1)
                           for u, msgs in mailboxes.items()))


async def pop3_bench(srv, mailboxes, clients, warmup, seconds, seed=3):
    """POP3 RETR: client i logs in to its own prefilled maildrop and RETRs
    its messages in a random order until the end of the window. Every body
    is checked: its dot-unstuffed length must equal the LIST size and it
    must end with the delivered bytes (the servers prepend their own trace
    headers), so a truncating or corrupting server counts errors instead of
    looking fast. msgs/s, MB/s (unstuffed bytes), p50/p99 per RETR."""
    t0 = time.monotonic()
    w0, w1 = t0 + warmup, t0 + warmup + seconds
    lat, sizes, errors = [], [], []
    users = list(mailboxes)
    cpu0 = me0 = None

    async def client(i):
        rnd = random.Random(seed * 100 + i)
        local = users[i]
        msgs = mailboxes[local]
        user, pw = srv.login_name(local)
        c = None
        while time.monotonic() < w1:
            try:
                if c is None:
                    c = await Pop3.connect(srv.pop3_port)
                    await c.ok(f"USER {user}")
                    await c.ok(f"PASS {pw}")
                    listing = (await c.multiline("LIST")).split(b"\r\n")
                    octets = [int(ln.split()[1]) for ln in listing if ln]
                    if len(octets) != len(msgs):
                        raise ImapError(f"POP3 LIST: {len(octets)} messages, "
                                        f"{len(msgs)} delivered")
                k = rnd.randrange(len(msgs))
                s = time.monotonic()
                body = await c.multiline(f"RETR {k + 1}")
                e = time.monotonic()
                if len(body) != octets[k] or not body.endswith(msgs[k]):
                    errors.append(f"RETR {k + 1} of {local}: {len(body)} bytes, LIST said "
                                  f"{octets[k]}, delivered {len(msgs[k])}"
                                  f"{'' if body.endswith(msgs[k]) else ', content differs'}")
                elif w0 <= e <= w1:
                    lat.append(e - s)
                    sizes.append(len(body))
            except (ImapError, OSError, ValueError, IndexError, asyncio.IncompleteReadError,
                    asyncio.TimeoutError, asyncio.LimitOverrunError) as ex:
                errors.append(f"{local}: {type(ex).__name__}: {ex}"[:300])
                if c is not None:
                    c.w.close()
                c = None
                await asyncio.sleep(0.1)
        if c is not None:
            c.close()

    async def mark():
        nonlocal cpu0, me0
        await asyncio.sleep(warmup)
        cpu0, me0 = srv.cpu(), self_cpu()

    m = asyncio.ensure_future(mark())
    await asyncio.gather(*(client(i) for i in range(clients)))
    await m
    cpu = srv.cpu() - cpu0
    return {"clients": clients, "seconds": seconds, "msgs_per_s": len(lat) / seconds,
            "mb_per_s": sum(sizes) / 1e6 / seconds, "loadgen_cpu_s": self_cpu() - me0,
            "p50_ms": (pct(lat, 50) or 0) * 1e3, "p99_ms": (pct(lat, 99) or 0) * 1e3,
            "errors": len(errors), "error_samples": errors[:5], "server_cpu_s": cpu,
            "msgs_per_cpu_s": len(lat) / cpu if cpu > 0 else None}


# --------------------------------------------------------------------------
# (3) logins

async def login_storm(srv, user, password, expect_ok, clients, warmup, seconds, probe=None,
                      per_client=None):
    """Logins (or failed attempts) per second: connect, greeting, LOGIN,
    tagged reply, close; a new connection per attempt.

    Timed mode (per_client None): loops for warmup + seconds, counts the
    attempts completed in the window; the ones still in flight at its end
    are dropped. Fixed-work mode (per_client = k, for slow hashes): each
    client makes k attempts, rate = all attempts / time until the last one
    (a window would cut a queue of bcrypt jobs arbitrarily).
    probe: (user, password) of a connection logged in before the storm,
    sending NOOP every 10 ms during it."""
    lat, errors, noops = [], [], []
    want = b" OK" if expect_ok else b" NO"
    pc = None
    if probe:
        pc = await Imap.connect(srv.imap_port)
        await pc.login(*probe)
    t0 = time.monotonic()
    if per_client:
        w0, w1 = t0, float("inf")
    else:
        w0, w1 = t0 + warmup, t0 + warmup + seconds
    cpu0 = srv.cpu() if per_client else None
    done = asyncio.Event()

    async def client(i):
        k = 0
        while time.monotonic() < w1 and (not per_client or k < per_client):
            c = None
            k += 1
            # a new 127.x.y.z per attempt: Dovecot's anvil delays further
            # logins from an address after a failure (up to 15 s, no knob)
            src = f"127.{100 + i % 100}.{(k >> 8) & 255}.{1 + (k & 255) % 254}"
            try:
                c = await Imap.connect(srv.imap_port, source=src)
                s = time.monotonic()
                tagged, _ = await c.cmd(f'LOGIN "{user}" "{password}"')
                e = time.monotonic()
                if want not in tagged[:8]:
                    errors.append(tagged[:200].decode("latin-1").strip())
                    await asyncio.sleep(0.1)
                elif w0 <= e <= w1:
                    lat.append(e - s)
            except (ImapError, OSError, asyncio.IncompleteReadError,
                    asyncio.TimeoutError) as ex:
                if time.monotonic() < w1:
                    errors.append(f"{type(ex).__name__}: {ex}"[:300])
                    await asyncio.sleep(0.1)
            finally:
                if c is not None:
                    c.close()

    async def prober():
        while not done.is_set():
            s = time.monotonic()
            await pc.ok("NOOP")
            e = time.monotonic()
            if w0 <= s:
                noops.append(e - s)
            await asyncio.sleep(0.01)

    async def mark():
        nonlocal cpu0
        await asyncio.sleep(warmup)
        cpu0 = srv.cpu()

    tasks = [asyncio.ensure_future(client(i)) for i in range(clients)]
    ptask = asyncio.ensure_future(prober()) if probe else None
    if per_client:
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - t0
    else:
        await mark()
        # at the end of the window, drop the logins still in flight
        await asyncio.wait(tasks, timeout=max(0.0, w1 - time.monotonic()) + 0.2)
        elapsed = seconds
    cpu = srv.cpu() - cpu0
    done.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if ptask is not None:
        try:
            await asyncio.wait_for(ptask, 30)
        except (ImapError, asyncio.TimeoutError) as ex:
            errors.append(f"NOOP probe: {type(ex).__name__}: {ex}"[:300])
        pc.close()
    out = {"clients": clients, "per_s": len(lat) / elapsed, "attempts": len(lat),
           "seconds": elapsed, "p50_ms": (pct(lat, 50) or 0) * 1e3,
           "p99_ms": (pct(lat, 99) or 0) * 1e3, "errors": len(errors),
           "error_samples": errors[:5], "server_cpu_s": cpu,
           "per_cpu_s": len(lat) / cpu if cpu > 0 else None}
    if probe:
        out["noop_p50_ms"] = pct(noops, 50) * 1e3 if noops else None
        out["noop_p99_ms"] = pct(noops, 99) * 1e3 if noops else None
        out["noop_max_ms"] = max(noops) * 1e3 if noops else None
        out["noop_count"] = len(noops)
    return out


# --------------------------------------------------------------------------
# (4) idle connections

async def open_idle(srv, user, password, n, in_flight=200, mem_floor_kib=3 << 20):
    """n connections, each LOGIN + SELECT INBOX + IDLE ("+ idling" read).
    Stops early when MemAvailable falls under mem_floor_kib (a shared
    machine). Returns (connections, errors)."""
    from lib import mem_available_kib
    conns, errors = [], []
    sem = asyncio.Semaphore(in_flight)
    stop = False

    async def one(i):
        nonlocal stop
        async with sem:
            if stop:
                return
            c = None
            try:
                c = await Imap.connect(srv.imap_port)
                await c.login(user, password)
                await c.ok("SELECT INBOX")
                c.w.write(b"i IDLE\r\n")
                ln = await asyncio.wait_for(c.line(), TIMEOUT)
                if not ln.startswith(b"+"):
                    raise ImapError("IDLE: " + ln[:100].decode("latin-1"))
                conns.append(c)
                if len(conns) % 500 == 0 and mem_available_kib() < mem_floor_kib:
                    stop = True
                    errors.append(f"stopped at {len(conns)}: MemAvailable under "
                                  f"{mem_floor_kib >> 20} GiB")
            except (ImapError, OSError, asyncio.IncompleteReadError,
                    asyncio.TimeoutError) as e:
                errors.append(f"{type(e).__name__}: {e}"[:200])
                if c is not None:
                    c.close()

    await asyncio.gather(*(one(i) for i in range(n)))
    return conns, errors


# --------------------------------------------------------------------------
# (5) big mailbox

async def big_mailbox(srv, user, password, big_count, onemb_seq, user10k, rounds=3):
    """Timed commands on the big mailbox (median of `rounds`, first kept
    as "cold"); n/a when the server says it does not implement one."""
    c = await Imap.connect(srv.imap_port, timeout=600)
    await c.login(user, password)
    out = {}

    async def one(name, text, check=None):
        times, na = [], None
        for _ in range(rounds):
            s = time.monotonic()
            tagged, lines = await c.cmd(text, keep=True, timeout=1800)
            e = time.monotonic()
            if b" OK" not in tagged[:12]:
                if NOT_IMPL.search(tagged):
                    na = tagged.decode("latin-1").strip()[:120]
                    break
                raise ImapError(f"{text} -> {tagged[:200].decode('latin-1')}")
            if check is not None:
                check(lines)
            times.append(e - s)
        if na:
            out[name] = {"na": na}
        else:
            out[name] = {"median_ms": pct(times, 50) * 1e3, "cold_ms": times[0] * 1e3}

    def count_fetch(lines):
        n = sum(1 for ln in lines if b" FETCH " in ln[:20])
        if n != big_count:
            raise ImapError(f"FETCH 1:* returned {n} of {big_count}")

    def search_hits(lines):
        hits = sum(len(ln.split()) - 2 for ln in lines if ln.startswith(b"* SEARCH"))
        want = sum(1 for k in range(big_count - 1) if k % 1000 == 500)
        if hits != want:
            raise ImapError(f"UID SEARCH TEXT found {hits}, expected {want}")

    def sorted_all(lines):
        n = sum(len(ln.split()) - 2 for ln in lines if ln.startswith(b"* SORT"))
        if n != big_count:
            raise ImapError(f"SORT returned {n} of {big_count}")

    def one_mb(lines):
        if not any(len(ln) > 1_000_000 for ln in lines):
            raise ImapError("FETCH BODY[] of the 1 MB message returned less")

    await one("SELECT", "SELECT INBOX")
    if c.exists != big_count:
        raise ImapError(f"big mailbox has {c.exists} messages, expected {big_count}")
    await one("FETCH 1:* (UID FLAGS)", "FETCH 1:* (UID FLAGS)", count_fetch)
    await one("UID SEARCH TEXT", f"UID SEARCH TEXT {SEARCH_WORD}", search_hits)
    await one("SORT (DATE)", "SORT (DATE) UTF-8 ALL", sorted_all)
    await one("FETCH 1 MB body", f"FETCH {onemb_seq} (BODY.PEEK[])", one_mb)
    await c.ok("LOGOUT")
    c.close()

    c = await Imap.connect(srv.imap_port, timeout=600)
    await c.login(*user10k)
    await c.ok("SELECT INBOX")
    n10k = c.exists

    def count10k(lines):
        n = sum(1 for ln in lines if b" FETCH " in ln[:20])
        if n != n10k:
            raise ImapError(f"FETCH 1:* returned {n} of {n10k}")

    await one("10k: FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)",
              "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)", count10k)
    await one("10k: UID SEARCH TEXT", f"UID SEARCH TEXT {SEARCH_WORD}")
    await c.ok("LOGOUT")
    c.close()
    return out


# --------------------------------------------------------------------------
# (6) push latency

async def push_latency(srv, user, password, corpus, samples, via):
    """IDLE on user's INBOX; another connection delivers (via "append" or
    "lmtp"); time from sending the end of the message to `* n EXISTS` at
    the IDLE client."""
    idler = await Imap.connect(srv.imap_port)
    await idler.login(user, password)
    await idler.ok("SELECT INBOX")
    idler.w.write(b"i IDLE\r\n")
    ln = await idler.line()
    if not ln.startswith(b"+"):
        raise ImapError("IDLE refused: " + ln[:100].decode("latin-1"))
    if via == "append":
        other = await Imap.connect(srv.imap_port)
        await other.login(user, password)
    else:
        other = await Lmtp.connect(srv.lmtp_port)
    msg = corpus.small()[0]
    rnd = random.Random(6)
    lat = []
    local = user.split("@")[0]
    for _ in range(samples):
        sent = {}
        seen = asyncio.get_running_loop().create_future()

        async def watch():
            while True:
                ln = await idler.line()
                if EXISTS.match(ln):
                    seen.set_result(time.monotonic())
                    return

        w = asyncio.ensure_future(watch())

        def on_sent():
            sent["t"] = time.monotonic()

        if via == "append":
            # the end of the literal is the last thing written
            other.n += 1
            tag = b"p%d" % other.n
            other.w.write(tag + b" APPEND INBOX {%d}\r\n" % len(msg))
            while not (await other.line()).startswith(b"+"):
                pass
            other.w.write(msg + b"\r\n")
            on_sent()
            while True:
                ln = await other.line()
                if ln.startswith(tag + b" "):
                    if b" OK" not in ln[:12]:
                        raise ImapError("APPEND: " + ln.decode("latin-1"))
                    break
        else:
            await other.deliver(local, dot_stuff(msg), on_sent)
        try:
            t = await asyncio.wait_for(seen, 10)
            lat.append(t - sent["t"])
        except asyncio.TimeoutError:
            w.cancel()
            raise ImapError("no EXISTS at the IDLE client within 10 s")
        await asyncio.sleep(rnd.uniform(0.1, 1.1))  # not in phase with a poll timer
    idler.w.write(b"DONE\r\n")
    idler.close()
    other.close()
    return {"via": via, "samples": len(lat), "p50_ms": pct(lat, 50) * 1e3,
            "p99_ms": pct(lat, 99) * 1e3, "max_ms": max(lat) * 1e3}
