"""Which configuration file a phone asks for: the vendor file names served, by MAC.

The last path segment decides; any directories in front of it are allowed, so a
provisioning URL such as ``https://edge:8443/phones/`` works as well as the root:

=========================  ===================================  ===========
file name                  used by (for example)                answered as
=========================  ===================================  ===========
``<mac>.cfg``              Polycom, Yealink                     text
``<mac>.boot``             Yealink boot files                   text
``<mac>``                  ``/prov/<mac>`` style URLs           text
``<mac>.xml``              Snom, Fanvil                         XML
``cfg<mac>.xml``           Grandstream                          XML
``cfg<mac>``               Grandstream (plain)                  text
``SEP<mac>.cnf.xml``       Cisco                                XML
=========================  ===================================  ===========

``<mac>`` is 12 hex digits in any case, or six pairs separated by ``-``; it must be a
device MAC (:func:`voxgate.policy.devices.normalize_mac`: not zero, broadcast or multicast
— so a vendor's shared ``000000000000.cfg`` is not one).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from voxgate.policy.devices import MacError, normalize_mac

_FILE: Final = re.compile(
    r"(?P<prefix>cfg|sep)?(?P<mac>[0-9a-f]{12}|[0-9a-f]{2}(?:-[0-9a-f]{2}){5})"
    r"(?P<ext>\.cfg|\.boot|\.xml|\.cnf\.xml)?",
    re.IGNORECASE,
)
#: Longest path looked at (phones ask for short names).
MAX_PATH: Final = 512


class ConfigFormat(enum.Enum):
    """How the configuration is written."""

    TEXT = "text"
    XML = "xml"


@dataclass(frozen=True, slots=True)
class ConfigRequest:
    """A request for device ``mac``'s configuration (normalized MAC)."""

    mac: str
    format: ConfigFormat


def parse_path(path: str) -> ConfigRequest | None:
    """The configuration a request path asks for, or ``None`` (not a per-device file)."""
    if len(path) > MAX_PATH:
        return None
    name = path.rsplit("/", 1)[-1]
    match = _FILE.fullmatch(name)
    if match is None:
        return None
    prefix = (match.group("prefix") or "").lower()
    ext = (match.group("ext") or "").lower()
    if prefix == "sep" and ext != ".cnf.xml":
        return None
    if prefix == "cfg" and ext not in ("", ".xml"):
        return None
    if ext == ".cnf.xml" and prefix != "sep":
        return None
    try:
        mac = normalize_mac(match.group("mac"))
    except MacError:
        return None
    return ConfigRequest(mac, ConfigFormat.XML if ext.endswith(".xml") else ConfigFormat.TEXT)
