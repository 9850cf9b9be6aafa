"""The edge against real peers (issue 4): a node with the edge enabled in front of its
embedded call control; SIPp over TLS (through the socat bridge) as the remote device.

Device table end to end (AUTH-1, AUTH-2): an unknown device (its MAC in +sip.instance over
TLS) is refused with 403 and appears in the table disabled, described by its address; once
enabled with `voxgate device enable` it registers, and the call control holds the edge's
registration of its extension — the edge's LAN address and a token, nothing of the device.
"""

from __future__ import annotations

import csv
import io
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers import (
    SCENARIOS,
    Node,
    auth_csv,
    auth_field,
    bridge_to_tls,
    free_port,
    import_extensions,
    run_sipp,
    running_node,
    voxgate,
)
from phones import Baresip

pytestmark = pytest.mark.interop

MAC = "0004f2a1b2c3"


@pytest.fixture
def pbx_port() -> int:
    """The embedded call control's own port (the LAN side of the edge)."""
    return free_port()


@pytest.fixture
def node(tmp_path: Path, pbx_port: int, request: pytest.FixtureRequest) -> Iterator[Node]:
    """The edge on the node's listeners, the embedded call control on its own loopback port
    (and the tables of a ``node_config`` mark)."""
    marker = request.node.get_closest_marker("node_config")
    extra = (
        f"[pbx]\nlisten_port = {pbx_port}\n\n"
        f"[edge]\nenabled = true\nupstream_port = {pbx_port}\n"
    ) + ("\n" + marker.args[0] if marker else "")
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

    # what the call control recorded (SIPp has hung up since, and with its connection the edge
    # unregistered it: the registration event is what stays)
    with sqlite3.connect(node.data_dir / "voxgate.db") as db:
        rows = db.execute("SELECT extension, outcome, credential, user_agent FROM registration_events "
                          "WHERE recorded_by = 'pbx' ORDER BY id").fetchall()  # fmt: skip
    assert rows[0][:3] == ("201", "registered", "201"), rows  # the level-2 credential
    assert all(r[3] != "sipp-register" for r in rows)  # the device's User-Agent stays at the edge
    audit = voxgate(node, "audit", "--action", "device.").stdout
    assert "device.learned" in audit and "device.enable" in audit, audit
    # the registration log ties device, address, SIP user and extension together (AUTH-6)
    deadline = time.monotonic() + 10
    while True:  # the edge writes its rows within a second or so
        log_lines = voxgate(node, "registrations", "--extension", "201").stdout.splitlines()
        edge_rows = [line for line in log_lines if " edge " in line]
        if len(edge_rows) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert any("refused" in r and "device 00:04:f2:a1:b2:c3" in r and "(unknown device)" in r
               and "as alice" in r for r in edge_rows), log_lines  # fmt: skip
    assert any(" registered " in r and "device 00:04:f2:a1:b2:c3" in r and "from tls 127.0.0.1:" in r
               for r in edge_rows), log_lines  # fmt: skip
    assert any(" pbx " in line and " registered " in line and "as 201" in line for line in log_lines)


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
        # nothing reached the call control; the edge logs the refusal itself (written a moment later)
        assert db.execute("SELECT count(*) FROM registration_events WHERE recorded_by = 'pbx'").fetchone() == (0,)


MEDIA = '[media]\nengine = "builtin"\nwan_address = "127.0.0.1"\nworkers = 1\nport_min = 62000\nport_max = 62999\n'


