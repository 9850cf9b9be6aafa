"""The edge behind real NAT (issue 4): network namespaces, nftables, real phones.

The node runs with the edge enabled in a 'server' namespace: the edge's listeners (UDP
5060, TLS 5061) on its WAN-side address, the call control and the edge's LAN side on a
LAN veth toward a 'lan' namespace, where a baresip phone (bob, extension 202) registers
with the call control directly.  The remote phone (alice, extension 201, a SIP user of
the edge) is baresip over TLS with RFC 5626 outbound and a uuid file (its MAC in
+sip.instance) in a 'home' namespace behind one or two masquerading routers:

    home 10.231.1.2 ── router 10.231.0.2 ── 10.231.0.1 server 10.231.50.1 ── 10.231.50.2 lan
                                             (edge WAN)  (call control, edge LAN)

DMZ mode: the server has only private addresses, behind a 'firewall' namespace that
forwards its public address's TLS port (10.231.0.1:5091) to the edge (10.231.60.2:5061)
and masquerades what leaves; ``edge.public_address``/``public_port`` name the public one:

    home ── router 10.231.0.2 ── 10.231.0.1 firewall 10.231.60.1 ── 10.231.60.2 server ── lan

Nothing routes toward the home networks: a call from the LAN reaches alice only over the
TLS connection she opened (the edge reusing her flow through the NATs' conntrack).

The attack tests point SIPVicious at the edge's plain UDP listener from an 'attacker'
namespace linked to the server (10.231.10.2): svwar finds no SIP user, svcrack is locked
out while alice's device keeps registering over TLS through the NAT.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from netnode import SERVER, SIP_PORT, TLS_PORT, bindings, build_nat_path, serve_in, sip_probe
from netns import Interface, Namespace, Topology
from peers import Node, SippResult, auth_csv, auth_field, import_extensions, run_sipp, voxgate
from phones import Baresip
from sipvicious import Scan, finish_svcrack, svwar_answers, tool

pytestmark = pytest.mark.interop

#: The server's LAN address: the call control listens there, the edge's LAN side leaves from it.
LAN_SERVER, LAN_PHONE = "10.231.50.1", "10.231.50.2"
PBX_PORT = 5070
#: DMZ mode: the edge's private address, and the firewall's public TLS port forwarded to it.
DMZ_SERVER, PUBLIC_TLS_PORT = "10.231.60.2", 5091
ATTACKER = "10.231.10.2"
MAC = "0004f2a1b2c3"
UUID = "00000000-0000-1000-8000-0004f2a1b2c3"  # a version-1 UUID whose node field is the MAC


def edge_config(public: tuple[str, int] | None = None, extra: str = "") -> str:
    """The node's extra TOML: call control on the LAN address, the edge in front of it."""
    dmz = f'public_address = "{public[0]}"\npublic_port = {public[1]}\n' if public else ""
    return (
        '\n[pbx]\ndigest_algorithms = "MD5"\n'  # SIPp and baresip know only MD5
        f'listen_address = "{LAN_SERVER}"\nlisten_port = {PBX_PORT}\n'
        f'\n[edge]\nenabled = true\nlan_address = "{LAN_SERVER}"\n'
        f'upstream_host = "{LAN_SERVER}"\nupstream_port = {PBX_PORT}\n{dmz}' + extra
    )  # fmt: skip


@dataclass
class EdgeLab:
    node: Node
    server: Namespace
    lan: Namespace
    home: Namespace
    home_ip: str
    #: Where the edge sees alice's packets come from: the outermost router's WAN address.
    public_ip: str
    #: Where alice sends: the edge's own address, or the firewall's public one (DMZ).
    edge_host: str
    edge_port: int
    #: The edge's own TLS listener address (private in DMZ mode).
    listener: str
    alice_password: str
    bob_secret: str

    @property
    def ca(self) -> Path:
        return self.node.data_dir / "tls" / "cert.pem"


