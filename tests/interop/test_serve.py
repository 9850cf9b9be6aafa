"""`voxgate serve` as a process: logging, certificate reload on SIGHUP, bad config at start."""

from __future__ import annotations

import datetime
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from peers import HOST, Node

from voxgate.config.certificates import (
    certificate_pem,
    generate_private_key,
    private_key_pem,
    self_signed_certificate,
)

pytestmark = pytest.mark.interop


def served_cn(port: int) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((HOST, port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_sighup_reloads_the_certificate(node: Node) -> None:
    before = served_cn(node.tls)
    key = generate_private_key()
    cert = self_signed_certificate(key, "reloaded.example.net", now=datetime.datetime.now(datetime.UTC))
    (node.data_dir / "tls" / "key.pem").write_bytes(private_key_pem(key))
    (node.data_dir / "tls" / "cert.pem").write_bytes(certificate_pem(cert))
    node.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while served_cn(node.tls) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert served_cn(node.tls) == "reloaded.example.net"


def test_one_json_log_line_per_transaction(node: Node) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        subscribe = (  # a method the node does not serve
            f"SUBSCRIBE sip:2001@{HOST} SIP/2.0\r\nVia: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bKlog1\r\n"
            f"From: <sip:1001@{HOST}>;tag=l1\r\nTo: <sip:2001@{HOST}>\r\nCall-ID: log-line-1\r\n"
            f"CSeq: 1 SUBSCRIBE\r\nMax-Forwards: 70\r\nEvent: presence\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        sock.sendto(subscribe, (HOST, node.udp))
        assert sock.recv(65535).startswith(b"SIP/2.0 405 Method Not Allowed\r\n")
    deadline = time.monotonic() + 5
    while '"log-line-1"' not in node.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [json.loads(line) for line in node.log_text().splitlines() if "log-line-1" in line]
    assert len(lines) == 1
    entry = lines[0]
    assert (entry["method"], entry["status"], entry["branch"]) == ("SUBSCRIBE", 405, "z9hG4bKlog1")
    assert entry["flow"].startswith("udp:")
    assert entry["duration_ms"] >= 0


def test_bad_config_stops_serve_with_key_and_reason(tmp_path: Path) -> None:
    config = tmp_path / "voxgate.toml"
    config.write_text('[[sip.listeners]]\ntransport = "udp"\naddress = "127.0.0.1"\nport = 70000\n')
    done = subprocess.run(
        [sys.executable, "-m", "voxgate", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "sip.listeners[0].port" in done.stderr
    assert "70000" in done.stderr


def _serve_once(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voxgate", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_unreachable_database_stops_serve_with_a_clear_line(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    config = tmp_path / "voxgate.toml"
    config.write_text(
        f'[[sip.listeners]]\ntransport = "udp"\naddress = "127.0.0.1"\nport = 0\n'
        f'[store]\nurl = "postgresql+asyncpg://voxgate:hunter2@127.0.0.1:{port}/voxgate"\n'
    )
    done = _serve_once(config)
    assert done.returncode == 1
    assert "could not start: cannot open the database" in done.stderr
    assert "hunter2" not in done.stderr  # the password is not shown
    assert "Traceback" not in done.stderr


def test_port_in_use_stops_serve_with_a_clear_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind((HOST, 0))
        port = busy.getsockname()[1]
        config = tmp_path / "voxgate.toml"
        config.write_text(f'[[sip.listeners]]\ntransport = "udp"\naddress = "127.0.0.1"\nport = {port}\n')
        done = _serve_once(config)
    assert done.returncode == 1
    assert "could not start: cannot open the SIP listeners" in done.stderr
    assert "Traceback" not in done.stderr
