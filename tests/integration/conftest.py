"""Fixtures for Sora's integration tests (pytest over real sockets).

  certs   the test PKI (sora_testlib.Certs), made once per session with the
          openssl CLI: root CA → intermediate → server leaf (chain file),
          a client CA + client certificate, a self-signed "rogue" client
          certificate
  sora    a factory: sora.start(toml) starts `sora --config` in a fresh temp
          dir with stderr (the log) captured to a file, waits for
          event=started; at teardown every server still running gets
          SIGTERM and must exit 0, and no server's stderr may hold a
          sanitizer report (ASan, LSan, UBSan "runtime error:", TSan)
  spawn   starts helper processes (haproxy, …) and kills them at teardown

Run: /usr/bin/python3 -m pytest -q tests/integration
     (SORA_BIN=path/to/sora, SORA_SANITIZED=1 under make asan)
"""

import signal
import subprocess

import pytest

from sora_testlib import SORA_BIN, Certs, Sora, T


def pytest_report_header(config):
    return f"sora binary: {SORA_BIN}"


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("pki"))


class SoraFactory:
    def __init__(self, tmp_path, certs):
        self.tmp_path = tmp_path
        self.certs = certs
        self.servers = []

    def new(self):
        """An unstarted server (for write_config/start with options)."""
        if not SORA_BIN.exists():
            pytest.fail(f"sora binary not found: {SORA_BIN} (build it, or set SORA_BIN)")
        srv = Sora(self.tmp_path / f"sora{len(self.servers)}", self.certs)
        srv.expected_rc = 0
        self.servers.append(srv)
        return srv

    def start(self, text, **kw):
        srv = self.new()
        return srv.start(text, **kw)

    def finish(self):
        problems = []
        for srv in self.servers:
            if srv.proc is None:
                continue
            try:
                if srv.proc.poll() is None:
                    rc = srv.stop(signal.SIGTERM, timeout=15)
                else:
                    rc = srv.wait_exit(1)
                if srv.expected_rc is not None and rc != srv.expected_rc:
                    problems.append(f"{srv.dir.name}: exit code {rc}, expected "
                                    f"{srv.expected_rc}; log tail:\n{srv.log()[-3000:]}")
            except subprocess.TimeoutExpired:
                srv.kill()
                problems.append(f"{srv.dir.name}: did not exit within 15s of SIGTERM; "
                                f"log tail:\n{srv.log()[-3000:]}")
            finally:
                srv.kill()
            report = srv.sanitizer_report()
            if report is not None:
                problems.append(f"{srv.dir.name}: sanitizer report in stderr:\n{report}")
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def sora(tmp_path, certs):
    factory = SoraFactory(tmp_path, certs)
    try:
        yield factory
    finally:
        factory.finish()


@pytest.fixture
def spawn():
    """spawn(cmd, **popen_kw) → Popen; every process is killed at teardown."""
    procs = []

    def _spawn(cmd, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(cmd, **kw)
        procs.append(p)
        return p

    yield _spawn
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=T(5))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
