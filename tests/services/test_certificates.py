"""The certificate service: what it installs (files, modes, ``.previous``, the chain's place,
the node's context reloaded, the audit event) and every refusal, before anything is written;
the description of the certificate in use and its warnings.  Certificates come from a tiny
CA made here (tests/transport/minica.py)."""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID
from minica import Issued, Pki, issue, pki, rsa_key

from voxgate.config import certificates as selfsigned
from voxgate.config.schema import TlsSettings
from voxgate.services.audit import Actor, AuditLog
from voxgate.services.certificate_checks import CertificateError
from voxgate.services.certificates import CertificateService, InstallError, LiveContext
from voxgate.storage.engine import Store
from voxgate.transport.tlsctx import ReloadableContext, build_server_context

ME = Actor("cli:tester")


class Node:
    """The TLS files of a node (its self-signed certificate, as `voxgate init` makes it), its
    reloadable context, a store for the audit log."""

    def __init__(self, tmp_path: Path, store: Store, *, chain: bool = False) -> None:
        self.dir = tmp_path / "tls"
        self.dir.mkdir(mode=0o700)
        key = _init_key()
        self.cert_file, self.key_file = self.dir / "cert.pem", self.dir / "key.pem"
        self.chain_file = self.dir / "chain.pem" if chain else None
        self.cert_file.write_bytes(
            selfsigned.certificate_pem(
                selfsigned.self_signed_certificate(key, "edge.example", now=_now())
            )
        )
        self.key_file.write_bytes(selfsigned.private_key_pem(key))
        self.key_file.chmod(0o600)
        if self.chain_file is not None:
            self.chain_file.write_bytes(b"")
        self.tls = TlsSettings(
            certificate=self.cert_file, private_key=self.key_file, chain=self.chain_file
        )
        self.live = ReloadableContext(
            lambda: build_server_context(
                certificate=self.cert_file, private_key=self.key_file, chain=self.chain_file
            )
        )
        self.store = store

    def service(
        self, live: LiveContext | str | None = "node", build: Any = build_server_context
    ) -> CertificateService:
        """The service of this node's files (``live``: the node's context, or another)."""
        chosen = self.live if isinstance(live, str) else live
        return CertificateService(self.store, self.tls, build=build, live=chosen)

    def files(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(self.dir.iterdir())}


@functools.cache
def _init_key() -> Any:
    """The RSA-3072 key `voxgate init` would make (one for every test: it is slow to make)."""
    return selfsigned.generate_private_key()


def _now() -> Any:
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.now(UTC)


def run(tmp_path: Path, body: Callable[[Node], Awaitable[None]], *, chain: bool = False) -> None:
    async def main() -> None:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}")
        await store.upgrade()
        try:
            await body(Node(tmp_path, store, chain=chain))
        finally:
            await store.close()

    asyncio.run(main())


@pytest.fixture(scope="module")
def ca() -> Pki:
    return pki()


def refused(tmp_path: Path, field: str, words: str, cert: bytes, key: bytes,
            chain: bytes | None = None) -> None:  # fmt: skip
    """The upload is refused naming ``field`` and saying ``words``; nothing is written."""

    async def body(node: Node) -> None:
        before = node.files()
        context = node.live.current
        with pytest.raises(CertificateError) as caught:
            await node.service().install(cert, key, chain, ME)
        assert caught.value.field == field, str(caught.value)
        assert words in str(caught.value), str(caught.value)
        assert node.files() == before  # no file changed, no .previous, no temporary file left
        assert node.live.current is context
        assert await AuditLog(node.store).recent(action_prefix="tls.") == []

    run(tmp_path, body)


