"""Reversible secrets at rest (credentials toward an upstream PBX, trunks): AES-256-GCM with
a key file that ``voxgate init`` creates (mode 0600) in the data directory.

Back the key file up with the database: without it those secrets can't be read.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_SIZE: Final = 32
_PREFIX: Final = "v1:"


class SecretBoxError(Exception):
    """The key file is missing or bad, or a value does not decrypt."""


def create_key_file(path: Path) -> bool:
    """Write a new random key to ``path`` (0600); never replaces one.  Whether it wrote."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(base64.b64encode(secrets.token_bytes(KEY_SIZE)).decode() + "\n")
    return True


def read_key_file(path: Path) -> bytes:
    """The key in ``path``."""
    try:
        key = base64.b64decode(path.read_text().strip(), validate=True)
    except (OSError, ValueError) as err:
        raise SecretBoxError(f"cannot read the secret key {path}: {err}") from err
    if len(key) != KEY_SIZE:
        raise SecretBoxError(f"the secret key {path} is not {KEY_SIZE} bytes")
    return key


class SecretBox:
    """Encrypts and decrypts short secrets; ``aad`` binds a value to its owner (e.g. a row)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise SecretBoxError(f"a secret box key is {KEY_SIZE} bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_file(cls, path: Path) -> SecretBox:
        """A box with the key in ``path``."""
        return cls(read_key_file(path))

    def seal(self, plaintext: str, aad: str = "") -> str:
        """Encrypt: ``v1:`` + base64(nonce || ciphertext+tag)."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), aad.encode())
        return _PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, token: str, aad: str = "") -> str:
        """Decrypt a value made by :meth:`seal` with the same ``aad``."""
        if not token.startswith(_PREFIX):
            raise SecretBoxError("not a sealed value")
        try:
            raw = base64.b64decode(token[len(_PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], aad.encode()).decode()
        except Exception as err:
            raise SecretBoxError("the value does not decrypt with this key") from err
