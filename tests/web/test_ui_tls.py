"""TLS of a real node, on 127.0.0.1 only.

- testssl.sh (Debian `testssl.sh`) against the admin port: no protocol below TLS 1.2 and no
  weak cipher category offered (its JSON findings).
- The TLS page in a real browser (headless Debian Chromium): a customer's CA-signed
  certificate uploaded there is presented at once by the admin port and by the SIP TLS
  listener (fresh handshakes that trust only the customer's CA), without a restart, while a
  SIP connection opened before keeps its certificate and keeps working.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import socket
import ssl
import stat
import subprocess
from pathlib import Path

import pytest
from browser import chromium, first_login, needs_chromium, screenshot, ui_node
from minica import pki
from playwright.async_api import expect

from voxgate.config import certificates

TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")
#: Findings that must read "not offered".
OLD_PROTOCOLS = ("SSLv2", "SSLv3", "TLS1", "TLS1_1")
WEAK_CIPHERS = ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
                "cipherlist_3DES_IDEA", "cipherlist_AVERAGE")  # fmt: skip


@pytest.mark.skipif(TESTSSL is None, reason="Debian testssl.sh is not installed")
def test_the_admin_port_offers_only_tls_1_2_and_up_with_strong_ciphers(tmp_path: Path) -> None:
    assert TESTSSL is not None
    report = tmp_path / "testssl.json"
    with ui_node(tmp_path) as ui:
        target = ui.base.removeprefix("https://")
        assert target.startswith("127.0.0.1:")
        done = subprocess.run(
            [TESTSSL, "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
             "--protocols", "--standard", "--fs", "--jsonfile", str(report), target],
            capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    findings = {f["id"]: f for f in json.loads(report.read_text())}
    for name in OLD_PROTOCOLS + WEAK_CIPHERS:
        assert findings[name]["finding"] == "not offered", findings[name]
    assert findings["TLS1_2"]["finding"] == "offered"
    assert findings["TLS1_3"]["finding"].startswith("offered")
    assert findings["cipherlist_STRONG"]["finding"] == "offered"
    assert findings["PFS"]["finding"] == "offered"
    bad = [f for f in findings.values() if f["severity"] in ("LOW", "MEDIUM", "HIGH", "CRITICAL")]
    assert not bad, bad


def fingerprint(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def tls_client(cafile: Path | None = None) -> ssl.SSLContext:
    """Verifying against ``cafile`` only, or (without one) not verifying at all."""
    if cafile is not None:
        return ssl.create_default_context(cafile=str(cafile))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def connect(port: int, cafile: Path | None = None) -> ssl.SSLSocket:
    """A fresh TLS connection to 127.0.0.1:``port``."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return tls_client(cafile).wrap_socket(raw, server_hostname="127.0.0.1")


def presented(port: int, cafile: Path | None = None) -> str:
    """The fingerprint of the certificate a fresh handshake with 127.0.0.1:``port`` gets."""
    with connect(port, cafile) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return fingerprint(der)


def options_over(tls: ssl.SSLSocket, port: int) -> str:
    """An OPTIONS over an open connection; the status line of the answer."""
    local = tls.getsockname()[1]
    tls.sendall((f"OPTIONS sip:127.0.0.1:{port};transport=tls SIP/2.0\r\n"
                 f"Via: SIP/2.0/TLS 127.0.0.1:{local};branch=z9hG4bK-held-1;rport\r\n"
                 "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=held\r\n"
                 "To: <sip:127.0.0.1>\r\nCall-ID: held-connection-1\r\nCSeq: 1 OPTIONS\r\n"
                 "Content-Length: 0\r\n\r\n").encode())  # fmt: skip
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = tls.recv(4096)
        assert chunk, answer
        answer += chunk
    return answer.split(b"\r\n", 1)[0].decode()