@pytest.mark.node_config(MEDIA)
def test_a_remote_baresip_phone_calls_and_is_called_through_the_edge(
    node: Node, pbx_port: int, tmp_path: Path
) -> None:
    """Alice is remote: baresip over TLS to the edge, her MAC in +sip.instance, a SIP user of
    extension 201, SRTP mandatory (the edge's media relay re-keys and relays her media to
    plain RTP on the LAN side).  Bob is on the LAN: baresip registered with the call control
    directly."""
    counts = node.log_text().count("SIP users loaded"), node.log_text().count("device table loaded")
    done = voxgate(node, "ext", "add", "201", "--remote", "--username", "alice")
    match = re.search(r"password: (\S+)", done.stdout)
    assert done.returncode == 0 and match is not None, done.stdout + done.stderr
    assert voxgate(node, "device", "add", MAC, "--enable", "--description", "alice at home").returncode == 0
    wait_for_log(node, "SIP users loaded", counts[0])
    wait_for_log(node, "device table loaded", counts[1])
    bob_secret = "Hx4-rMn8-Pq2v"
    import_extensions(node, tmp_path, [("202", bob_secret)])
    remote = Baresip(
        "alice", "127.0.0.31",
        f"<sip:alice@127.0.0.1:{node.tls};transport=tls>;auth_pass={match.group(1)};answermode=auto;regint=300;mediaenc=srtp-mand;sipnat=outbound;"
        f"outbound=\"sip:127.0.0.1:{node.tls};transport=tls\"",
        node.data_dir / "tls" / "cert.pem", tmp_path, uuid="00000000-0000-1000-8000-0004f2a1b2c3",
    )  # fmt: skip
    lan = Baresip(
        "bob", "127.0.0.32", f"<sip:202@127.0.0.1:{pbx_port}>;auth_pass={bob_secret};answermode=auto;regint=300",
        node.data_dir / "tls" / "cert.pem", tmp_path,
    )  # fmt: skip
    with remote as alice, lan as bob:
        alice.wait_registered()
        bob.wait_registered()
        alice.command("dial", f"sip:202@127.0.0.1:{node.tls};transport=tls")
        alice.wait_event("CALL_ESTABLISHED")
        bob.wait_event("CALL_ESTABLISHED")
        time.sleep(2)
        alice.command("hangup")
        alice.wait_event("CALL_CLOSED")
        bob.wait_event("CALL_CLOSED")
        bob.command("dial", f"sip:201@127.0.0.1:{pbx_port}")
        alice.wait_event("CALL_ESTABLISHED")
        bob.wait_event("CALL_ESTABLISHED")
        time.sleep(1)
        bob.command("hangup")
        bob.wait_event("CALL_CLOSED")
        alice.wait_event("CALL_CLOSED")
    records = list(csv.DictReader(io.StringIO(voxgate(node, "cdr", "export").stdout)))
    assert [(r["caller"], r["callee"], r["disposition"]) for r in records] == [
        ("201", "202", "answered"), ("202", "201", "answered"),
    ]
    assert 1.5 < float(records[0]["duration"]) < 10


@pytest.mark.parametrize("verified", [True, False], ids=["right-ca", "wrong-ca"])
def test_the_edge_fronts_a_separate_call_control_over_verified_tls(tmp_path: Path, verified: bool) -> None:
    """Two nodes: a call control alone (TLS listener), and an edge alone whose upstream is that
    TLS port, verified against the call control's certificate (or, failing, against another)."""
    with running_node(tmp_path / "pbx", "[edge]\nenabled = false\n") as pbx:
        assert voxgate(pbx, "ext", "add", "201", "--secret", "Pbx-Side-Secret-42").returncode == 0
        pbx.process.send_signal(signal.SIGHUP)
        ca = pbx.data_dir / "tls" / "cert.pem" if verified else tmp_path / "other-ca.pem"
        if not verified:
            ca.write_bytes(_other_certificate(tmp_path))
        extra = (
            "[pbx]\nenabled = false\n\n"
            f'[edge]\nenabled = true\nupstream_port = {pbx.tls}\nupstream_transport = "tls"\n'
            f'upstream_ca = "{ca}"\n'
        )
        with running_node(tmp_path / "edge", extra) as edge, bridge_to_tls(edge.tls) as bridge:
            counts = edge.log_text().count("SIP users loaded"), edge.log_text().count("device table loaded")
            done = voxgate(edge, "sipuser", "add", "alice", "--extension", "201", "--password",
                           "Dev1ce-Secret-9qkz", "--upstream-secret", "Pbx-Side-Secret-42")  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            assert voxgate(edge, "device", "add", MAC, "--enable").returncode == 0
            wait_for_log(edge, "SIP users loaded", counts[0])
            wait_for_log(edge, "device table loaded", counts[1])
            inf = auth_csv(tmp_path / "alice.csv", [("alice", auth_field("alice", "Dev1ce-Secret-9qkz"), "127.0.0.1:5999", MAC)])
            scenario: str | Path = "register_device"
            if not verified:  # the device is told at once that the call control is out of reach
                scenario = tmp_path / "register_device_503.xml"
                scenario.write_text((SCENARIOS / "register_device_refused.xml").read_text()
                                    .replace('response="403"', 'response="503"'))  # fmt: skip
            result = run_sipp(tmp_path, scenario, bridge, transport="t1", calls=1, rate=1,
                              extra=["-inf", str(inf)], timeout=20)  # fmt: skip
            if verified:
                assert result.counter("SuccessfulCall") == 1, result.stdout[-2000:]
                assert "connected to the call control" in edge.log_text()
                with sqlite3.connect(pbx.data_dir / "voxgate.db") as db:
                    rows = db.execute("SELECT extension, outcome, transport FROM registration_events "
                                      "WHERE recorded_by = 'pbx' ORDER BY id").fetchall()  # fmt: skip
                assert rows[0] == ("201", "registered", "tls"), rows  # the edge's, over TLS
            else:
                assert result.counter("SuccessfulCall") == 1, result.stdout[-2000:]
                assert "cannot connect to the call control" in edge.log_text()
                assert "certificate verify failed" in edge.log_text()


def _other_certificate(tmp_path: Path) -> bytes:
    """A self-signed certificate that did not sign the call control's."""
    other = tmp_path / "other"
    subprocess.run([sys.executable, "-m", "voxgate", "init", "--data", str(other)], check=True,
                   capture_output=True)  # fmt: skip
    return (other / "tls" / "cert.pem").read_bytes()


