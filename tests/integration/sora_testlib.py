"""Helpers for Sora's integration tests: certificates, the server process,
free ports, raw line clients and real-client wrappers (openssl s_client).

Imported by conftest.py and the test modules (pytest puts this directory on
sys.path since it has no __init__.py). Standard library only.

Environment:
  SORA_BIN        the server binary (default: <repo>/build/sora)
  SORA_SANITIZED  "1" under `make asan`/`make tsan`: every timeout is scaled
                  up and a sanitizer report in the server's stderr fails
                  the test
"""

import os
import re
import select
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SORA_BIN = Path(os.environ.get("SORA_BIN") or REPO / "build" / "sora")
SORA_ADMIN = SORA_BIN.with_name("sora-admin")
SANITIZED = os.environ.get("SORA_SANITIZED", "") not in ("", "0")
SCALE = 4.0 if SANITIZED else 1.0

# What a sanitizer prints when it finds something (ASan, LSan, UBSan, TSan)
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer"
                          r"|WARNING: ThreadSanitizer|runtime error:")


def T(seconds):
    """A timeout, scaled for sanitizer builds."""
    return seconds * SCALE


# --------------------------------------------------------------------------
# what the IMAP server announces before login (one place to change)

AUTH_CAPS = "AUTH=PLAIN AUTH=LOGIN SASL-IR"
AUTH_FAILED = "NO [AUTHENTICATIONFAILED] Authentication failed"


def imap_caps(starttls=False, login=True):
    """The pre-login CAPABILITY list: STARTTLS where offered, then the
    SASL mechanisms where a login may be tried (TLS or loopback or
    insecure_auth), else LOGINDISABLED."""
    caps = "IMAP4rev2 IMAP4rev1 LITERAL+ LITERAL- ID"
    if starttls:
        caps += " STARTTLS"
    return caps + (" " + AUTH_CAPS if login else " LOGINDISABLED")


def imap_greeting(starttls=False, login=True):
    return f"* OK [CAPABILITY {imap_caps(starttls, login)}] Sora ready."


# --------------------------------------------------------------------------
# ports and addresses

def free_port(host="127.0.0.1"):
    """A TCP port that was free a moment ago (bind to :0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def connect(port, host="127.0.0.1", source=None, timeout=None):
    """A connected TCP socket, optionally from a given loopback source address."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(T(5) if timeout is None else timeout)
    if source is not None:
        s.bind((source, 0))
    s.connect((host, port))
    return s


# --------------------------------------------------------------------------
# certificates (openssl CLI)

def _openssl(*args, cwd=None):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


def _ext_file(d, name, lines):
    p = Path(d) / f"{name}.ext"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


def _new_key_csr(d, name, subject):
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr",
             "-subj", subject)


def _sign(d, name, ca, ext_lines, serial):
    ext = _ext_file(d, name, ext_lines)
    _openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{ca}.pem",
             "-CAkey", f"{d}/{ca}.key", "-set_serial", str(serial), "-days", "3650",
             "-sha256", "-extfile", ext, "-out", f"{d}/{name}.pem")


def _self_signed(d, name, subject, ext_lines):
    cnf = _ext_file(d, name, ["[req]", "distinguished_name = dn", "[dn]", "[x]", *ext_lines])
    _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{d}/{name}.key",
             "-out", f"{d}/{name}.pem", "-days", "3650", "-sha256", "-subj", subject,
             "-config", cnf, "-extensions", "x")


_CA_EXT = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign",
           "subjectKeyIdentifier=hash"]
_SERVER_EXT = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
               "extendedKeyUsage=serverAuth", "subjectKeyIdentifier=hash",
               "authorityKeyIdentifier=keyid", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"]
_CLIENT_EXT = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
               "extendedKeyUsage=clientAuth", "subjectKeyIdentifier=hash",
               "authorityKeyIdentifier=keyid"]


