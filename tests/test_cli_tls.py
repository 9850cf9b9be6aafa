"""`voxgate tls show` and `voxgate tls install` as an administrator runs them (the real
command in a subprocess, against a data directory made by `voxgate init`), and a running node
that presents the installed certificate after SIGHUP, without a restart."""

from __future__ import annotations

import hashlib
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from minica import pki
from peers import running_node

from voxgate.config import certificates

CA = pki()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "voxgate", "init", "--data", str(data)], check=True,
                   capture_output=True)  # fmt: skip
    return data / "voxgate.toml"


def vg(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voxgate", *args, "--config", str(config)],
                          capture_output=True, text=True, check=False)  # fmt: skip


def files(tmp_path: Path) -> dict[str, Path]:
    found = {}
    for name, data in (("cert", CA.leaf.pem), ("key", CA.leaf.key_pem),
                       ("chain", CA.intermediate.pem), ("root", CA.root.pem),
                       ("other-key", CA.server("other.example").key_pem)):  # fmt: skip
        path = tmp_path / f"{name}.pem"
        path.write_bytes(data)
        found[name] = path
    return found


def test_show_then_install_a_ca_signed_certificate(config: Path, tmp_path: Path) -> None:
    tls_dir = config.parent / "tls"
    self_signed = certificates.fingerprint((tls_dir / "cert.pem").read_bytes())
    shown = vg(config, "tls", "show")
    assert shown.returncode == 0, shown.stderr
    assert f"sha-256:      {self_signed}" in shown.stdout
    assert "(self-signed)" in shown.stdout and "key:          RSA 3072" in shown.stdout
    assert "tls:          TLS >= 1.2, TLS 1.2 ciphers ECDHE+AESGCM:ECDHE+CHACHA20" in shown.stdout
    assert "warning: This certificate is self-signed" in shown.stdout

    given = files(tmp_path)
    done = vg(config, "tls", "install", "--cert", str(given["cert"]), "--key", str(given["key"]),
              "--chain", str(given["chain"]))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        f"installed CN=edge.example, O=Example Customer (SHA-256 {CA.leaf.fingerprint})"
        in done.stdout
    )
    assert f"  wrote {tls_dir / 'cert.pem'}, {tls_dir / 'key.pem'}" in done.stdout
    assert f"  kept  {tls_dir / 'cert.pem.previous'}, {tls_dir / 'key.pem.previous'}" in done.stdout
    assert "after SIGHUP" in done.stdout
    assert (tls_dir / "cert.pem").read_bytes() == CA.leaf.pem + CA.intermediate.pem

    shown = vg(config, "tls", "show")
    assert f"sha-256:      {CA.leaf.fingerprint}" in shown.stdout
    assert "chain:        1 certificate after it" in shown.stdout
    assert "warning" not in shown.stdout
    audit = vg(config, "audit", "--action", "tls.").stdout
    assert " tls.install  CN=edge.example, O=Example Customer  SHA-256 " in audit
    assert "cli:" in audit and "node not reloaded" in audit


def test_refusals_name_the_option_and_change_nothing(config: Path, tmp_path: Path) -> None:
    tls_dir = config.parent / "tls"
    before = {p.name: p.read_bytes() for p in tls_dir.iterdir()}
    given = files(tmp_path)
    for args, message in (
        (("--cert", str(given["cert"]), "--key", str(given["other-key"])),
         "voxgate: tls install: --key: the private key does not belong to the certificate "
         "'edge.example'"),
        (("--cert", str(given["cert"]), "--key", str(given["key"]), "--chain",
          str(given["root"])), "voxgate: tls install: --chain: the chain does not belong"),
        (("--cert", str(given["key"]), "--key", str(given["key"])),
         "voxgate: tls install: --cert: the certificate file holds a private key"),
        (("--cert", str(tmp_path / "missing.pem"), "--key", str(given["key"])),
         f"voxgate: tls install: --cert: cannot read {tmp_path / 'missing.pem'}: No such file"),
    ):  # fmt: skip
        done = vg(config, "tls", "install", *args)
        assert done.returncode == 1, done.stdout
        assert done.stderr.startswith(message), done.stderr
    assert {p.name: p.read_bytes() for p in tls_dir.iterdir()} == before
    assert vg(config, "audit", "--action", "tls.").stdout == ""


def presented(port: int, cafile: Path | None = None) -> str:
    if cafile is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:  # fmt: skip
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def test_a_running_node_presents_the_installed_certificate_after_sighup(tmp_path: Path) -> None:
    given = files(tmp_path)
    with running_node(tmp_path) as node:
        config = node.data_dir / "voxgate.toml"
        self_signed = certificates.fingerprint((node.data_dir / "tls" / "cert.pem").read_bytes())
        assert presented(node.tls) == self_signed
        done = vg(config, "tls", "install", "--cert", str(given["cert"]), "--key",
                  str(given["key"]), "--chain", str(given["chain"]))  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert presented(node.tls) == self_signed  # not before SIGHUP
        node.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while presented(node.tls) != CA.leaf.fingerprint:
            assert time.monotonic() < deadline, node.log_text()[-2000:]
            time.sleep(0.05)
        assert presented(node.tls, given["root"]) == CA.leaf.fingerprint
        assert node.alive()