def test_a_garbage_flood_never_stops_legitimate_registrations(tmp_path: Path, pbx_port: int) -> None:
    """One source floods the edge's UDP listener with garbage and broken SIP while a device keeps
    registering over TLS: every registration succeeds, the flood's source is rate-limited (and
    audited), and the node is still up."""
    extra = (
        f"[pbx]\nlisten_port = {pbx_port}\n\n[edge]\nenabled = true\nupstream_port = {pbx_port}\n\n"
        '[security]\ntrusted_networks = ["127.0.0.1/32"]\n'
    )
    with running_node(tmp_path, extra) as edge, bridge_to_tls(edge.tls) as bridge:
        counts = edge.log_text().count("SIP users loaded"), edge.log_text().count("device table loaded")
        done = voxgate(edge, "ext", "add", "201", "--remote", "--username", "alice")
        match = re.search(r"password: (\S+)", done.stdout)
        assert match is not None, done.stdout + done.stderr
        assert voxgate(edge, "device", "add", MAC, "--enable").returncode == 0
        wait_for_log(edge, "SIP users loaded", counts[0])
        wait_for_log(edge, "device table loaded", counts[1])
        inf = auth_csv(tmp_path / "alice.csv", [("alice", auth_field("alice", match.group(1)), "127.0.0.1:5999", MAC)])

        stop = threading.Event()
        sent = [0]

        def flood() -> None:
            rng = random.Random(7)
            junk = [rng.randbytes(rng.randrange(1, 1400)) for _ in range(64)]
            junk.append(b"REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9;branch=z9hG4bKf\r\n\r\n")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.9", 0))
                while not stop.is_set():
                    sock.sendto(junk[sent[0] % len(junk)], ("127.0.0.1", edge.udp))
                    sent[0] += 1
                    if sent[0] % 500 == 0:
                        time.sleep(0.01)  # bounded: a few thousand datagrams a second

        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        try:
            result = run_sipp(tmp_path, "register_device", bridge, transport="t1", calls=10, rate=2,
                              extra=["-inf", str(inf)])  # fmt: skip
        finally:
            stop.set()
            flooder.join(5)
        assert sent[0] > 5000
        assert result.counter("SuccessfulCall") == 10, result.stdout[-2000:]
        assert edge.alive()
        deadline = time.monotonic() + 10
        while "127.0.0.9" not in (audit := voxgate(edge, "audit", "--action", "security.").stdout):
            assert time.monotonic() < deadline, audit
            time.sleep(0.2)
        assert "security.rate_limited" in audit


def test_sdes_keys_over_plain_udp_are_refused_with_488(tmp_path: Path, pbx_port: int) -> None:
    """MEDIA-1 with a real peer: SIPp registers a SIP user over plain UDP, then offers SRTP with
    its key in the SDP: the edge answers 488 and nothing reaches the call control's callee
    (no call record beyond the refusal at the edge, no media ports opened)."""
    extra = (
        f"[pbx]\nlisten_port = {pbx_port}\n\n"
        f"[edge]\nenabled = true\nupstream_port = {pbx_port}\nrequire_device = false\n\n"
        '[media]\nengine = "builtin"\nwan_address = "127.0.0.1"\nworkers = 1\n'
        "port_min = 63000\nport_max = 63999\n"
    )
    with running_node(tmp_path, extra) as edge:
        counts = edge.log_text().count("SIP users loaded")
        done = voxgate(edge, "ext", "add", "201", "--remote", "--username", "alice")
        match = re.search(r"password: (\S+)", done.stdout)
        assert match is not None, done.stdout + done.stderr
        import_extensions(edge, tmp_path, [("202", "Hx4-rMn8-Pq2v")])
        wait_for_log(edge, "SIP users loaded", counts)
        inf = auth_csv(tmp_path / "alice.csv", [("alice", auth_field("alice", match.group(1)),
                                                  "127.0.0.1:5999", "202")])  # fmt: skip
        port = str(free_port())  # the call must come from where the device registered
        # (SIPp signs sip:<remote> unless told the Request-URI: docs/interop.md)
        for scenario, auth_uri in (("register_auth", f"127.0.0.1:{edge.udp}"),
                                   ("call_uac_keys_in_clear", f"202@127.0.0.1:{edge.udp}")):
            result = run_sipp(tmp_path, scenario, edge.udp, calls=1, rate=1, timeout=30,
                              extra=["-inf", str(inf), "-p", port, "-auth_uri", auth_uri])  # fmt: skip
            assert result.counter("SuccessfulCall") == 1, (scenario, result.stdout[-3000:])
        refusals = [line for line in edge.log_text().splitlines() if '"INVITE 488"' in line]
        assert len(refusals) == 1, edge.log_text()[-3000:]
        assert "media relay: 1 worker(s)" in edge.log_text()
        assert "media of call" not in edge.log_text()  # no media was ever set up
