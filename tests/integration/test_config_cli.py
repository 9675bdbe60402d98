"""The command line: sora --check/--strict/--help/--version, sora-admin
config validate, diagnostics as FILE:LINE: KEY: message, startup failures."""

import re
import subprocess

import pytest

from sora_testlib import SORA_ADMIN, SORA_BIN, T, free_port


def run(*args, cwd=None):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=T(20), cwd=cwd)


def write(tmp_path, text, name="sora.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def good_config(tmp_path, certs):
    return write(tmp_path, f"""\
[logging]
output = "stderr"
level = "info"

[servers.imap]
addr = "127.0.0.1:{free_port()}"

[servers.lmtp]
addr = "127.0.0.1:{free_port()}"
tls = true
tls_use_starttls = true
tls_cert_file = "{certs.chain}"
tls_key_file = "{certs.key}"

[[server]]
type = "imap"
name = "imaps"
addr = "127.0.0.1:{free_port()}"
tls = true
tls_cert_file = "{certs.chain}"
tls_key_file = "{certs.key}"
""")


def test_help_and_version():
    r = run(SORA_BIN, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Usage: sora")
    for opt in ("--config", "--check", "--strict", "SIGHUP"):
        assert opt in r.stdout
    r = run(SORA_BIN, "-V")
    assert r.returncode == 0
    assert re.fullmatch(r"sora \d+\.\d+\.\d+\n", r.stdout), r.stdout


def test_unknown_option_and_stray_argument_exit_2():
    r = run(SORA_BIN, "--no-such-option")
    assert r.returncode == 2
    assert "Usage: sora" in r.stderr
    r = run(SORA_BIN, "--check", "extra")
    assert r.returncode == 2
    assert "unexpected argument 'extra'" in r.stderr


def test_check_ok(tmp_path, certs):
    cfg = good_config(tmp_path, certs)
    r = run(SORA_BIN, "--check", "--config", cfg)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{cfg}: configuration OK (3 servers)"
    # --check must not start anything: it returns at once, with no log
    assert "event=started" not in r.stderr


def test_dev_config_with_dev_cert_is_valid(tmp_path):
    """sora.dev.toml (what `make run` uses) is valid once scripts/dev-cert.sh
    made its certificate; paths in it are relative to the working dir."""
    from sora_testlib import REPO
    dev = tmp_path / "sora.dev.toml"
    dev.write_text((REPO / "sora.dev.toml").read_text())
    r = run("sh", REPO / "scripts" / "dev-cert.sh", tmp_path / "data")
    assert r.returncode == 0, r.stderr
    r = run(SORA_BIN, "--check", "--config", dev, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert re.search(r"configuration OK \(\d+ servers\)", r.stdout), r.stdout
    assert "warning" not in r.stderr, r.stderr


def test_bad_value_exits_2_naming_file_line_key(tmp_path):
    cfg = write(tmp_path, """\
[servers.imap]
addr = "127.0.0.1:1143"
max_connections = "lots"
""")
    r = run(SORA_BIN, "--check", "--config", cfg)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert re.search(rf"^{re.escape(str(cfg))}:3: servers\.imap\.max_connections: ",
                     r.stderr, re.M), r.stderr
    assert f"{cfg}: invalid configuration" in r.stderr
    assert "configuration OK" not in r.stdout


def test_every_error_is_reported_not_just_the_first(tmp_path):
    cfg = write(tmp_path, """\
[servers.imap]
addr = "127.0.0.1:99999"
auth_idle_timeout = "soon"

[runtime]
event_loops = -1
""")
    r = run(SORA_BIN, "--check", "--config", cfg)
    assert r.returncode == 2
    for line, key in ((2, "servers.imap.addr"), (3, "servers.imap.auth_idle_timeout"),
                      (6, "runtime.event_loops")):
        assert re.search(rf"^{re.escape(str(cfg))}:{line}: {re.escape(key)}: ", r.stderr,
                         re.M), f"no diagnostic for {key} at line {line}:\n{r.stderr}"


def test_toml_syntax_error_names_the_line(tmp_path):
    cfg = write(tmp_path, '[servers.imap]\naddr = "127.0.0.1:1143"\ntls = yes please\n')
    r = run(SORA_BIN, "--check", "--config", cfg)
    assert r.returncode == 2
    assert re.search(rf"^{re.escape(str(cfg))}:3(:\d+)?: ", r.stderr, re.M), r.stderr


def test_missing_file_exits_2(tmp_path):
    missing = tmp_path / "nope.toml"
    r = run(SORA_BIN, "--check", "--config", missing)
    assert r.returncode == 2
    assert str(missing) in r.stderr


def test_missing_certificate_file_is_a_config_error(tmp_path):
    cfg = write(tmp_path, f"""\
[servers.imap]
addr = "127.0.0.1:1143"
tls = true
tls_cert_file = "{tmp_path}/missing-cert.pem"
tls_key_file = "{tmp_path}/missing-key.pem"
""")
    r = run(SORA_BIN, "--check", "--config", cfg)
    assert r.returncode == 2
    assert re.search(rf"^{re.escape(str(cfg))}:4: servers\.imap\.tls_cert_file: .*"
                     r"No such file or directory", r.stderr, re.M), r.stderr
    assert re.search(rf"^{re.escape(str(cfg))}:5: servers\.imap\.tls_key_file: ", r.stderr,
                     re.M), r.stderr


def test_unknown_key_is_a_warning_or_with_strict_an_error(tmp_path):
    cfg = write(tmp_path, """\
[servers.imap]
addr = "127.0.0.1:1143"
frobnicate = true
""")
    r = run(SORA_BIN, "--check", "--config", cfg)
    assert r.returncode == 0, r.stderr
    assert re.search(rf"^warning: {re.escape(str(cfg))}:3: servers\.imap\.frobnicate: ",
                     r.stderr, re.M), r.stderr
    assert "configuration OK (1 servers)" in r.stdout

    r = run(SORA_BIN, "--check", "--strict", "--config", cfg)
    assert r.returncode == 2, r.stdout
    assert re.search(rf"^{re.escape(str(cfg))}:3: servers\.imap\.frobnicate: ", r.stderr,
                     re.M), r.stderr
    assert "configuration OK" not in r.stdout


def test_sora_admin_config_validate(tmp_path, certs):
    good = good_config(tmp_path, certs)
    r = run(SORA_ADMIN, "--config", good, "config", "validate")
    assert r.returncode == 0, r.stderr
    assert f"{good}: configuration OK (3 servers)" in r.stdout

    bad = write(tmp_path, '[servers.imap]\naddr = "127.0.0.1:1143"\nmax_line_length = "x"\n',
                "bad.toml")
    r = run(SORA_ADMIN, "--config", bad, "config", "validate")
    assert r.returncode != 0
    assert re.search(rf"^{re.escape(str(bad))}:3: servers\.imap\.max_line_length: ", r.stderr,
                     re.M), r.stderr

    unknown = write(tmp_path, '[servers.imap]\naddr = "127.0.0.1:1143"\nwhatever = 1\n',
                    "unknown.toml")
    r = run(SORA_ADMIN, "--config", unknown, "config", "validate")
    assert r.returncode == 0, r.stderr
    assert "warning: " in r.stderr and "servers.imap.whatever" in r.stderr
    r = run(SORA_ADMIN, "--config", unknown, "config", "validate", "--strict")
    assert r.returncode != 0
    assert re.search(rf"^{re.escape(str(unknown))}:3: servers\.imap\.whatever: ", r.stderr,
                     re.M), r.stderr


def test_sora_admin_usage_and_missing_groups():
    r = run(SORA_ADMIN, "--help")
    assert r.returncode == 0
    assert "config validate" in r.stdout
    r = run(SORA_ADMIN, "frobnicate", "now")
    assert r.returncode == 2
    assert "'frobnicate now' is not available" in r.stderr


def test_port_in_use_exits_1_naming_the_server(tmp_path):
    import socket
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        cfg = write(tmp_path, f'[servers.imap]\naddr = "127.0.0.1:{port}"\n')
        r = run(SORA_BIN, "--config", cfg)
        assert r.returncode == 1, r.stderr
        assert re.search(rf"{re.escape(str(cfg))}:\d+: server imap \(imap\): cannot listen on "
                         rf"127\.0\.0\.1:{port}", r.stderr), r.stderr
    finally:
        busy.close()


@pytest.mark.parametrize("stype", ["managesieve_proxy", "imap_proxy"])
def test_unimplemented_server_type_refuses_to_start(tmp_path, stype):
    cfg = write(tmp_path, f"""\
[[server]]
type = "{stype}"
name = "x"
addr = "127.0.0.1:{free_port()}"
""")
    r = run(SORA_BIN, "--config", cfg)
    assert r.returncode != 0
    assert "not implemented in this build" in r.stderr, r.stderr
