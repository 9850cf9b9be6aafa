"""SIPp against a real `voxgate serve`: OPTIONS over UDP, TCP and TLS; refusals; floods."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import pytest
from peers import HOST, Node, run_sipp

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_options_over_udp_and_tcp_get_200(node: Node, tmp_path: Path, transport: str) -> None:
    port = node.udp if transport == "u1" else node.tcp
    result = run_sipp(tmp_path, "options_uac", port, transport=transport, calls=50, rate=50)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.counter("SuccessfulCall") == 50
    assert result.counter("FailedCall") == 0


def test_options_over_tls_get_200(node: Node, tls_bridge: int, tmp_path: Path) -> None:
    result = run_sipp(tmp_path, "options_uac", tls_bridge, transport="t1", calls=30, rate=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.counter("SuccessfulCall") == 30
    assert "TLS" in node.log_text() or node.alive()


def test_invite_without_credentials_is_challenged(node: Node, tmp_path: Path) -> None:
    result = run_sipp(tmp_path, "invite_407", node.udp, calls=10, rate=10)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.counter("SuccessfulCall") == 10


def _options(branch: str, port: int) -> bytes:
    return (
        f"OPTIONS sip:{HOST} SIP/2.0\r\nVia: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK{branch};rport\r\n"
        f"From: <sip:probe@{HOST}>;tag=p{branch}\r\nTo: <sip:{HOST}>\r\nCall-ID: {branch}@{HOST}\r\n"
        f"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_malformed_flood_never_stops_the_node(node: Node, tmp_path: Path) -> None:
    """A bounded flood of garbage and broken SIP, then SIPp's OPTIONS still succeed."""
    rng = random.Random(4475)
    good = _options("flood", 0)
    corpus = sorted((Path(__file__).parent.parent / "corpus").rglob("*.sip"))
    samples = [p.read_bytes() for p in corpus] or [good]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(0.01)
        deadline = time.monotonic() + 20
        for i in range(20000):
            if time.monotonic() > deadline:
                break
            kind = i % 4
            if kind == 0:
                data = rng.randbytes(rng.randrange(1, 1400))
            elif kind == 1:
                base = bytearray(rng.choice(samples))
                for _ in range(rng.randrange(1, 8)):
                    if base:
                        base[rng.randrange(len(base))] = rng.randrange(256)
                data = bytes(base)
            elif kind == 2:
                data = good[: rng.randrange(len(good))]
            else:
                data = rng.choice(samples)
            sock.sendto(data, (HOST, node.udp))
            if i % 200 == 0:
                try:
                    while True:
                        sock.recv(65535)
                except OSError:
                    pass
    assert node.alive(), node.log_text()[-2000:]
    result = run_sipp(tmp_path, "options_uac", node.udp, calls=20, rate=20)
    assert result.counter("SuccessfulCall") == 20, result.stdout
    # A malformed request is answered with the status the parser owes.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        bad = _options("badcseq", port).replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE")
        sock.sendto(bad, (HOST, node.udp))
        answer = sock.recv(65535)
        assert answer.startswith(b"SIP/2.0 400 CSeq Method Mismatch\r\n")
        sock.sendto(_options("v7", port).replace(b" SIP/2.0\r\n", b" SIP/7.0\r\n", 1), (HOST, node.udp))
        assert sock.recv(65535).startswith(b"SIP/2.0 505 ")
