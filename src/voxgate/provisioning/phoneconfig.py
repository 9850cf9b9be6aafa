"""The configuration handed to a phone: minimal and vendor-neutral.

It says where to register — the edge's address, its TLS port, transport TLS, RFC 5626
outbound on — and the user name of each SIP user tied to the device
(``voxgate sipuser set USER --device MAC``).  **Nothing secret**: a SIP user's password is
stored as HA1 digests only, so voxgate cannot hand it out, and the level-2 secret never
leaves the edge.  The installer types the password on the phone (or a vendor template
built from these keys carries it).  The text form is ``key = value`` lines::

    # voxgate phone configuration for 00:04:f2:a1:b2:c3
    device.mac = 00:04:f2:a1:b2:c3
    sip.server = edge.example.net
    sip.port = 5061
    sip.transport = tls
    sip.outbound = on
    line.1.username = alice

and the XML form the same keys as elements of ``<voxgate-provisioning>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from voxgate.policy.devices import format_mac
from voxgate.provisioning.paths import ConfigFormat

NOTE_PASSWORDS = ("No password is served: voxgate stores SIP passwords as hashes only. Enter the "
             "SIP user's password on the phone.")  # fmt: skip
NOTE_NO_USER = ("No SIP user is tied to this device (voxgate sipuser set USER --device MAC); "
           "enter the SIP user name and password on the phone.")  # fmt: skip


@dataclass(frozen=True, slots=True)
class PhoneConfig:
    """What a phone is told."""

    mac: str
    server: str
    port: int
    transport: str
    usernames: Sequence[str] = ()

    def entries(self) -> list[tuple[str, str]]:
        """The ``(key, value)`` pairs, in order."""
        pairs = [("device.mac", format_mac(self.mac)), ("sip.server", self.server),
                 ("sip.port", str(self.port)), ("sip.transport", self.transport),
                 ("sip.outbound", "on")]  # fmt: skip
        pairs.extend((f"line.{i}.username", name) for i, name in enumerate(self.usernames, 1))
        return pairs

    def render(self, form: ConfigFormat) -> tuple[str, str]:
        """``(body, content type)`` in ``form``."""
        notes = [NOTE_PASSWORDS] if self.usernames else [NOTE_PASSWORDS, NOTE_NO_USER]
        if form is ConfigFormat.XML:
            lines = ['<?xml version="1.0" encoding="UTF-8"?>',
                     f"<!-- voxgate phone configuration for {format_mac(self.mac)} -->"]
            lines += [f"<!-- {escape(note)} -->" for note in notes]
            lines.append("<voxgate-provisioning>")
            lines += [f'  <setting name="{key}">{escape(value)}</setting>'
                      for key, value in self.entries()]  # fmt: skip
            lines.append("</voxgate-provisioning>")
            return "\n".join(lines) + "\n", "application/xml"
        lines = [f"# voxgate phone configuration for {format_mac(self.mac)}"]
        lines += [f"# {note}" for note in notes]
        lines += [f"{key} = {value}" for key, value in self.entries()]
        return "\n".join(lines) + "\n", "text/plain"