# -- installed --------------------------------------------------------------------------------
def test_a_ca_signed_certificate_and_its_chain_replace_the_self_signed_one(
    tmp_path: Path, ca: Pki
) -> None:
    async def body(node: Node) -> None:
        old_cert, old_key = node.cert_file.read_bytes(), node.key_file.read_bytes()
        context = node.live.current
        done = await node.service().install(ca.leaf.pem, ca.leaf.key_pem, ca.intermediate.pem, ME)
        assert done.reloaded and node.live.current is not context
        assert done.certificate.fingerprint == ca.leaf.fingerprint
        assert done.certificate.common_name == "edge.example"
        assert done.certificate.chain_length == 1 and not done.certificate.self_signed
        assert done.written == (node.cert_file, node.key_file)
        # no tls.chain configured: the chain follows the certificate in its file
        assert node.cert_file.read_bytes() == ca.leaf.pem + ca.intermediate.pem
        key = serialization.load_pem_private_key(node.key_file.read_bytes(), None)
        assert key.public_key() == ca.leaf.key.public_key()
        assert stat.S_IMODE(node.key_file.stat().st_mode) == 0o600
        # the previous files are kept beside them (the key still 0600)
        previous_key = node.dir / "key.pem.previous"
        assert (node.dir / "cert.pem.previous").read_bytes() == old_cert
        assert previous_key.read_bytes() == old_key
        assert stat.S_IMODE(previous_key.stat().st_mode) == 0o600
        assert set(done.previous) == {node.dir / "cert.pem.previous", previous_key}
        assert sorted(node.files()) == [
            "cert.pem",
            "cert.pem.previous",
            "key.pem",
            "key.pem.previous",
        ]  # no temporary file left
        [event] = await AuditLog(node.store).recent(action_prefix="tls.")
        assert (event.actor, event.action, event.target) == (
            "cli:tester",
            "tls.install",
            "CN=edge.example, O=Example Customer",
        )
        assert ca.leaf.fingerprint in event.detail and "PRIVATE" not in event.detail
        shown = node.service().describe()
        assert shown.certificate is not None
        assert shown.certificate.fingerprint == ca.leaf.fingerprint
        assert shown.certificate.names == ("edge.example", "localhost", "127.0.0.1")
        assert shown.certificate.key == "EC P-256"
        assert shown.reload_pending is False and shown.warnings == ()

    run(tmp_path, body)


def test_the_leaf_and_its_chain_in_one_file(tmp_path: Path, ca: Pki) -> None:
    async def body(node: Node) -> None:
        done = await node.service().install(ca.leaf.pem + ca.intermediate.pem + ca.root.pem,
                                            ca.leaf.key_pem, None, ME)  # fmt: skip
        assert done.certificate.chain_length == 2
        assert node.cert_file.read_bytes() == ca.leaf.pem + ca.intermediate.pem + ca.root.pem

    run(tmp_path, body)


def test_a_configured_chain_file_gets_the_chain_and_is_emptied_without_one(
    tmp_path: Path, ca: Pki
) -> None:
    async def body(node: Node) -> None:
        assert node.chain_file is not None
        service = node.service()
        await service.install(ca.leaf.pem, ca.leaf.key_pem, ca.intermediate.pem, ME)
        assert node.cert_file.read_bytes() == ca.leaf.pem
        assert node.chain_file.read_bytes() == ca.intermediate.pem
        self_signed = issue("edge.example")  # the old chain belongs to the old certificate
        done = await service.install(self_signed.pem, self_signed.key_pem, b"  \n", ME)
        assert done.certificate.self_signed and done.certificate.chain_length == 0
        assert node.chain_file.read_bytes() == b""
        assert (node.dir / "chain.pem.previous").read_bytes() == ca.intermediate.pem

    run(tmp_path, body, chain=True)


@pytest.mark.parametrize("key", [
    pytest.param(lambda: ec.generate_private_key(ec.SECP384R1()), id="EC P-384"),
    pytest.param(lambda: rsa_key(3072), id="RSA 3072"),
    pytest.param(ed25519.Ed25519PrivateKey.generate, id="Ed25519"),
])  # fmt: skip
def test_strong_keys_are_accepted(tmp_path: Path, ca: Pki, key: Callable[[], Any]) -> None:
    leaf = ca.server(key=key())

    async def body(node: Node) -> None:
        done = await node.service().install(leaf.pem, leaf.key_pem, ca.intermediate.pem, ME)
        assert done.certificate.fingerprint == leaf.fingerprint

    run(tmp_path, body)


def test_without_a_running_node_the_files_are_written_and_not_loaded(
    tmp_path: Path, ca: Pki
) -> None:
    async def body(node: Node) -> None:
        context = node.live.current
        done = await node.service(live=None).install(ca.leaf.pem, ca.leaf.key_pem,
                                                     ca.intermediate.pem, ME)  # fmt: skip
        assert not done.reloaded and node.live.current is context
        # the node that did not reload presents the old certificate: the page says so
        described = node.service().describe()
        assert described.reload_pending is True
        assert any("SIGHUP" in warning for warning in described.warnings)
        node.live.reload()  # SIGHUP
        assert node.service().describe().reload_pending is False
        [event] = await AuditLog(node.store).recent(action_prefix="tls.")
        assert event.detail.endswith("node not reloaded")

    run(tmp_path, body)