class Certs:
    """Test PKI, all PEM files in one directory:

    ca.pem              root CA (what clients trust)
    int.pem             intermediate CA, signed by the root
    server.pem/.key     leaf for localhost/127.0.0.1/::1, signed by int
    chain.pem           server.pem + int.pem: what the server is given
    client-ca.pem       a separate CA for client certificates
    client.pem/.key     client certificate signed by client-ca
    rogue.pem/.key      self-signed client certificate nobody trusts
    """

    def __init__(self, d):
        self.dir = Path(d)
        d = str(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        # the [x] section for -extensions x in self-signed certs
        _self_signed(d, "ca", "/CN=Sora Test Root CA", _CA_EXT)
        _new_key_csr(d, "int", "/CN=Sora Test Intermediate CA")
        _sign(d, "int", "ca", ["basicConstraints=critical,CA:TRUE,pathlen:0"] + _CA_EXT[1:] +
              ["authorityKeyIdentifier=keyid"], 2)
        self.new_server_cert("server", "/CN=localhost/O=Sora Test 1", 3)
        _self_signed(d, "client-ca", "/CN=Sora Test Client CA", _CA_EXT)
        _new_key_csr(d, "client", "/CN=client.test")
        _sign(d, "client", "client-ca", _CLIENT_EXT, 4)
        _self_signed(d, "rogue", "/CN=rogue.test", _CLIENT_EXT[:-1])

        self.ca = self.dir / "ca.pem"
        self.intermediate = self.dir / "int.pem"
        self.cert = self.dir / "server.pem"
        self.key = self.dir / "server.key"
        self.chain = self.dir / "chain.pem"
        self.client_ca = self.dir / "client-ca.pem"
        self.client_cert = self.dir / "client.pem"
        self.client_key = self.dir / "client.key"
        self.rogue_cert = self.dir / "rogue.pem"
        self.rogue_key = self.dir / "rogue.key"

    def new_server_cert(self, name, subject, serial):
        """A new leaf (fresh key) signed by the intermediate; writes
        NAME.pem, NAME.key and chain file NAME-chain.pem (or chain.pem for
        "server"). Returns (chain_path, key_path)."""
        d = str(self.dir)
        _new_key_csr(d, name, subject)
        _sign(d, name, "int", _SERVER_EXT, serial)
        chain = self.dir / ("chain.pem" if name == "server" else f"{name}-chain.pem")
        chain.write_text((self.dir / f"{name}.pem").read_text() +
                         (self.dir / "int.pem").read_text())
        return chain, self.dir / f"{name}.key"

    def client_context(self, cert=None, key=None, minimum=None, maximum=None):
        """A verifying client SSLContext that trusts only the root CA (so the
        server must send the intermediate)."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if cert is not None:
            ctx.load_cert_chain(str(cert), str(key))
        if minimum is not None:
            ctx.minimum_version = minimum
        if maximum is not None:
            ctx.maximum_version = maximum
        return ctx


def fingerprint_pem(path):
    """SHA-256 fingerprint of the first certificate of a PEM file, as bytes."""
    pem = Path(path).read_text()
    first = pem[:pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    import hashlib
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).digest()


def fingerprint_der(der):
    import hashlib
    return hashlib.sha256(der).digest()


# --------------------------------------------------------------------------
# the server process

class _Placeholders(dict):
    """format_map mapping: {port_NAME} allocates a free port on first use."""

    def __init__(self, server, base):
        super().__init__(base)
        self.server = server

    def __missing__(self, key):
        if key.startswith("port_"):
            return self.server.port(key[5:])
        raise KeyError(key)


class Sora:
    """One sora process. Use through the `sora` fixture:

        srv = sora.start('''
            [servers.imap]
            addr = "127.0.0.1:{port_imap}"
        ''')
        srv.port("imap")

    The TOML text may use {port_NAME} (a free port, the same for the same
    NAME), {cert} (the chain file), {key}, {client_ca}, {ca}, {dir} (the
    server's directory). [logging] and [runtime] are added unless the text
    has them. Literal braces in the text must be doubled.
    """

    def __init__(self, workdir, certs):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.certs = certs
        self.ports = {}
        self.proc = None
        self.returncode = None
        self.config_path = self.dir / "sora.toml"
        self.stderr_path = self.dir / "sora.stderr"
        self._stderr = None
        self.checked = False

    def port(self, name):
        if name not in self.ports:
            p = free_port()
            while p in self.ports.values():
                p = free_port()
            self.ports[name] = p
        return self.ports[name]

    def render(self, text, log_level="info", log_format="console", shutdown_timeout="10s"):
        import textwrap
        text = textwrap.dedent(text)
        base = {"dir": str(self.dir)}
        if self.certs is not None:
            base.update(cert=str(self.certs.chain), key=str(self.certs.key),
                        client_ca=str(self.certs.client_ca), ca=str(self.certs.ca))
        body = text.format_map(_Placeholders(self, base))
        self.log_level = log_level
        head = ""
        self.own_logging = not re.search(r"^\s*\[logging\]", body, re.M)
        if self.own_logging:
            head += (f'[logging]\noutput = "stderr"\nformat = "{log_format}"\n'
                     f'level = "{log_level}"\n\n')
        if not re.search(r"^\s*\[runtime\]", body, re.M):
            head += (f'[runtime]\nevent_loops = 2\nworker_threads = 2\n'
                     f'shutdown_timeout = "{shutdown_timeout}"\n\n')
        return head + body

    def write_config(self, text, **kw):
        self.config_path.write_text(self.render(text, **kw))
        return self.config_path

    def start(self, text, wait=True, extra_args=(), preexec_fn=None, **kw):
        assert self.proc is None, "one process per Sora object"
        self.write_config(text, **kw)
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([str(SORA_BIN), "--config", str(self.config_path),
                                      *extra_args],
                                     cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=self._stderr, stderr=self._stderr,
                                     preexec_fn=preexec_fn)
        if wait:
            self.wait_started()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=5.0, count=1):
        """Waits until the log matches pattern (regex) count times; returns
        the matches. Fails the test (AssertionError) on timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + T(timeout)
        while True:
            found = rx.findall(self.log())
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"log never matched {pattern!r} ({len(found)} of {count}); "
                                     f"log:\n{self.log()[-4000:]}")
            if self.proc.poll() is not None:
                raise AssertionError(f"sora exited ({self.proc.returncode}) while waiting for "
                                     f"{pattern!r}; log:\n{self.log()[-4000:]}")
            time.sleep(0.02)

    def wait_started(self, timeout=10.0):
        """Until the log says event=started (every listener is bound by
        then), or, when info lines are not logged (level warn/error, or
        [logging] output elsewhere), until every {port_*} accepts."""
        deadline = time.monotonic() + T(timeout)
        by_log = self.log_level in ("debug", "info") and self.own_logging
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"sora exited with {self.proc.returncode} at startup:\n"
                                     f"{self.log()[-4000:]}")
            if re.search(r"event=started|\"event\":\"started\"", self.log()):
                return
            if not by_log:
                if all(self._accepts(p) for p in self.ports.values()):
                    return
            time.sleep(0.02)
        raise AssertionError(f"sora did not start within {timeout}s:\n{self.log()[-4000:]}")

    @staticmethod
    def _accepts(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=10.0):
        try:
            self.returncode = self.proc.wait(timeout=T(timeout))
        finally:
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Sends sig (SIGTERM), waits, returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def sanitizer_report(self):
        m = SANITIZER_RE.search(self.log())
        if m is None:
            return None
        return self.log()[max(0, m.start() - 200):m.start() + 6000]

    def rss_kib(self):
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        """User + system CPU time the server has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def connect_lines(self, remote=None):
        """The log's event=connect lines (optionally for one remote)."""
        lines = [ln for ln in self.log().splitlines() if " event=connect " in ln + " "]
        if remote is not None:
            lines = [ln for ln in lines if f" remote={remote} " in ln]
        return lines


