"""The extensions the call control serves, as an immutable in-memory snapshot.

The registrar and the call control read this on every request; the service
layer rebuilds it from the store when the extensions change (DESIGN.md: policy
reads snapshots, never a database session).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Extension:
    """One extension: its number, name and stored HA1 values (never a clear secret)."""

    number: str
    display_name: str = ""
    #: HA1 by digest algorithm name ("MD5", "SHA-256"), computed for the configured realm.
    ha1: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    #: Registered contacts allowed; ``None`` means the configured default.
    max_contacts: int | None = None


class Directory:
    """Extensions by number.  Disabled extensions are known but never authenticate."""

    __slots__ = ("_by_number", "generation")

    def __init__(self, extensions: Iterable[Extension] = (), generation: int = 0) -> None:
        self._by_number: Mapping[str, Extension] = MappingProxyType(
            {ext.number: ext for ext in extensions}
        )
        #: The store's change counter this snapshot was built at.
        self.generation = generation

    def __len__(self) -> int:
        return len(self._by_number)

    def get(self, number: str) -> Extension | None:
        """The extension ``number``, enabled or not."""
        return self._by_number.get(number)

    def ha1(self, algorithm: str, username: str) -> str | None:
        """The stored HA1 of an *enabled* extension (the digest lookup), else ``None``."""
        ext = self._by_number.get(username)
        if ext is None or not ext.enabled:
            return None
        return ext.ha1.get(algorithm)