def test_when_the_node_cannot_load_the_files_the_previous_ones_come_back(
    tmp_path: Path, ca: Pki
) -> None:
    class Broken:
        loaded_at = 0.0

        def reload(self) -> None:
            raise ssl.SSLError("simulated failure")

    async def body(node: Node) -> None:
        before = node.files()
        with pytest.raises(InstallError, match="previous files are back in place"):
            await node.service(live=Broken()).install(ca.leaf.pem, ca.leaf.key_pem, None, ME)
        after = node.files()
        assert after["cert.pem"] == before["cert.pem"]
        assert after["key.pem"] == before["key.pem"]
        assert await AuditLog(node.store).recent(action_prefix="tls.") == []

    run(tmp_path, body)


def test_what_openssl_refuses_is_refused_and_nothing_is_written(tmp_path: Path, ca: Pki) -> None:
    def refusing(**files: Any) -> ssl.SSLContext:
        assert files["certificate"].name.startswith(".cert.pem.")  # temporary files
        raise ssl.SSLError("[SSL: EE_KEY_TOO_SMALL] ee key too small")

    async def body(node: Node) -> None:
        before = node.files()
        with pytest.raises(CertificateError, match=r"OpenSSL does not accept .* too small"):
            await node.service(build=refusing).install(ca.leaf.pem, ca.leaf.key_pem, None, ME)
        assert node.files() == before

    run(tmp_path, body)


# -- refused ----------------------------------------------------------------------------------
def test_a_key_of_another_certificate(tmp_path: Path, ca: Pki) -> None:
    other = ca.server("other.example")
    refused(
        tmp_path,
        "key",
        "does not belong to the certificate 'edge.example'",
        ca.leaf.pem,
        other.key_pem,
    )


def test_a_file_that_does_not_start_with_the_server_certificate(tmp_path: Path, ca: Pki) -> None:
    refused(
        tmp_path,
        "cert",
        "must start with the server certificate",
        ca.intermediate.pem + ca.leaf.pem,
        ca.leaf.key_pem,
    )


def test_an_expired_certificate(tmp_path: Path, ca: Pki) -> None:
    old = ca.server(days=(-400, -35))
    refused(
        tmp_path,
        "cert",
        "the certificate has expired: it was valid until",
        old.pem,
        old.key_pem,
        ca.intermediate.pem,
    )


def test_a_certificate_not_valid_yet(tmp_path: Path, ca: Pki) -> None:
    later = ca.server(days=(3, 400))
    refused(
        tmp_path,
        "cert",
        "the certificate is not valid yet",
        later.pem,
        later.key_pem,
        ca.intermediate.pem,
    )


def test_an_expired_chain_certificate(tmp_path: Path) -> None:
    root = issue("Old Root", ca=True, days=(-900, 3000))
    intermediate = issue("Old Intermediate", issuer=root, ca=True, days=(-800, -1))
    leaf = issue("edge.example", issuer=intermediate, days=(-10, 30))
    refused(
        tmp_path,
        "chain",
        "chain certificate 'Old Intermediate' has expired",
        leaf.pem,
        leaf.key_pem,
        intermediate.pem,
    )


def test_a_weak_rsa_key(tmp_path: Path, ca: Pki) -> None:
    weak = ca.server(key=rsa_key(1024))
    refused(
        tmp_path,
        "key",
        "the RSA key has 1024 bits: at least 2048 are needed",
        weak.pem,
        weak.key_pem,
        ca.intermediate.pem,
    )


def test_an_ec_key_on_a_curve_phones_lack(tmp_path: Path, ca: Pki) -> None:
    odd = ca.server(key=ec.generate_private_key(ec.SECP521R1()))
    refused(tmp_path, "key", "curve secp521r1: use P-256 or P-384", odd.pem, odd.key_pem)


