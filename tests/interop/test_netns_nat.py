"""Real NAT: a SIPp phone in a 'home' namespace registers with a `voxgate serve` in a
'server' namespace through one, then two routers that masquerade (nftables), and the
node records the NAT's public address as the binding's source, not the phone's; a
baresip phone behind the NAT registers over UDP or TLS and a call from the office side
reaches it back through the NAT.

    home 10.231.1.2 ── 10.231.1.1 router 10.231.0.2 ── 10.231.0.1 server   (one NAT)
    home 10.231.2.2 ── cpe ── 10.231.1.0/24 ── isp 10.231.0.2 ── server    (two NATs)

The server has no route to the home networks: only the NAT's conntrack brings the
answers back, so a registration that completes went through the NAT both ways.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from netnode import (
    SERVER,
    SIP_PORT,
    TLS_PORT,
    NatPath,
    bindings,
    build_nat_path,
    registration_events,
    serve_in,
)
from netns import Topology
from peers import auth_csv, auth_field, import_extensions, run_sipp, voxgate

pytestmark = pytest.mark.interop

#: SIPp 3.6 knows only MD5 (docs/interop.md).
SIPP_PBX = '\n[pbx]\ndigest_algorithms = "MD5"\n'


def _register_through_nat(net: Topology, tmp_path: Path, layers: int) -> None:
    path = build_nat_path(net, layers)
    node = serve_in(path.server, tmp_path, SERVER, SIPP_PBX)
    number, secret = "201", "Vx" + secrets.token_urlsafe(15)
    import_extensions(node, tmp_path, [(number, secret)])
    contact = f"{path.home_ip}:5070"  # the phone knows only its private address
    inf = auth_csv(tmp_path / "reg.csv", [(number, auth_field(number, secret), contact)])
    result = run_sipp(tmp_path, "register_auth", SIP_PORT, calls=1, rate=1, timeout=20,
                      host=SERVER, source=path.home_ip, prefix=path.home.exec_prefix,
                      extra=["-inf", str(inf)])  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert result.counter("SuccessfulCall") == 1
    [binding] = bindings(node)
    assert binding["aor"] == number
    assert binding["transport"] == "udp"
    assert binding["contact"] == f"sip:{number}@{contact}"
    # the node saw the NAT's public address, never the phone's private one
    assert binding["source_ip"] == path.public_ip, binding
    [event] = registration_events(node)
    assert (event["extension"], event["outcome"], event["source_ip"]) == (
        number, "registered", path.public_ip,
    )  # fmt: skip
    flows = {entry["flow"] for entry in _log_entries(node.log) if entry.get("method") == "REGISTER"}
    assert flows, node.log_text()[-2000:]
    assert all(str(flow).startswith(f"udp:{path.public_ip}:") for flow in flows), flows


def _log_entries(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]

def test_register_through_one_nat(netns: Topology, tmp_path: Path) -> None:
    _register_through_nat(netns, tmp_path, layers=1)


def test_register_through_two_nats(netns: Topology, tmp_path: Path) -> None:
    _register_through_nat(netns, tmp_path, layers=2)


def _baresip_behind_nat(path: NatPath, tmp_path: Path, account: str) -> None:
    """A baresip phone (auto-answer) in the home namespace; stopped with the topology."""
    home = tmp_path / "baresip"
    home.mkdir()
    (home / "config").write_text(
        "poll_method epoll\n"
        f"sip_listen {path.home_ip}:0\n"
        "audio_player aubridge,nat-play\naudio_source aubridge,nat-src\n"
        "audio_alert aubridge,nat-alert\n"
        "rtp_ports 20000-20099\n"
        "module_path /usr/lib/baresip/modules\n"
        "module g711.so\nmodule aubridge.so\n"
        "module_app account.so\n"
    )
    (home / "accounts").write_text(account + "\n")
    with (tmp_path / "baresip.log").open("wb") as log:
        path.home.popen(["baresip", "-s", "-f", str(home), "-n", path.home_ip],
                        stdout=log, stderr=subprocess.STDOUT)  # fmt: skip


@pytest.mark.parametrize("transport", ["udp", "tls"])
def test_call_reaches_a_baresip_phone_behind_nat(netns: Topology, tmp_path: Path, transport: str) -> None:
    """The phone registers through the NAT; a call to it from the office side comes back in
    through the NAT's mapping (the UDP binding's source, or the TLS connection)."""
    if shutil.which("baresip") is None:
        pytest.fail("baresip is not installed: ./test installs Debian's baresip")
    path = build_nat_path(netns, 1)
    office = netns.namespace("office")
    netns.link(path.server, "10.231.11.1/24", office, "10.231.11.2/24", a_name="office")
    office.default_route("10.231.11.1")
    node = serve_in(path.server, tmp_path, SERVER, SIPP_PBX)
    caller, callee = ("201", "Vx" + secrets.token_urlsafe(15)), ("202", "Vx" + secrets.token_urlsafe(15))
    import_extensions(node, tmp_path, [caller, callee])
    port = SIP_PORT if transport == "udp" else TLS_PORT
    _baresip_behind_nat(path, tmp_path, (
        f"<sip:{callee[0]}@{SERVER}:{port};transport={transport}>;auth_pass={callee[1]};"
        "answermode=auto;regint=300"
    ))  # fmt: skip
    deadline = time.monotonic() + 20
    while not (rows := bindings(node)):
        assert time.monotonic() < deadline, (tmp_path / "baresip.log").read_text()[-3000:]
        time.sleep(0.2)
    [binding] = rows
    assert (binding["aor"], binding["transport"], binding["source_ip"]) == (callee[0], transport, path.public_ip)
    assert path.home_ip in str(binding["contact"])  # the phone's own idea of its address
    inf = auth_csv(tmp_path / "call.csv", [(caller[0], auth_field(*caller), callee[0])])
    result = run_sipp(tmp_path, "call_uac_auth", SIP_PORT, calls=1, rate=1, timeout=30,
                      host=SERVER, source="10.231.11.2", prefix=office.exec_prefix,
                      extra=["-inf", str(inf), "-auth_uri", f"{callee[0]}@{SERVER}:{SIP_PORT}"])  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + (tmp_path / "baresip.log").read_text()[-3000:]
    assert result.counter("SuccessfulCall") == 1
    done = voxgate(node, "cdr", "export", "--format", "csv")
    [record] = list(csv.DictReader(io.StringIO(done.stdout)))
    assert (record["caller"], record["callee"], record["disposition"]) == (caller[0], callee[0], "answered")