# --------------------------------------------------------------------------
# a raw line-oriented client (IMAP / LMTP over TCP or TLS)

class Client:
    """Talks bytes and lines to a server. Every read has a deadline."""

    def __init__(self, port, host="127.0.0.1", source=None, tls=None, server_hostname="localhost",
                 timeout=None, preamble=None):
        self.timeout = T(5) if timeout is None else timeout
        self.sock = connect(port, host, source, self.timeout)
        if preamble is not None:
            self.sock.sendall(preamble)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=server_hostname)
        self.buf = b""

    @classmethod
    def from_socket(cls, sock, timeout=None):
        c = cls.__new__(cls)
        c.timeout = T(5) if timeout is None else timeout
        c.sock, c.buf = sock, b""
        return c

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def sendline(self, line):
        self.send((line if isinstance(line, bytes) else line.encode()) + b"\r\n")

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no data in time; have {self.buf[:200]!r}")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError(f"no data in time; have {self.buf[:200]!r}") from None
        return chunk

    def readline(self, timeout=None):
        """One line without CRLF (str, latin-1). EOFError when the server
        closed before a full line."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self.buf:
            chunk = self._fill(deadline)
            if not chunk:
                raise EOFError(f"connection closed; partial line {self.buf[:200]!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("latin-1")

    def read_tagged(self, tag, timeout=None):
        """Lines up to and including the one starting with 'TAG '."""
        lines = []
        while True:
            ln = self.readline(timeout)
            lines.append(ln)
            if ln.startswith(tag + " "):
                return lines

    def cmd(self, tag, command, timeout=None):
        self.sendline(f"{tag} {command}")
        return self.read_tagged(tag, timeout)

    def smtp_reply(self, timeout=None):
        """One (multi-line) SMTP/LMTP reply: list of lines."""
        lines = []
        while True:
            ln = self.readline(timeout)
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                return lines

    def wait_closed(self, timeout=None):
        """Reads until EOF; returns everything received meanwhile (bytes).
        Raises TimeoutError if the server keeps the connection open."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        data = self.buf
        self.buf = b""
        while True:
            try:
                chunk = self._fill(deadline)
            except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
                return data
            if not chunk:
                return data
            data += chunk

    def is_open(self, wait=0.2):
        """True if the server has neither closed nor sent anything within wait."""
        r, _, _ = select.select([self.sock], [], [], wait)
        if not r:
            return True
        try:
            self.sock.setblocking(False)
            chunk = self.sock.recv(65536, socket.MSG_PEEK) if not isinstance(
                self.sock, ssl.SSLSocket) else self.sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError):
            return True
        except OSError:
            return False
        finally:
            self.sock.setblocking(True)
        if isinstance(self.sock, ssl.SSLSocket) and chunk:
            self.buf += chunk
        return bool(chunk)

    def starttls(self, ctx, server_hostname="localhost"):
        assert self.buf == b"", f"plaintext left before TLS: {self.buf!r}"
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def closed_without_data(sock, timeout=None):
    """Waits for the server to close sock; returns the bytes it sent
    (b"" for a close without greeting). TimeoutError if still open."""
    deadline = time.monotonic() + (T(5) if timeout is None else timeout)
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"server kept the connection open; got {data[:200]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