def test_a_certificate_for_clients_only(tmp_path: Path, ca: Pki) -> None:
    client = ca.server(usage=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    refused(tmp_path, "cert", "not for TLS servers", client.pem, client.key_pem)


@pytest.mark.parametrize(("mangle", "words"), [
    pytest.param(lambda pem: pem.replace(pem[60:100], b"!" * 40), "damaged PEM block", id="bad"),
    pytest.param(lambda pem: pem[:-60], "damaged PEM block", id="truncated"),
    pytest.param(lambda pem: b"hello, world", "is not PEM text", id="text"),
    pytest.param(lambda pem: b"\x30\x82\x01\x0a" + bytes(200), "not PEM text", id="DER"),
    pytest.param(lambda pem: b"", "the certificate file is empty", id="empty"),
    pytest.param(lambda pem: b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
                 "holds no certificate", id="CRL"),
    pytest.param(lambda pem: pem + b"\n" * 70_000, "too large", id="huge"),
])  # fmt: skip
def test_a_broken_certificate_file(tmp_path: Path, ca: Pki, mangle: Callable[[bytes], bytes],
                                   words: str) -> None:  # fmt: skip
    refused(tmp_path, "cert", words, mangle(ca.leaf.pem), ca.leaf.key_pem)


def test_a_private_key_in_the_certificate_field(tmp_path: Path, ca: Pki) -> None:
    refused(tmp_path, "cert", "holds a private key", ca.leaf.pem + ca.leaf.key_pem, ca.leaf.key_pem)


@pytest.mark.parametrize(("key", "words"), [
    pytest.param(lambda leaf: leaf.encrypted_key_pem(), "encrypted", id="PKCS#8 encrypted"),
    pytest.param(lambda leaf: leaf.encrypted_key_pem(traditional=True), "encrypted",
                 id="Proc-Type encrypted"),
    pytest.param(lambda leaf: leaf.pem, "holds a certificate, not a private key", id="cert"),
    pytest.param(lambda leaf: b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                 "damaged or unsupported", id="broken"),
    pytest.param(lambda leaf: b"key", "not a PEM private key", id="text"),
])  # fmt: skip
def test_a_private_key_that_cannot_be_used(
    tmp_path: Path, ca: Pki, key: Callable[[Issued], bytes], words: str
) -> None:
    refused(tmp_path, "key", words, ca.leaf.pem, key(ca.leaf))


def test_the_encrypted_key_message_says_how_to_decrypt(tmp_path: Path, ca: Pki) -> None:
    refused(
        tmp_path,
        "key",
        "passphrase): voxgate must read it unattended; decrypt it with openssl pkey",
        ca.leaf.pem,
        ca.leaf.encrypted_key_pem(),
    )


def test_a_chain_out_of_order(tmp_path: Path, ca: Pki) -> None:
    refused(
        tmp_path,
        "chain",
        "the chain is out of order: 'edge.example' was issued by "
        "'Example Root CA Intermediate', which must come right after it",
        ca.leaf.pem,
        ca.leaf.key_pem,
        ca.root.pem + ca.intermediate.pem,
    )


def test_a_chain_of_another_ca(tmp_path: Path, ca: Pki) -> None:
    other = pki("Other Root CA")
    refused(
        tmp_path,
        "chain",
        "the chain does not belong to the certificate: 'Other Root CA "
        "Intermediate' did not issue 'edge.example'",
        ca.leaf.pem,
        ca.leaf.key_pem,
        other.intermediate.pem,
    )


# -- described ----------------------------------------------------------------------------------
def test_the_self_signed_certificate_of_init_is_described_with_a_warning(tmp_path: Path) -> None:
    async def body(node: Node) -> None:
        shown = node.service().describe()
        info = shown.certificate
        assert info is not None and info.self_signed and info.key == "RSA 3072"
        assert info.fingerprint == selfsigned.fingerprint(node.cert_file.read_bytes())
        assert info.issuer == info.subject and info.chain_length == 0
        assert shown.days_left is not None and 820 <= shown.days_left <= 825
        assert [w.split(":")[0] for w in shown.warnings] == ["This certificate is self-signed"]
        assert (shown.min_version, shown.verify_client) == ("1.2", "none")
        assert shown.reload_pending is False and shown.problem == ""

    run(tmp_path, body)


def test_a_certificate_expiring_soon_or_expired_is_announced(tmp_path: Path, ca: Pki) -> None:
    async def body(node: Node) -> None:
        soon = ca.server(days=(-80, 10.5))
        await node.service().install(soon.pem, soon.key_pem, ca.intermediate.pem, ME)
        service = node.service()
        assert service.describe().warnings == (
            f"This certificate expires in 10 days ({soon.cert.not_valid_after_utc:%Y-%m-%d}): "
            "install a renewed one.",
        )
        expired = ca.server(days=(-80, -2))
        node.cert_file.write_bytes(expired.pem)  # by hand, past every check
        os.utime(node.cert_file, (0, 0))
        shown = service.describe()
        assert shown.days_left is not None and shown.days_left < 0
        assert shown.warnings[0].startswith("This certificate expired on ")

    run(tmp_path, body)


def test_a_certificate_file_that_cannot_be_read_is_a_problem_not_an_error(tmp_path: Path
                                                                          ) -> None:  # fmt: skip
    async def body(node: Node) -> None:
        node.cert_file.write_bytes(b"garbage")
        os.utime(node.cert_file, (0, 0))
        shown = node.service().describe()
        assert shown.certificate is None
        assert shown.problem.startswith(f"cannot read the certificate {node.cert_file}")

    run(tmp_path, body)
