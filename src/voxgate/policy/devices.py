"""Device identity and admission (AUTH-1…AUTH-3), pure.

A device is known by its MAC address, learned only from what arrives over the
encrypted signaling channel (AUTH-1), strongest first:

1. the TLS client certificate: a MAC in the subject's common name or in a
   subject alternative name, as vendor device certificates carry it
   (``0004f2a1b2c3``, ``SEP0004F2A1B2C3``, ``00:04:f2:a1:b2:c3``);
2. ``+sip.instance`` (RFC 5626 §4.1): a time-based (version 1) UUID whose node
   field is a real MAC (``urn:uuid:00000000-0000-1000-8000-0004f2a1b2c3``), as
   phones build it;
3. the User-Agent, with a configurable pattern whose group ``mac`` holds it
   (vendors print ``… 00:04:f2:a1:b2:c3`` there).

:class:`DeviceTable` is the immutable snapshot the edge admits devices from.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

#: The default User-Agent pattern: a colon- or dash-separated MAC as a separate word.
DEFAULT_UA_PATTERN: Final = (
    r"(?<![0-9A-Fa-f:-])(?P<mac>[0-9A-Fa-f]{2}(?:([:-])[0-9A-Fa-f]{2})(?:\2[0-9A-Fa-f]{2}){4})"
    r"(?![0-9A-Fa-f:-])"
)
_HEX12: Final = re.compile(r"[0-9a-f]{12}")
_SEPARATED: Final = re.compile(
    r"[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}"
)
#: A MAC inside a certificate name: 12 hex digits alone or after a vendor prefix (SEP…),
#: or separated by colons/dashes.
_IN_NAME: Final = re.compile(
    r"(?<![0-9a-f])([0-9a-f]{12}|[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\2[0-9a-f]{2}){4})(?![0-9a-f])"
)
_UUID: Final = re.compile(
    r"<?urn:uuid:([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})>?"
)


class MacError(ValueError):
    """Not a usable MAC address."""


def normalize_mac(text: str) -> str:
    """A MAC as 12 lower-case hex digits; accepts ``aa:bb:cc:dd:ee:ff``, ``aa-bb-…``,
    ``aabb.ccdd.eeff`` and ``AABBCCDDEEFF``.  Raises :class:`MacError` for anything else,
    the all-zero and broadcast addresses, and group (multicast) addresses."""
    value = text.strip().lower()
    if _HEX12.fullmatch(value) is None:
        if _SEPARATED.fullmatch(value) is None:
            raise MacError(f"not a MAC address: {text.strip()[:40]!r}")
        value = re.sub(r"[:.-]", "", value)
    if value in ("000000000000", "ffffffffffff") or int(value[1], 16) & 1:
        raise MacError(f"not a device MAC address (zero, broadcast or multicast): {text!r}")
    return value


def format_mac(mac: str) -> str:
    """``aa:bb:cc:dd:ee:ff`` for display."""
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2))


class IdentitySource(enum.Enum):
    """Where a device's MAC was learned (strongest first)."""

    CERTIFICATE = "certificate"
    INSTANCE = "instance"
    USER_AGENT = "user-agent"
    #: Not from SIP: the MAC a phone asked its configuration for over HTTPS, trusted because
    #: the request carried the installer password (AUTH-3).
    PROVISIONING = "provisioning"


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """A device's MAC and where it was learned."""

    mac: str
    source: IdentitySource


def mac_from_certificate(certificate: Mapping[str, object] | None) -> str | None:
    """The MAC in a verified peer certificate (``SSLSocket.getpeercert()`` form): the subject
    common name first, then the subject alternative names."""
    if not certificate:
        return None
    names: list[str] = []
    subject = certificate.get("subject", ())
    if isinstance(subject, tuple):
        for rdn in subject:
            for pair in rdn if isinstance(rdn, tuple) else ():
                if isinstance(pair, tuple) and len(pair) == 2 and pair[0] == "commonName":
                    names.append(str(pair[1]))
    alt = certificate.get("subjectAltName", ())
    if isinstance(alt, tuple):
        names.extend(str(pair[1]) for pair in alt if isinstance(pair, tuple) and len(pair) == 2)
    for name in names:
        for match in _IN_NAME.finditer(name.lower()):
            try:
                return normalize_mac(match.group(1))
            except MacError:
                continue
    return None


def mac_from_instance(instance: str | None) -> str | None:
    """The MAC in a ``+sip.instance`` value: the node field of a version-1 UUID whose
    multicast bit is clear (a random node id has it set, RFC 4122 §4.5)."""
    if not instance:
        return None
    match = _UUID.fullmatch(instance.strip().strip('"').lower())
    if match is None or match.group(3)[0] != "1":
        return None
    try:
        return normalize_mac(match.group(5))
    except MacError:
        return None


def mac_from_user_agent(user_agent: str | None, pattern: re.Pattern[str]) -> str | None:
    """The MAC a User-Agent carries, by ``pattern``'s group ``mac``."""
    if not user_agent:
        return None
    match = pattern.search(user_agent)
    if match is None:
        return None
    try:
        return normalize_mac(match.group("mac"))
    except (MacError, IndexError):
        return None


def compile_user_agent_pattern(text: str) -> re.Pattern[str]:
    """Compile a User-Agent pattern; raises ``ValueError`` unless it has a group ``mac``."""
    try:
        pattern = re.compile(text)
    except re.error as err:
        raise ValueError(f"not a regular expression: {err}") from None
    if "mac" not in pattern.groupindex:
        raise ValueError("the pattern needs a group named mac: (?P<mac>…)")
    return pattern


def identify(
    certificate: Mapping[str, object] | None,
    instance: str | None,
    user_agent: str | None,
    pattern: re.Pattern[str] | None,
) -> DeviceIdentity | None:
    """The device's identity from the strongest source that carries one."""
    mac = mac_from_certificate(certificate)
    if mac is not None:
        return DeviceIdentity(mac, IdentitySource.CERTIFICATE)
    mac = mac_from_instance(instance)
    if mac is not None:
        return DeviceIdentity(mac, IdentitySource.INSTANCE)
    if pattern is not None:
        mac = mac_from_user_agent(user_agent, pattern)
        if mac is not None:
            return DeviceIdentity(mac, IdentitySource.USER_AGENT)
    return None


class Admission(enum.Enum):
    """What the device table says about a device."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    UNKNOWN = "unknown"


class DeviceTable:
    """An immutable snapshot of the device table: MAC → enabled."""

    __slots__ = ("_enabled", "generation")

    def __init__(self, devices: Iterable[tuple[str, bool]] = (), generation: int = 0) -> None:
        self._enabled: dict[str, bool] = dict(devices)
        self.generation = generation

    def admission(self, mac: str) -> Admission:
        """Whether ``mac`` may reach the call control."""
        enabled = self._enabled.get(mac)
        if enabled is None:
            return Admission.UNKNOWN
        return Admission.ENABLED if enabled else Admission.DISABLED

    def __len__(self) -> int:
        return len(self._enabled)
