"""NET-1 and NET-2 against a real `voxgate serve`, with SIPp and TLS clients as distinct
sources on loopback (127.0.0.2 … are other hosts to the node; only 127.0.0.1 is trusted).

- a block-listed source gets nothing over UDP or TLS, the block is applied live
  (`voxgate netlist add` while the node runs) and lifted live, and it is audited;
- wrong passwords lock a source out after the configured count; it stays out, also
  with the right password and across a `kill -9` restart, while another source
  registers normally.
"""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import pytest
from peers import Node, auth_csv, auth_field, import_extensions, run_sipp, voxgate

pytestmark = [
    pytest.mark.interop,
    pytest.mark.node_config(
        '[security]\ntrusted_networks = ["127.0.0.1/32"]\nauth_max_failures = 3\n'
        "lockout_duration = 600\n"
    ),
]

SECRET = "Tq7-vLp2-Wz9k"


def wait_for_log(node: Node, text: str, before: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while node.log_text().count(text) <= before:
        assert time.monotonic() < deadline, f"the node never logged {text!r}"
        time.sleep(0.05)


def change_netlist(node: Node, *args: str) -> None:
    """Run a `voxgate netlist` command and wait until the running node has applied it."""
    before = node.log_text().count("netlists loaded")
    done = voxgate(node, "netlist", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for_log(node, "netlists loaded", before)


def audit_lines(node: Node, needle: str, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        done = voxgate(node, "audit", "--action", "security.")
        lines = [line for line in done.stdout.splitlines() if needle in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def options_from(tmp_path: Path, node: Node, source: str, calls: int, timeout: float = 20) -> int:
    result = run_sipp(tmp_path, "options_uac", node.udp, calls=calls, rate=10, source=source,
                      timeout=timeout)  # fmt: skip
    return result.counter("SuccessfulCall")


def tls_handshake_from(source: str, port: int) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                return tls.version() is not None
        except (ssl.SSLError, ConnectionError, OSError):
            return False


def test_block_list_applies_live_to_udp_and_tls_and_is_audited(node: Node, tmp_path: Path) -> None:
    assert options_from(tmp_path, node, "127.0.0.2", 5) == 5
    assert tls_handshake_from("127.0.0.2", node.tls)

    change_netlist(node, "add", "--block", "127.0.0.2", "--comment", "test attacker")
    assert options_from(tmp_path, node, "127.0.0.2", 2, timeout=4) == 0
    assert not tls_handshake_from("127.0.0.2", node.tls)
    assert options_from(tmp_path, node, "127.0.0.3", 5) == 5  # the rest of the world still works
    assert tls_handshake_from("127.0.0.3", node.tls)
    blocked = audit_lines(node, "127.0.0.2")
    assert any("security.blocked" in line and "'manual'" in line for line in blocked), blocked

    change_netlist(node, "del", "--block", "127.0.0.2")
    assert options_from(tmp_path, node, "127.0.0.2", 3) == 3
    assert node.alive()


def test_wrong_passwords_lock_the_source_out_across_a_restart(node: Node, tmp_path: Path) -> None:
    import_extensions(node, tmp_path, [("201", SECRET)])
    wrong = auth_csv(tmp_path / "wrong.csv", [("201", auth_field("201", "not-the-secret-1"), "127.0.0.4:5999")])
    good = auth_csv(tmp_path / "good.csv", [("201", auth_field("201", SECRET), "127.0.0.5:5999")])

    def attempt(scenario: str, inf: Path, source: str, calls: int = 1, timeout: float = 20) -> int:
        result = run_sipp(tmp_path, scenario, node.udp, calls=calls, rate=2, source=source,
                          timeout=timeout, extra=["-inf", str(inf)])  # fmt: skip
        return result.counter("SuccessfulCall")

    assert attempt("register_wrong", wrong, "127.0.0.4", calls=3) == 3  # three 403s
    assert attempt("register_wrong", wrong, "127.0.0.4", timeout=4) == 0  # now: no answer at all
    assert attempt("register_auth", good, "127.0.0.4", timeout=4) == 0  # even with the secret
    assert attempt("register_auth", good, "127.0.0.5") == 1  # another source is not affected
    locked = audit_lines(node, "security.lockout")
    assert len(locked) == 1 and "127.0.0.4" in locked[0] and "3 failed" in locked[0], locked

    node.crash_and_restart()
    assert attempt("register_auth", good, "127.0.0.4", timeout=4) == 0  # still locked out
    assert attempt("register_auth", good, "127.0.0.5") == 1
    assert "lockouts still running restored" in node.log_text()
