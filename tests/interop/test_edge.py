"""The edge against real peers (issue 4): a node with the edge enabled in front of its
embedded call control; SIPp over TLS (through the socat bridge) as the remote device.

Device table end to end (AUTH-1, AUTH-2): an unknown device (its MAC in +sip.instance over
TLS) is refused with 403 and appears in the table disabled, described by its address; once
enabled with `voxgate device enable` it registers, and the call control holds the edge's
registration of its extension — the edge's LAN address and a token, nothing of the device.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers import Node, auth_csv, auth_field, free_port, run_sipp, running_node, voxgate

pytestmark = pytest.mark.interop

MAC = "0004f2a1b2c3"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    """The edge on the node's listeners, the embedded call control on its own loopback port."""
    pbx_port = free_port()
    extra = (
        f"[pbx]\nlisten_port = {pbx_port}\n\n"
        f"[edge]\nenabled = true\nupstream_port = {pbx_port}\n"
    )
    with running_node(tmp_path, extra) as running:
        yield running


def wait_for_log(node: Node, text: str, before: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while node.log_text().count(text) <= before:
        assert time.monotonic() < deadline, f"the node never logged {text!r}:\n{node.log_text()[-3000:]}"
        time.sleep(0.05)


def test_unknown_device_is_refused_and_listed_then_registers_once_enabled(
    node: Node, tls_bridge: int, tmp_path: Path
) -> None:
    before = node.log_text().count("SIP users loaded")
    done = voxgate(node, "ext", "add", "201", "--remote", "--username", "alice")
    assert done.returncode == 0, done.stderr
    match = re.search(r"password: (\S+)", done.stdout)
    assert match is not None, done.stdout
    wait_for_log(node, "SIP users loaded", before)
    inf = auth_csv(tmp_path / "alice.csv", [("alice", auth_field("alice", match.group(1)), "127.0.0.1:5999", MAC)])

    refused = run_sipp(tmp_path, "register_device_refused", tls_bridge, transport="t1", calls=1, rate=1,
                       extra=["-inf", str(inf)])  # fmt: skip
    assert refused.counter("SuccessfulCall") == 1, refused.stdout[-2000:]
    deadline = time.monotonic() + 10
    while True:
        listing = voxgate(node, "device", "list").stdout
        if "00:04:f2:a1:b2:c3" in listing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    row = next(line for line in listing.splitlines() if "00:04:f2:a1:b2:c3" in line)
    assert " no " in f" {row} " and "127.0.0.1" in row and "instance" in row, listing

    before = node.log_text().count("device table loaded")
    assert voxgate(node, "device", "enable", MAC).returncode == 0
    wait_for_log(node, "device table loaded", before)
    ok = run_sipp(tmp_path, "register_device", tls_bridge, transport="t1", calls=1, rate=1,
                  extra=["-inf", str(inf)])  # fmt: skip
    assert ok.counter("SuccessfulCall") == 1, ok.stdout[-2000:]

    with sqlite3.connect(node.data_dir / "voxgate.db") as db:
        rows = db.execute("SELECT aor, contact, source_ip, user_agent FROM bindings").fetchall()
    assert len(rows) == 1, rows
    aor, contact, source_ip, user_agent = rows[0]
    assert aor == "201" and source_ip == "127.0.0.1"
    assert "alice" not in contact and "5999" not in contact  # the edge's token and LAN address
    assert user_agent != "sipp-register"  # the device's User-Agent stays at the edge
    audit = voxgate(node, "audit", "--action", "device.").stdout
    assert "device.learned" in audit and "device.enable" in audit, audit


def test_wrong_device_password_is_refused_without_touching_the_call_control(
    node: Node, tls_bridge: int, tmp_path: Path
) -> None:
    users, devices = node.log_text().count("SIP users loaded"), node.log_text().count("device table loaded")
    assert voxgate(node, "ext", "add", "201", "--remote", "--username", "alice").returncode == 0
    assert voxgate(node, "device", "add", MAC, "--enable").returncode == 0
    wait_for_log(node, "SIP users loaded", users)
    wait_for_log(node, "device table loaded", devices)
    inf = auth_csv(tmp_path / "wrong.csv", [("alice", auth_field("alice", "Not-The-Password-1"), "127.0.0.1:5999", MAC)])
    refused = run_sipp(tmp_path, "register_device_refused", tls_bridge, transport="t1", calls=1, rate=1,
                       extra=["-inf", str(inf)])  # fmt: skip
    assert refused.counter("SuccessfulCall") == 1, refused.stdout[-2000:]
    with sqlite3.connect(node.data_dir / "voxgate.db") as db:
        assert db.execute("SELECT count(*) FROM bindings").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM registration_events").fetchone() == (0,)
