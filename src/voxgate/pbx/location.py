"""The location service (RFC 3261 §10.2): address-of-record → registered contacts.

Pure and in memory: the registrar reads and writes it on every REGISTER and
the call control reads it for every call, so it never waits on the database.
Persistence is the service layer's job (a write-behind of the changes the
registrar reports); on start the bindings are loaded back with :meth:`restore`.

Times are wall-clock seconds (bindings outlive the process).  A binding is
identified by its ``+sip.instance`` and ``reg-id`` when the device sends them
(RFC 5626 §6: a re-registration from a new address replaces the old flow), else
by its Contact URI.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from voxgate.sip.flow import Flow
from voxgate.sip.uri import SipUri, Uri


@dataclass(slots=True, init=False)
class Binding:
    """One registered contact of one address of record."""

    aor: str
    contact: str
    uri: Uri
    expires_at: float
    call_id: str
    cseq: int
    flow: Flow
    registered_at: float
    q: float | None = None
    instance: str | None = None
    reg_id: int | None = None
    user_agent: str | None = None

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        aor: str,
        contact: str,
        uri: Uri,
        expires_at: float,
        call_id: str,
        cseq: int,
        flow: Flow,
        registered_at: float,
        q: float | None = None,
        instance: str | None = None,
        reg_id: int | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.aor = aor
        self.contact = contact
        self.uri = uri
        self.expires_at = expires_at
        self.call_id = call_id
        self.cseq = cseq
        self.flow = flow
        self.registered_at = registered_at
        self.q = q
        self.instance = instance
        self.reg_id = reg_id
        self.user_agent = user_agent

    @property
    def key(self) -> str:
        """The identity used to match re-registrations (RFC 5626 §6, RFC 3261 §10.3)."""
        return binding_key(self.uri, self.instance, self.reg_id)

    @property
    def target(self) -> Flow:
        """Where requests to this contact go.

        Over TCP/TLS, and for RFC 5626 outbound bindings, the flow the device
        registered on (it can't take connections).  Over UDP, the Contact
        address (RFC 3261 §10, §8.1.2), except when it is a private address
        and the REGISTER came from a public one: the device is behind a NAT
        and only its source address reaches it.
        """
        flow = self.flow
        if flow.transport.reliable or self.reg_id is not None or not isinstance(self.uri, SipUri):
            return flow
        try:
            contact_ip = ipaddress.ip_address(self.uri.host.strip("[]"))
            source_ip = ipaddress.ip_address(flow.remote[0].strip("[]"))
        except ValueError:
            return flow
        if contact_ip != source_ip and any(contact_ip in net for net in _NAT_RANGES):
            return flow
        port = self.uri.port or 5060
        if (str(contact_ip), port) == flow.remote:
            return flow
        return Flow(flow.transport, flow.local, (str(contact_ip), port))

    def remaining(self, now: float) -> int:
        """Whole seconds left (at least 0)."""
        return max(0, int(self.expires_at - now + 0.5))


def binding_key(uri: Uri, instance: str | None, reg_id: int | None) -> str:
    """Same key → same binding: the instance and reg-id, else the comparable URI."""
    if instance is not None:
        return f"instance:{instance}:{reg_id if reg_id is not None else ''}"
    return "uri:" + comparable_uri(uri)


def comparable_uri(uri: Uri) -> str:
    """A string equal for URIs that RFC 3261 §19.1.4 calls equal, in the common cases.

    Scheme and host are case-insensitive, the user part is not; parameters
    are compared by name case-insensitively and in any order.
    """
    if not isinstance(uri, SipUri):
        return str(uri).lower()
    params = ";".join(f"{k.lower()}={(v or '').lower()}" for k, v in sorted(uri.params.items()))
    user = "" if uri.user is None else uri.user + "@"
    port = "" if uri.port is None else f":{uri.port}"
    return f"{uri.scheme}:{user}{uri.host.lower()}{port};{params}"


#: Addresses that only mean something behind a NAT (RFC 1918, RFC 6598, RFC 4193, link-local).
_NAT_RANGES = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
)


class Location:
    """Bindings by address of record, with lazy expiry."""

    def __init__(self) -> None:
        self._by_aor: dict[str, dict[str, Binding]] = {}

    def __len__(self) -> int:
        return sum(len(bindings) for bindings in self._by_aor.values())

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Live bindings of ``aor``, highest q first, then most recent."""
        bindings = self._by_aor.get(aor)
        if not bindings:
            return []
        live = [b for b in bindings.values() if b.expires_at > now]
        live.sort(key=lambda b: (-(b.q if b.q is not None else 1.0), -b.registered_at))
        return live

    def bindings(self, aor: str) -> dict[str, Binding]:
        """The binding table of ``aor`` (live and not yet purged), by key."""
        return self._by_aor.get(aor, {})

    def put(self, binding: Binding, key: str | None = None) -> Binding | None:
        """Add or replace ``binding`` (``key``: its :attr:`Binding.key`, if known); returns the
        one it replaced."""
        table = self._by_aor.setdefault(binding.aor, {})
        key = binding.key if key is None else key
        old = table.get(key)
        table[key] = binding
        return old

    def remove(self, aor: str, key: str) -> Binding | None:
        """Remove one binding; returns it."""
        table = self._by_aor.get(aor)
        if table is None:
            return None
        binding = table.pop(key, None)
        if not table:
            del self._by_aor[aor]
        return binding

    def remove_all(self, aor: str) -> list[Binding]:
        """Remove every binding of ``aor``; returns them."""
        return list(self._by_aor.pop(aor, {}).values())

    def purge(self, now: float) -> list[Binding]:
        """Drop every expired binding; returns them (the store deletes them too)."""
        gone: list[Binding] = []
        for aor in list(self._by_aor):
            table = self._by_aor[aor]
            for key in [k for k, b in table.items() if b.expires_at <= now]:
                gone.append(table.pop(key))
            if not table:
                del self._by_aor[aor]
        return gone

    def restore(self, bindings: list[Binding], now: float) -> int:
        """Load bindings back after a restart; expired ones are skipped.  Returns the count."""
        count = 0
        for binding in bindings:
            if binding.expires_at > now:
                self.put(binding)
                count += 1
        return count

    def __iter__(self) -> Iterator[Binding]:
        for table in self._by_aor.values():
            yield from table.values()
