"""SIP users of the edge (AUTH-4) as an immutable in-memory snapshot.

Level 1 is the device's own credential toward the edge (stored as HA1, like
an extension's); level 2 is the credential the edge answers the call
control's challenges with (kept encrypted at rest, clear only in this
snapshot).  A user may be tied to one device: then only that device's MAC
may register with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class SipUser:
    """One SIP user: level-1 HA1s, the extension it maps to and the level-2 credential."""

    username: str
    extension: str
    upstream_username: str
    upstream_secret: str = field(repr=False)
    #: HA1 by digest algorithm name, computed for the edge's realm.
    ha1: Mapping[str, str] = field(default_factory=dict, repr=False)
    device_mac: str | None = None
    enabled: bool = True


class UserDirectory:
    """SIP users by username; disabled users are known but never authenticate."""

    __slots__ = ("_by_name", "generation")

    def __init__(self, users: Iterable[SipUser] = (), generation: int = 0) -> None:
        self._by_name: Mapping[str, SipUser] = MappingProxyType({u.username: u for u in users})
        self.generation = generation

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, username: str) -> SipUser | None:
        """The user ``username``, enabled or not."""
        return self._by_name.get(username)

    def ha1(self, algorithm: str, username: str) -> str | None:
        """The level-1 HA1 of an *enabled* user (the digest lookup), else ``None``."""
        user = self._by_name.get(username)
        if user is None or not user.enabled:
            return None
        return user.ha1.get(algorithm)
