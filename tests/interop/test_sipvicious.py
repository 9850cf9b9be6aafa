"""SIPVicious (Debian 0.3.3) against a real node: the attackers run in their own network
namespaces, so they have their own source addresses (svwar/svcrack ignore ``-b``,
FIELD-NOTES.md), while legitimate SIPp clients register from the office.

    attacker 10.231.10.2 ── 10.231.10.1 server (voxgate) 10.231.11.1 ── 10.231.11.2 office
    scanners 10.231.20-22.2 ──┘ (one per svwar method)

- svwar with the OPTIONS, REGISTER and INVITE methods and ``--force`` (else it stops at
  the first 401/407 for a made-up extension), over registered, unregistered, disabled and
  unknown extensions, finds none; and every answer has the same status code and the same
  header names whatever the extension (NET-2).
- svcrack with a wordlist whose right password comes after more wrong ones than the
  configured ``security.auth_max_failures``: the source is locked out after that many
  failures and stays out (no answers at all, even to the right password), while the
  office keeps registering, the attacked extension too.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from netnode import SIP_PORT, bindings, registration_events, serve_in, sip_probe
from netns import Namespace, Topology
from peers import Node, SippResult, auth_csv, auth_field, import_extensions, run_sipp
from sipvicious import Scan, finish_svcrack, svwar_answers, tool

pytestmark = pytest.mark.interop

#: SIPp 3.6 and svcrack know only MD5 (docs/interop.md).
SIPP_PBX = '\n[pbx]\ndigest_algorithms = "MD5"\n'
SERVER, ATTACKER, OFFICE = "10.231.10.1", "10.231.10.2", "10.231.11.2"
#: registered from the office, existing but unregistered, disabled.
REGISTERED, UNREGISTERED, DISABLED = ("201", "202"), "203", "204"
SCAN = range(198, 216)


@dataclass
class Lab:
    server: Namespace
    node: Node
    attacker: Namespace
    office: Namespace
    secrets: dict[str, str]


def _lab(net: Topology, tmp_path: Path, extra: str = "") -> Lab:
    server, attacker, office = net.namespace("server"), net.namespace("attacker"), net.namespace("office")
    net.link(server, f"{SERVER}/24", attacker, f"{ATTACKER}/24")
    net.link(server, "10.231.11.1/24", office, f"{OFFICE}/24")
    office.default_route("10.231.11.1")  # the node listens on its attacker-side address
    node = serve_in(server, tmp_path, SERVER, SIPP_PBX + extra)
    numbers = [*REGISTERED, UNREGISTERED, DISABLED]
    keys = {n: "Vx" + secrets.token_urlsafe(15) for n in numbers}
    import_extensions(node, tmp_path, [(n, keys[n]) for n in numbers], disabled=[DISABLED])
    lab = Lab(server, node, attacker, office, keys)
    for number in REGISTERED:
        result = _register(tmp_path, office, OFFICE, number, keys[number])
        assert result.returncode == 0, result.stdout[-3000:]
    return lab


def _register(tmp_path: Path, ns: Namespace, address: str, number: str, secret: str,
              timeout: float = 20, calls: int = 1) -> SippResult:  # fmt: skip
    """``calls`` registrations of ``number`` (5 a second) by SIPp in ``ns``."""
    inf = auth_csv(tmp_path / f"reg-{ns.role}-{number}-{secrets.token_hex(3)}.csv",
                   [(number, auth_field(number, secret), f"{address}:5070")])  # fmt: skip
    return run_sipp(tmp_path, "register_auth", SIP_PORT, calls=calls, rate=5, timeout=timeout,
                    host=SERVER, source=address, prefix=ns.exec_prefix, extra=["-inf", str(inf)])  # fmt: skip


# -- svwar ---------------------------------------------------------------------------------
#: svwar 0.3.3 stops at the first answer equal to the one for its made-up extension when
#: that is a 401/407 ("We got an unknown response"): against a node that challenges every
#: REGISTER and INVITE alike, a range scan tries one extension.  So those methods get one
#: svwar per extension (its made-up one, then ours); OPTIONS scans the whole range.
SAMPLE = ("198", "199", *REGISTERED, UNREGISTERED, DISABLED, "205", "215")


def _svwar(net: Topology, lab: Lab, tmp_path: Path) -> list[Scan]:
    """All scans at once.  Each method scans from its own namespace and address: the node
    limits the request rate of one source, and svwar's INVITE scan sends an ACK with a new
    branch for every 407, which never matches, so the node retransmits the 407 until its
    Timer H and svwar acknowledges each copy."""
    svwar = tool("svwar")
    runs: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
    for n, method in enumerate(("OPTIONS", "REGISTER", "INVITE")):
        scanner = net.namespace(f"scan{method.lower()}")
        _, inside = net.link(lab.server, f"10.231.{20 + n}.1/24", scanner, f"10.231.{20 + n}.2/24")
        scanner.default_route(f"10.231.{20 + n}.1")
        targets = [f"{SCAN.start}-{SCAN.stop - 1}"] if method == "OPTIONS" else list(SAMPLE)
        for i, extensions in enumerate(targets):
            out = tmp_path / f"svwar-{method}-{extensions}.txt"
            with out.open("wb") as sink:
                runs.append((method, out, scanner.popen(
                    [svwar, "-v", "--force", "--debug", "-m", method, "-e", extensions,
                     "-x", inside.ip, "-P", str(5060 + i), "-t", "0.02", "--maximumtime", "3",
                     f"udp://{SERVER}:{SIP_PORT}"],
                    stdout=sink, stderr=subprocess.STDOUT,
                )))  # fmt: skip
    scans: dict[str, Scan] = {}
    for method, out, process in runs:
        process.wait(timeout=60)
        text = out.read_text(errors="replace")
        scan = scans.setdefault(method, Scan(method, "", {}))
        scan.output += f"== {out.name}\n{text}"
        for number, shapes in svwar_answers(text).items():
            scan.answers.setdefault(number, set()).update(shapes)
    return list(scans.values())


def test_svwar_finds_no_extension(netns: Topology, tmp_path: Path) -> None:
    lab = _lab(netns, tmp_path)
    assert len(bindings(lab.node)) == len(REGISTERED)
    existing = {*REGISTERED, UNREGISTERED, DISABLED}
    scans = _svwar(netns, lab, tmp_path)
    assert [s.method for s in scans] == ["OPTIONS", "REGISTER", "INVITE"]
    problems: list[str] = []
    for scan in scans:
        runs = scan.output.count("== svwar-")
        tried = {str(n) for n in SCAN} if scan.method == "OPTIONS" else set(SAMPLE)
        # every run reached the node, and every extension tried got an answer
        assert scan.output.count("Ok SIP device found") == runs, scan.output[-3000:]
        assert tried <= set(scan.answers), (scan.method, sorted(scan.answers), scan.output[-2000:])
        if scan.found() or scan.output.count("found nothing") != runs:
            problems.append(f"{scan.method}: svwar found {scan.found()}")
        unknown = set().union(*(v for k, v in scan.answers.items() if k not in existing))
        for number in sorted(existing):
            if scan.answers[number] != unknown:
                problems.append(f"{scan.method}: {number} answered {sorted(scan.answers[number])}, "
                                f"unknown extensions {sorted(unknown)}")  # fmt: skip
        if len(unknown) != 1:
            problems.append(f"{scan.method}: unknown extensions got different answers {sorted(unknown)}")
    assert not problems, "\n".join(problems)


# -- svcrack -------------------------------------------------------------------------------
MAX_FAILURES = 4
SECURITY = (
    "\n[security]\n"
    f"auth_max_failures = {MAX_FAILURES}\n"
    "auth_failure_window = 600\n"
    "lockout_duration = 1800\n"
)


@pytest.mark.timeout(180)
def test_svcrack_is_locked_out_and_stays_out(netns: Topology, tmp_path: Path) -> None:
    lab = _lab(netns, tmp_path, SECURITY)
    target = REGISTERED[0]
    right = lab.secrets[target]
    wrong = [f"Wrong-{i}-{secrets.token_hex(4)}" for i in range(MAX_FAILURES * 2)]
    wordlist = tmp_path / "passwords.txt"
    wordlist.write_text("\n".join([*wrong, right, "after-1", "after-2"]) + "\n")
    svcrack = tool("svcrack")
    log = tmp_path / "svcrack.txt"
    with log.open("wb") as sink:
        process = lab.attacker.popen(
            [svcrack, "-v", "-u", target, "-d", str(wordlist), "-x", ATTACKER, "-t", "0.05",
             "--maximumtime", "3", f"udp://{SERVER}:{SIP_PORT}"],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    # the office keeps registering during the attack
    during = _register(tmp_path, lab.office, OFFICE, REGISTERED[1], lab.secrets[REGISTERED[1]],
                       calls=10)  # fmt: skip
    finish_svcrack(process, log)
    assert during.returncode == 0 and during.counter("SuccessfulCall") == 10, during.stdout[-3000:]
    out = log.read_text(errors="replace")
    assert "no server response" not in out, out[-2000:]
    assert right not in out and "The password for" not in out, (
        f"svcrack cracked {target}: the lockout did not stop it\n{out[-2000:]}"
    )
    refused = [e for e in registration_events(lab.node) if e["source_ip"] == ATTACKER
               and (e["outcome"], e["reason"]) == ("refused", "bad credentials")]  # fmt: skip
    assert len(refused) == MAX_FAILURES, (
        f"{len(refused)} refused attempts from the attacker, expected exactly {MAX_FAILURES} "
        "before the lockout"
    )
    # it stays out: no answer at all, not even to the right password
    assert sip_probe(lab.attacker, ATTACKER, SERVER, wait=2) == "", "the node still answers the attacker"
    again = _register(tmp_path, lab.attacker, ATTACKER, target, right, timeout=3)
    assert again.returncode != 0 and again.counter("SuccessfulCall") == 0, again.stdout[-2000:]
    assert all(b["source_ip"] != ATTACKER for b in bindings(lab.node))
    # while the office goes on: the attacked extension and another one register
    for number in REGISTERED:
        result = _register(tmp_path, lab.office, OFFICE, number, lab.secrets[number])
        assert result.returncode == 0, result.stdout[-3000:]
    assert sip_probe(lab.office, OFFICE, SERVER).startswith("SIP/2.0 200")
