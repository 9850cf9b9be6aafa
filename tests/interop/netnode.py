"""A `voxgate serve` inside a network namespace, and a one-shot SIP probe from another one.

Inside a namespace made by the test every port is ours: the node takes the standard
5060 (UDP, TCP) and 5061 (TLS) on the address it is given.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from netns import Namespace, Topology
from peers import Node, init_node

SIP_PORT = 5060
TLS_PORT = 5061
#: The server's address on the link toward the (outermost) router.
SERVER = "10.231.0.1"


def serve_in(ns: Namespace, tmp_path: Path, address: str, extra: str = "") -> Node:
    """`voxgate serve` from a fresh `voxgate init`, listening on ``address`` inside ``ns``;
    ``extra`` TOML tables go into its config.  Stopped with the topology."""
    config = init_node(tmp_path / f"data-{ns.role}", address, SIP_PORT, SIP_PORT, TLS_PORT, extra)
    log = tmp_path / f"voxgate-{ns.role}.log"
    with log.open("wb") as out:
        process = ns.popen(
            [sys.executable, "-m", "voxgate", "serve", "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    node = Node(process, config.parent, SIP_PORT, SIP_PORT, TLS_PORT, log)
    deadline = time.monotonic() + 30
    while "voxgate running" not in node.log_text():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"voxgate serve did not start in {ns.name}:\n{node.log_text()[-3000:]}")
        time.sleep(0.1)
    return node


def bindings(node: Node) -> list[dict[str, object]]:
    """The rows of the node's ``bindings`` table."""
    with sqlite3.connect(node.data_dir / "voxgate.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM bindings ORDER BY id")]


def registration_events(node: Node) -> list[dict[str, object]]:
    """The rows of the node's ``registration_events`` table (AUTH-6 audit)."""
    with sqlite3.connect(node.data_dir / "voxgate.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM registration_events ORDER BY id")]


_PROBE = r"""
import socket, sys, uuid
src, dst, port, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
tag, branch = uuid.uuid4().hex[:10], "z9hG4bK" + uuid.uuid4().hex[:16]
msg = (f"OPTIONS sip:{dst}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {src}:{s.getsockname()[1]};"
       f"branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@{src}>;tag={tag}\r\n"
       f"To: <sip:{dst}>\r\nCall-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\n"
       "Content-Length: 0\r\n\r\n")
s.settimeout(wait / 3)
for _ in range(3):
    s.sendto(msg.encode(), (dst, port))
    try:
        data = s.recv(65535)
    except TimeoutError:
        continue
    print(data.split(b"\r\n", 1)[0].decode())
    break
"""


def sip_probe(ns: Namespace, src: str, dst: str, port: int = SIP_PORT, wait: float = 3.0) -> str:
    """Send an OPTIONS from ``src`` inside ``ns`` (three tries within ``wait`` seconds); the
    status line of the answer, or ``""`` if none came."""
    return ns.run(sys.executable, "-c", _PROBE, src, dst, str(port), str(wait),
                  timeout=wait + 30).strip()  # fmt: skip


@dataclass
class NatPath:
    """A home namespace behind ``layers`` masquerading routers, and the server namespace."""

    server: Namespace
    home: Namespace
    home_ip: str
    public_ip: str  # the outermost router's WAN address: what the server sees


def build_nat_path(net: Topology, layers: int, server: Namespace | None = None) -> NatPath:
    """server ─ router(s) ─ home; router n (counted from the server) has WAN 10.231.<n>.2
    and LAN 10.231.<n+1>.1, and masquerades what leaves through its WAN.  ``server``: the
    namespace that gets :data:`SERVER` on the first link (default: a new one, "server")."""
    server = server or net.namespace("server")
    upstream, upstream_ip = server, SERVER
    for n in range(layers):
        router = net.namespace("router" if layers == 1 else ("isp" if n == 0 else f"cpe{n}"))
        _, wan = net.link(upstream, f"{upstream_ip}/24", router, f"10.231.{n}.2/24",
                          a_name="down", b_name="wan")  # fmt: skip
        if n > 0:
            router.default_route(upstream_ip)
        router.enable_forwarding()
        router.masquerade(wan)
        upstream, upstream_ip = router, f"10.231.{n + 1}.1"
    home = net.namespace("home")
    home_ip = f"10.231.{layers}.2"
    net.link(upstream, f"{upstream_ip}/24", home, f"{home_ip}/24", a_name="lan", b_name="wan")
    home.default_route(upstream_ip)
    return NatPath(server, home, home_ip, "10.231.0.2")
