"""Fixtures for the transport tests: event loops (asyncio and uvloop) and certificates."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Runner = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]
CertWriter = Callable[..., tuple[Path, Path]]


def _loop_factories() -> list[Any]:
    params: list[Any] = [pytest.param(asyncio.new_event_loop, id="asyncio")]
    try:
        import uvloop  # noqa: PLC0415 - optional: the app installs it, the tests use it if present
    except ImportError:
        params.append(pytest.param(None, id="uvloop", marks=pytest.mark.skip("no uvloop")))
    else:
        params.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
    return params


@pytest.fixture(params=_loop_factories())
def run(request: pytest.FixtureRequest) -> Runner:
    """Run a test body on a fresh loop of each kind, with an overall timeout."""
    factory = request.param

    def runner(body: Callable[[], Awaitable[None]]) -> None:
        async def bounded() -> None:
            await asyncio.wait_for(body(), 20)

        with asyncio.Runner(loop_factory=factory) as r:
            r.run(bounded())

    return runner


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificate(
    subject: str,
    *,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    ca: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A P-256 certificate for ``subject``, self-signed unless ``issuer`` is given."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, signing_key = (_name(subject), key) if issuer is None else (
        issuer[0].subject, issuer[1]
    )
    builder = (
        x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )  # fmt: skip
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256()), key


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip


@pytest.fixture
def write_cert() -> CertWriter:
    """Write a self-signed certificate and key as cert.pem / key.pem into a directory."""

    def writer(directory: Path, name: str, prefix: str = "") -> tuple[Path, Path]:
        cert, key = make_certificate(name)
        cert_path, key_path = directory / f"{prefix}cert.pem", directory / f"{prefix}key.pem"
        cert_path.write_bytes(pem(cert))
        key_path.write_bytes(key_pem(key))
        return cert_path, key_path

    return writer


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """root CA → intermediate → leaf "edge.example", and a client certificate from the root."""
    root = make_certificate("Test Root", ca=True)
    intermediate = make_certificate("Test Intermediate", issuer=root, ca=True)
    leaf = make_certificate("edge.example", issuer=intermediate)
    client = make_certificate("phone.example", issuer=root)
    files = {
        "root": pem(root[0]), "chain": pem(intermediate[0]), "cert": pem(leaf[0]),
        "key": key_pem(leaf[1]), "client_cert": pem(client[0]), "client_key": key_pem(client[1]),
    }  # fmt: skip
    paths = {}
    for name, data in files.items():
        path = tmp_path / f"{name}.pem"
        path.write_bytes(data)
        paths[name] = path
    return paths