@needs_chromium
def test_a_certificate_uploaded_on_the_page_is_used_at_once_by_sip_and_the_admin_port(
        tmp_path: Path) -> None:  # fmt: skip
    ca = pki()
    uploads = {
        "cert": ca.leaf.pem,
        "key": ca.leaf.key_pem,
        "chain": ca.intermediate.pem,
        "root": ca.root.pem,
        "other-key": ca.server("other.example").key_pem,
    }
    for name, data in uploads.items():
        (tmp_path / f"{name}.pem").write_bytes(data)
    root_ca = tmp_path / "root.pem"
    with ui_node(tmp_path) as ui:
        admin_port, sip_port = int(ui.base.rsplit(":", 1)[1]), ui.node.tls
        tls_dir = ui.node.data_dir / "tls"
        self_signed = certificates.fingerprint((tls_dir / "cert.pem").read_bytes())
        assert presented(admin_port) == presented(sip_port) == self_signed
        pid = ui.node.process.pid
        held = connect(sip_port)  # a phone's connection, open before the change

        async def main() -> None:
            async with chromium(ui.base) as page:
                await first_login(page, ui)
                await page.get_by_role("link", name="TLS", exact=True).click()
                await expect(page.get_by_role("heading", level=1)).to_have_text(
                    "TLS and certificate"
                )
                await expect(page.get_by_role("note").first).to_contain_text(
                    "This certificate is self-signed"
                )
                await expect(page.locator("td.fingerprint")).to_have_text(self_signed)

                # a key of another certificate: refused, saying so, nothing changed
                await page.get_by_label("Certificate (PEM)").set_input_files(tmp_path / "cert.pem")
                await page.get_by_label("Private key (PEM, unencrypted)").set_input_files(
                    tmp_path / "other-key.pem"
                )
                await page.get_by_role("button", name="Install certificate").click()
                await expect(page.get_by_role("alert")).to_have_text(
                    "The private key does not belong to the certificate 'edge.example'."
                )
                await expect(page.locator("td.fingerprint")).to_have_text(self_signed)

                await page.get_by_label("Certificate (PEM)").set_input_files(tmp_path / "cert.pem")
                await page.get_by_label("Private key (PEM, unencrypted)").set_input_files(
                    tmp_path / "key.pem"
                )
                await page.get_by_label("Chain (PEM, optional)").set_input_files(
                    tmp_path / "chain.pem"
                )
                await page.get_by_role("button", name="Install certificate").click()
                await expect(page.get_by_role("status")).to_have_text(
                    "Certificate edge.example installed: new connections to every TLS listener "
                    "(SIP over TLS, this administration) use it."
                )
                await expect(page.locator("td.fingerprint")).to_have_text(ca.leaf.fingerprint)
                await expect(page.get_by_role("note")).to_have_count(0)
                assert (
                    "1 certificate sent after it"
                    in await page.locator("table.facts").first.inner_text()
                )
                await screenshot(page, "tls", tmp_path)

        asyncio.run(main())
        # fresh handshakes, trusting the customer's root only: the new certificate and chain
        assert presented(admin_port, root_ca) == ca.leaf.fingerprint
        assert presented(sip_port, root_ca) == ca.leaf.fingerprint
        # the connection opened before keeps its certificate and still carries SIP
        held_der = held.getpeercert(binary_form=True)
        assert held_der is not None and fingerprint(held_der) == self_signed
        assert options_over(held, sip_port).startswith("SIP/2.0 ")
        held.close()
        assert ui.node.alive() and ui.node.process.pid == pid  # no restart
        assert stat.S_IMODE((tls_dir / "key.pem").stat().st_mode) == 0o600
        assert certificates.fingerprint((tls_dir / "cert.pem.previous").read_bytes()) == \
            self_signed  # fmt: skip
        audit = ui.voxgate("audit", "--action", "tls.")
        assert "admin:ops (127.0.0.1)  tls.install  CN=edge.example, O=Example Customer" in audit
        assert ca.leaf.fingerprint in audit
