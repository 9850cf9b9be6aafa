"""Reversible secrets at rest: AES-256-GCM with the key file `voxgate init` writes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from voxgate.config.init import init_data_dir
from voxgate.storage.secretbox import SecretBox, SecretBoxError, create_key_file, read_key_file


def test_init_key_file_opens_what_it_sealed(tmp_path: Path) -> None:
    result = init_data_dir(tmp_path / "d", host_name="edge.example")
    key_file = result.data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    box = SecretBox.from_file(key_file)
    sealed = box.seal("upstream-password", aad="trunk:1")
    assert "upstream-password" not in sealed
    assert box.open(sealed, aad="trunk:1") == "upstream-password"
    assert box.seal("x") != box.seal("x")  # a fresh nonce every time


def test_wrong_key_wrong_owner_and_tampering_are_refused(tmp_path: Path) -> None:
    create_key_file(tmp_path / "a.key")
    create_key_file(tmp_path / "b.key")
    a, b = SecretBox.from_file(tmp_path / "a.key"), SecretBox.from_file(tmp_path / "b.key")
    sealed = a.seal("secret", aad="trunk:1")
    with pytest.raises(SecretBoxError):
        b.open(sealed, aad="trunk:1")
    with pytest.raises(SecretBoxError):
        a.open(sealed, aad="trunk:2")
    with pytest.raises(SecretBoxError):
        a.open(sealed[:-4] + "AAAA", aad="trunk:1")


def test_key_files_are_never_replaced_and_bad_ones_are_named(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    assert create_key_file(path)
    before = path.read_bytes()
    assert not create_key_file(path)
    assert path.read_bytes() == before
    path.write_text("not base64!")
    with pytest.raises(SecretBoxError, match=r"k\.key"):
        read_key_file(path)