def wait_for_log(node: Node, text: str, before: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while node.log_text().count(text) <= before:
        assert time.monotonic() < deadline, f"the node never logged {text!r}:\n{node.log_text()[-3000:]}"
        time.sleep(0.05)


def remote_user(node: Node, number: str, username: str) -> str:
    """`voxgate ext add NUMBER --remote --username NAME`; the device password it printed."""
    done = voxgate(node, "ext", "add", number, "--remote", "--username", username)
    match = re.search(r"password: (\S+)", done.stdout)
    assert done.returncode == 0 and match is not None, done.stdout + done.stderr
    return match.group(1)


def build_lab(net: Topology, tmp_path: Path, *, layers: int = 1, dmz: bool = False,
              extra: str = "", users: tuple[tuple[str, str], ...] = (),
              before_node: Callable[[Namespace], None] | None = None) -> EdgeLab:  # fmt: skip
    """The namespaces, the node, alice (remote, her device enabled), bob (LAN) and ``users``
    (more remote SIP users: (extension, username)), the node reloaded with all of them.
    ``before_node(server)`` runs once the server's links exist, before the node starts."""
    if dmz:
        firewall = net.namespace("firewall")
        path = build_nat_path(net, layers, server=firewall)
        server = net.namespace("server")
        net.link(firewall, "10.231.60.1/24", server, f"{DMZ_SERVER}/24", a_name="dmz", b_name="fw")
        server.default_route("10.231.60.1")
        firewall.enable_forwarding()
        public = Interface(firewall, "down", ipaddress.ip_interface(f"{SERVER}/24"))
        firewall.forward_port(public, "tcp", PUBLIC_TLS_PORT, DMZ_SERVER, TLS_PORT)
        firewall.masquerade(public)  # what the DMZ starts itself leaves from the public address
        listener, edge_host, edge_port = DMZ_SERVER, SERVER, PUBLIC_TLS_PORT
    else:
        path = build_nat_path(net, layers)
        server = path.server
        listener, edge_host, edge_port = SERVER, SERVER, TLS_PORT
    lan = net.namespace("lan")
    net.link(server, f"{LAN_SERVER}/24", lan, f"{LAN_PHONE}/24")
    config = edge_config((edge_host, edge_port) if dmz else None, extra)
    if before_node is not None:
        before_node(server)
    node = serve_in(server, tmp_path, listener, config)
    password = remote_user(node, "201", "alice")
    for number, username in users:
        remote_user(node, number, username)
    assert voxgate(node, "device", "add", MAC, "--enable", "--description", "alice at home").returncode == 0
    bob_secret = "Vx" + secrets.token_urlsafe(15)
    # counted after the last change: the next loads (at the latest the SIGHUP's) see it all
    counts = node.log_text().count("SIP users loaded"), node.log_text().count("device table loaded")
    import_extensions(node, tmp_path, [("202", bob_secret)])  # SIGHUP: the edge reloads too
    wait_for_log(node, "SIP users loaded", counts[0])
    wait_for_log(node, "device table loaded", counts[1])
    return EdgeLab(node, server, lan, path.home, path.home_ip, path.public_ip, edge_host,
                   edge_port, listener, password, bob_secret)  # fmt: skip


def alice_phone(lab: EdgeLab, tmp_path: Path) -> Baresip:
    edge = f"sip:{lab.edge_host}:{lab.edge_port};transport=tls"
    return Baresip(
        "alice", lab.home_ip,
        f"<sip:alice@{lab.edge_host}:{lab.edge_port};transport=tls>;auth_pass={lab.alice_password};"
        f'answermode=auto;regint=300;sipnat=outbound;outbound="{edge}"',
        lab.ca, tmp_path, uuid=UUID, netns=lab.home,
    )  # fmt: skip


def bob_phone(lab: EdgeLab, tmp_path: Path) -> Baresip:
    return Baresip(
        "bob", LAN_PHONE,
        f"<sip:202@{LAN_SERVER}:{PBX_PORT}>;auth_pass={lab.bob_secret};answermode=auto;regint=300",
        lab.ca, tmp_path, netns=lab.lan,
    )  # fmt: skip


def log_entries(node: Node) -> list[dict[str, object]]:
    return [json.loads(line) for line in node.log_text().splitlines() if line.startswith("{")]


def stop_node(node: Node) -> None:
    """SIGTERM and wait: the edge writes the devices it saw on the way out."""
    node.process.send_signal(signal.SIGTERM)
    node.process.wait(timeout=20)


# -- calls through NAT -----------------------------------------------------------------------
def calls_through_nat(net: Topology, tmp_path: Path, *, layers: int = 1, dmz: bool = False) -> EdgeLab:
    """Alice registers through the NAT(s), calls bob, and bob calls her back."""
    lab = build_lab(net, tmp_path, layers=layers, dmz=dmz)
    node = lab.node
    with alice_phone(lab, tmp_path) as alice, bob_phone(lab, tmp_path) as bob:
        alice.wait_registered()
        bob.wait_registered()
        alice.command("dial", f"sip:202@{lab.edge_host}:{lab.edge_port};transport=tls")
        alice.wait_event("CALL_ESTABLISHED")
        bob.wait_event("CALL_ESTABLISHED")
        alice.command("hangup")
        alice.wait_event("CALL_CLOSED")
        bob.wait_event("CALL_CLOSED")
        alice.events.clear()
        bob.events.clear()
        bob.command("dial", f"sip:201@{LAN_SERVER}:{PBX_PORT}")
        alice.wait_event("CALL_ESTABLISHED")
        bob.wait_event("CALL_ESTABLISHED")
        bob.command("hangup")
        bob.wait_event("CALL_CLOSED")
        alice.wait_event("CALL_CLOSED")
        at_the_call_control = {row["aor"]: row for row in bindings(node)}
    # the edge registered alice from the NAT's public address, over the TLS connection
    registered = re.findall(r"registered alice \(extension 201\) from (\S+)", node.log_text())
    assert registered, node.log_text()[-3000:]
    assert all(re.fullmatch(rf"tls:{re.escape(lab.public_ip)}:\d+->{re.escape(lab.listener)}:"
                            rf"{TLS_PORT}#\S+", flow) for flow in registered), registered  # fmt: skip
    # the call control holds the edge's registration of 201 (its LAN address and a token),
    # nothing of alice's addresses, and bob's own
    alice_row, bob_row = at_the_call_control["201"], at_the_call_control["202"]
    assert alice_row["source_ip"] == LAN_SERVER, alice_row
    assert LAN_SERVER in str(alice_row["contact"]) and lab.home_ip not in str(alice_row["contact"])
    assert lab.public_ip not in str(alice_row["contact"])
    assert bob_row["source_ip"] == LAN_PHONE, bob_row
    stop_node(node)
    listing = voxgate(node, "device", "list").stdout
    row = next(line for line in listing.splitlines() if line.startswith("00:04:f2:a1:b2:c3"))
    assert f" {lab.public_ip} " in row, listing  # the device's last source: the NAT, not home
    records = list(csv.DictReader(io.StringIO(voxgate(node, "cdr", "export").stdout)))
    assert [(r["caller"], r["callee"], r["disposition"]) for r in records] == [
        ("201", "202", "answered"), ("202", "201", "answered"),
    ]  # fmt: skip
    return lab


def test_remote_phone_through_one_nat(netns: Topology, tmp_path: Path) -> None:
    calls_through_nat(netns, tmp_path, layers=1)


def test_remote_phone_through_two_nats(netns: Topology, tmp_path: Path) -> None:
    calls_through_nat(netns, tmp_path, layers=2)


def received(trace: str, phone: str) -> list[str]:
    """The SIP messages baresip's ``-s`` trace shows arriving at ``phone`` (its address):
    each message is logged as ``#``, ``TLS <from> -> <to>``, then the message."""
    blocks = re.split(r"\n(?:\x1b\[[0-9;]*m)?#\n", trace)
    return [b.split("\n", 1)[1] for b in blocks
            if re.match(rf"(?:UDP|TCP|TLS) \S+ -> {re.escape(phone)}:\d+\n", b)]  # fmt: skip


def test_remote_phone_with_the_edge_in_a_dmz(netns: Topology, tmp_path: Path) -> None:
    """DMZ mode: alice knows only the firewall's public address and port; everything the
    edge sends her names that one, never the edge's private address."""
    lab = calls_through_nat(netns, tmp_path, layers=1, dmz=True)
    trace = (tmp_path / "alice.log").read_text(errors="replace")
    assert DMZ_SERVER not in trace, [line for line in trace.splitlines() if DMZ_SERVER in line]
    public = f"{SERVER}:{PUBLIC_TLS_PORT}"
    # the edge's INVITE (bob's call) and its 200 (alice's call): Via/Contact show the public one
    invite = next((m for m in received(trace, lab.home_ip) if re.search(r"^INVITE sip:", m, re.MULTILINE)), None)
    assert invite is not None, trace[-4000:]
    assert re.search(rf"^Via: SIP/2.0/TLS {re.escape(public)};", invite, re.MULTILINE), invite
    assert re.search(rf"^Contact: <sip:\w+@{re.escape(public)};transport=tls>", invite,
                     re.MULTILINE), invite  # fmt: skip


# -- attackers at the edge's UDP listener --------------------------------------------------
def attacker(net: Topology, lab: EdgeLab) -> Namespace:
    """An attacker linked to the server, with its own source address (svwar and svcrack
    ignore -b); the edge's listeners are on the server's WAN address, one hop on."""
    ns = net.namespace("attacker")
    net.link(lab.server, "10.231.10.1/24", ns, f"{ATTACKER}/24")
    ns.default_route("10.231.10.1")
    return ns


#: Registered (alice), existing but not registered (carol), extension numbers that are not
#: SIP users (201, 202), and names and numbers that exist nowhere.
REGISTERED, UNREGISTERED, NUMBERS = "alice", "carol", ("201", "202")
UNKNOWN = ("admin", "mallory", "100", "999")
NAMES = (REGISTERED, UNREGISTERED, *NUMBERS, *UNKNOWN)


def svwar(ns: Namespace, tmp_path: Path) -> list[Scan]:
    """svwar from ``ns`` at the edge's UDP listener: OPTIONS over a dictionary of all the
    names, REGISTER (with --force) one name per run, all at once (docs/interop.md)."""
    binary = tool("svwar")
    words = tmp_path / "names.txt"
    words.write_text("\n".join(NAMES) + "\n")
    runs: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
    jobs = [("OPTIONS", ["-d", str(words)])] + [("REGISTER", ["-e", n]) for n in NAMES if n.isdigit()]
    for name in NAMES:  # svwar's -e takes numbers only: names go in a dictionary of one
        if not name.isdigit():
            one = tmp_path / f"name-{name}.txt"
            one.write_text(name + "\n")
            jobs.append(("REGISTER", ["-d", str(one)]))
    for i, (method, target) in enumerate(jobs):
        out = tmp_path / f"svwar-{method}-{i}.txt"
        with out.open("wb") as sink:
            runs.append((method, out, ns.popen(
                [binary, "-v", "--force", "--debug", "-m", method, *target, "-x", ATTACKER,
                 "-P", str(5060 + i), "-t", "0.02", "--maximumtime", "3",
                 f"udp://{SERVER}:{SIP_PORT}"],
                stdout=sink, stderr=subprocess.STDOUT,
            )))  # fmt: skip
    scans: dict[str, Scan] = {}
    for method, out, process in runs:
        process.wait(timeout=60)
        text = out.read_text(errors="replace")
        scan = scans.setdefault(method, Scan(method, "", {}))
        scan.output += f"== {out.name}\n{text}"
        for name, shapes in svwar_answers(text).items():
            scan.answers.setdefault(name, set()).update(shapes)
    return list(scans.values())


def test_svwar_at_the_edge_finds_no_sip_user(netns: Topology, tmp_path: Path) -> None:
    lab = build_lab(netns, tmp_path, users=(("203", UNREGISTERED),))
    scanner = attacker(netns, lab)
    with alice_phone(lab, tmp_path) as alice:
        alice.wait_registered()
        scans = svwar(scanner, tmp_path)
    assert [s.method for s in scans] == ["OPTIONS", "REGISTER"]
    problems: list[str] = []
    for scan in scans:
        runs = scan.output.count("== svwar-")
        assert scan.output.count("Ok SIP device found") == runs, scan.output[-3000:]
        assert set(NAMES) <= set(scan.answers), (scan.method, sorted(scan.answers), scan.output[-2000:])
        if scan.found() or scan.output.count("found nothing") != runs:
            problems.append(f"{scan.method}: svwar found {scan.found()}")
        unknown = set().union(*(scan.answers[n] for n in UNKNOWN))
        if len(unknown) != 1:
            problems.append(f"{scan.method}: unknown names got different answers {sorted(unknown)}")
        for name in (REGISTERED, UNREGISTERED, *NUMBERS):
            if scan.answers[name] != unknown:
                problems.append(f"{scan.method}: {name} answered {sorted(scan.answers[name])}, "
                                f"unknown names {sorted(unknown)}")  # fmt: skip
    assert not problems, "\n".join(problems)


MAX_FAILURES = 4
SECURITY = (
    "\n[security]\n"
    f"auth_max_failures = {MAX_FAILURES}\nauth_failure_window = 600\nlockout_duration = 1800\n"
)


def tls_bridge_in(ns: Namespace, port: int = 15061) -> int:
    """socat in ``ns``: TCP on its 127.0.0.1:``port`` → TLS to the edge (SIPp has no TLS)."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat is not installed: ./test installs it")
    ns.popen([socat, f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
              f"OPENSSL:{SERVER}:{TLS_PORT},verify=0"],
             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            ns.connect("127.0.0.1", port).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "socat did not listen"
            time.sleep(0.05)
    return port


def register_device(lab: EdgeLab, tmp_path: Path, bridge: int, calls: int, timeout: float = 20) -> SippResult:
    """``calls`` registrations of alice's device (SIPp, 5 a second, one TLS connection) from home."""
    inf = auth_csv(tmp_path / f"alice-{secrets.token_hex(3)}.csv",
                   [("alice", auth_field("alice", lab.alice_password), f"{lab.home_ip}:5999", MAC)])  # fmt: skip
    return run_sipp(tmp_path, "register_device", bridge, transport="t1", calls=calls, rate=5,
                    timeout=timeout, prefix=lab.home.exec_prefix, extra=["-inf", str(inf)])  # fmt: skip


@pytest.mark.timeout(180)
def test_svcrack_at_the_edge_is_locked_out_while_the_device_registers(
    netns: Topology, tmp_path: Path
) -> None:
    lab = build_lab(netns, tmp_path, extra=SECURITY)
    cracker = attacker(netns, lab)
    bridge = tls_bridge_in(lab.home)
    wrong = [f"Wrong-{i}-{secrets.token_hex(4)}" for i in range(MAX_FAILURES * 2)]
    wordlist = tmp_path / "passwords.txt"
    wordlist.write_text("\n".join([*wrong, lab.alice_password, "after-1", "after-2"]) + "\n")
    log = tmp_path / "svcrack.txt"
    with log.open("wb") as sink:
        process = cracker.popen(
            [tool("svcrack"), "-v", "-u", REGISTERED, "-d", str(wordlist), "-x", ATTACKER,
             "-t", "0.05", "--maximumtime", "3", f"udp://{SERVER}:{SIP_PORT}"],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    during = register_device(lab, tmp_path, bridge, calls=10)  # alice's device, through the NAT
    finish_svcrack(process, log)
    assert during.returncode == 0 and during.counter("SuccessfulCall") == 10, during.stdout[-3000:]
    out = log.read_text(errors="replace")
    assert "no server response" not in out, out[-2000:]
    assert lab.alice_password not in out and "The password for" not in out, out[-2000:]
    refused = [e for e in log_entries(lab.node) if e.get("msg") == "registration refused: bad credentials"
               and str(e.get("flow", "")).startswith(f"udp:{ATTACKER}:")]  # fmt: skip
    assert len(refused) == MAX_FAILURES, (len(refused), lab.node.log_text()[-3000:])
    # it stays out: no answer at all; the device and the rest of the world go on
    assert sip_probe(cracker, ATTACKER, SERVER, wait=2) == "", "the edge still answers the attacker"
    after = register_device(lab, tmp_path, bridge, calls=1)
    assert after.returncode == 0 and after.counter("SuccessfulCall") == 1, after.stdout[-3000:]
    assert sip_probe(lab.home, lab.home_ip, SERVER).startswith("SIP/2.0 200")
