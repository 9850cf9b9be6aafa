"""Fixtures for the config tests: one key + certificate pair per session (RSA-3072 is slow)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from voxgate.config import certificates


@pytest.fixture(scope="session")
def tls_pem() -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for host "edge.example"."""
    key = certificates.generate_private_key()
    cert = certificates.self_signed_certificate(key, "edge.example", now=datetime.now(UTC))
    return certificates.certificate_pem(cert), certificates.private_key_pem(key)


@pytest.fixture
def config_dir(tmp_path: Path, tls_pem: tuple[bytes, bytes]) -> Path:
    """A directory holding tls/cert.pem and tls/key.pem at the default relative paths."""
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "cert.pem").write_bytes(tls_pem[0])
    (tmp_path / "tls" / "key.pem").write_bytes(tls_pem[1])
    return tmp_path


@pytest.fixture
def write_config(config_dir: Path) -> Callable[[str], Path]:
    """Write TOML text to config_dir/voxgate.toml and return its path."""

    def write(text: str) -> Path:
        path = config_dir / "voxgate.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
