"""The installer password (AUTH-3) against a real `voxgate serve`, with curl over HTTPS as the
phone (127.0.0.2 … are other hosts to the node; only 127.0.0.1 is trusted):

- no installer password set: a device's file is 404, and nobody is prompted;
- set: no credentials → 401 with a Basic challenge; the right password enables the unknown
  device (`voxgate device list`) and returns its configuration (the edge's TLS port);
- wrong passwords lock the source out after `security.auth_max_failures`: its HTTPS
  connections are closed before the handshake, also with the right password, and its SIP over
  TLS too (one gate); the lockout is audited; another source is not affected;
- cleared again: 404.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from peers import Node, free_port, running_node, voxgate

pytestmark = pytest.mark.interop

PASSWORD = "Tq7-vLp2-Wz9k-Inst"
MAC = "0004f2a1b2c3"


@dataclass
class Fetched:
    status: int  # 0: no HTTP answer at all (connection refused or closed)
    body: str
    headers: str
    curl_exit: int


@pytest.fixture
def https_port() -> int:
    return free_port()


@pytest.fixture
def prov_node(tmp_path: Path, https_port: int) -> Iterator[Node]:
    extra = (
        f'[provisioning]\nenabled = true\naddress = "127.0.0.1"\nport = {https_port}\n\n'
        '[security]\ntrusted_networks = ["127.0.0.1/32"]\nauth_max_failures = 3\n'
        "lockout_duration = 600\n"
    )
    with running_node(tmp_path, extra) as running:
        deadline = time.monotonic() + 15
        while "provisioning: listening" not in running.log_text():
            assert time.monotonic() < deadline, running.log_text()[-3000:]
            time.sleep(0.05)
        yield running


def fetch(node: Node, port: int, path: str, source: str, password: str | None = None) -> Fetched:
    """`curl` from ``source`` with the node's certificate as the only trusted CA."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is not installed: ./test installs it")
    out = node.data_dir / f"body-{free_port()}"
    headers = node.data_dir / f"headers-{free_port()}"
    args = [curl, "-s", "-o", str(out), "-D", str(headers), "-w", "%{http_code}",
            "--max-time", "20", "--cacert", str(node.data_dir / "tls" / "cert.pem"),
            "--interface", source]  # fmt: skip
    if password is not None:
        args += ["-u", f"installer:{password}"]
    done = subprocess.run([*args, f"https://127.0.0.1:{port}{path}"], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    return Fetched(int(done.stdout or 0), _text(out), _text(headers), done.returncode)


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


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


def audit_lines(node: Node, action: str, needle: str, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in voxgate(node, "audit", "--action", action).stdout.splitlines()
                 if needle in line]  # fmt: skip
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def device_line(node: Node, mac: str) -> str:
    listing = voxgate(node, "device", "list").stdout
    return next((line for line in listing.splitlines() if line.startswith(mac)), "")


def test_installer_password_enables_an_unknown_phone_and_brute_force_is_locked_out(
    prov_node: Node, https_port: int
) -> None:
    node, port = prov_node, https_port
    # no installer password: nothing to hand out, no prompt
    nothing = fetch(node, port, f"/{MAC}.cfg", "127.0.0.2", PASSWORD)
    assert nothing.status == 404, nothing
    assert "www-authenticate" not in nothing.headers.lower()
    assert device_line(node, "00:04:f2:a1:b2:c3") == ""

    done = voxgate(node, "installer", "set", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    prompt = fetch(node, port, f"/{MAC.upper()}.cfg", "127.0.0.2")
    assert prompt.status == 401, prompt
    assert 'www-authenticate: basic realm="voxgate provisioning"' in prompt.headers.lower()

    enabled = fetch(node, port, f"/{MAC.upper()}.cfg", "127.0.0.2", PASSWORD)
    assert enabled.status == 200, enabled
    assert f"sip.port = {node.tls}\nsip.transport = tls\n" in enabled.body
    assert "sip.server = 127.0.0.1\n" in enabled.body and PASSWORD not in enabled.body
    assert device_line(node, "00:04:f2:a1:b2:c3").split()[1:3] == ["yes", "provisioning"]
    [event] = audit_lines(node, "device.enabled_by_installer", "00:04:f2:a1:b2:c3")
    assert "installer (127.0.0.2)" in event

    # brute force from 127.0.0.3: three wrong passwords, then the door is shut
    for _ in range(3):
        assert fetch(node, port, "/0004f2a1b2c4.cfg", "127.0.0.3", "Wrong-Guess-123").status == 401
    shut = fetch(node, port, "/0004f2a1b2c4.cfg", "127.0.0.3", PASSWORD)
    assert shut.status == 0 and shut.curl_exit != 0, shut  # closed before any TLS handshake
    assert not tls_handshake_from("127.0.0.3", node.tls)  # SIP over TLS too: one gate
    assert device_line(node, "00:04:f2:a1:b2:c4") == ""
    [lockout] = audit_lines(node, "security.lockout", "127.0.0.3")
    assert "3 failed authentications" in lockout and "provisioning: wrong installer" in lockout
    again = fetch(node, port, "/0004f2a1b2c5.cfg", "127.0.0.2", PASSWORD)
    assert again.status == 200, again  # another source is not affected

    assert voxgate(node, "installer", "clear").returncode == 0
    cleared = fetch(node, port, "/0004f2a1b2c6.cfg", "127.0.0.2", PASSWORD)
    assert cleared.status == 404, cleared
    assert device_line(node, "00:04:f2:a1:b2:c6") == ""
    assert node.alive()