# --------------------------------------------------------------------------
# openssl s_client

def s_client(port, *args, input=b"", timeout=10.0, host="127.0.0.1"):
    """Runs `openssl s_client -connect host:port ARGS` with input on stdin
    (-ign_eof: keeps reading until the server closes; end the input with a
    LOGOUT/QUIT). Returns CompletedProcess with text stdout/stderr."""
    if isinstance(input, str):
        input = input.encode()
    cmd = ["openssl", "s_client", "-connect", f"{host}:{port}", "-ign_eof", "-crlf", *args]
    r = subprocess.run(cmd, input=input, capture_output=True, timeout=T(timeout))
    r.stdout = r.stdout.decode("latin-1")
    r.stderr = r.stderr.decode("latin-1")
    return r


def s_client_verify_args(certs):
    return ["-CAfile", str(certs.ca), "-verify_return_error", "-servername", "localhost",
            "-verify_hostname", "localhost"]


def pem_blocks(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)


# --------------------------------------------------------------------------
# PROXY protocol headers

def proxy_v1(src, dst="127.0.0.1", sport=40000, dport=143, family="TCP4"):
    return f"PROXY {family} {src} {dst} {sport} {dport}\r\n".encode()


PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v2(src=None, dst="127.0.0.1", sport=40000, dport=143, local=False, tlvs=b""):
    import struct
    if local:
        return PROXY_V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", len(tlvs)) + tlvs
    if ":" in src:
        addrs = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) +
                 struct.pack("!HH", sport, dport))
        fam = 0x21
    else:
        addrs = (socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport))
        fam = 0x11
    body = addrs + tlvs
    return PROXY_V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def wait_port_open(port, host="127.0.0.1", timeout=5.0, source=None):
    deadline = time.monotonic() + T(timeout)
    while True:
        try:
            s = connect(port, host, source, timeout=0.5)
            s.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


S3RVER_SH = REPO / "scripts" / "s3rver.sh"


class S3Server:
    def __init__(self, kind, data_dir):
        self.kind = kind
        self.dir = data_dir
        self.port = None
        self.proc = None

    def start(self, port=None):
        self.port = port or free_port()
        self.log = open(self.dir.with_suffix(".log"), "ab")
        self.proc = subprocess.Popen(
            [str(S3RVER_SH), "run", self.kind, str(self.port), str(self.dir)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + T(20)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3rver {self.kind} exited: "
                                   f"{self.dir.with_suffix('.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"s3rver {self.kind} did not listen on {self.port}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=T(5))
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        self.log.close()

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.port}"
