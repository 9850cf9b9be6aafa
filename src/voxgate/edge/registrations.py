"""The registration relay (EDGE-1, AUTH-1…AUTH-4): two credential levels, device admission.

A remote device registers with the edge as a SIP user (level 1: its own
digest credential, the edge's realm).  The edge then checks the device: its
MAC comes only from the encrypted channel (TLS client certificate,
``+sip.instance`` or the User-Agent, :mod:`voxgate.policy.devices`); an unknown
device is reported to ``learn`` (the service layer stores it *disabled*) and
refused, a disabled one refused, an enabled one let through.  The edge then
registers the user's extension with the call control from its own LAN side,
answering the call control's challenge with the user's level-2 credential, and
answers the device with what the call control granted.

Topology hiding: the call control sees only the edge (its Via, a Contact of the
form ``sip:<token>@<edge LAN address>``, its own Call-ID per device binding); the
device sees only the edge.  The token finds the device binding again when the
call control sends a request to that Contact.

Pure and sans-I/O like the call control: it answers through a :class:`UaPort`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Final

from voxgate.edge.notes import DeviceSeen, Refusal, RegistrationNote
from voxgate.edge.relaystate import (
    DeviceBinding,
    Pending,
    RelayPolicy,
    RelayStats,
    UaPort,
    Upstream,
)
from voxgate.edge.users import SipUser, UserDirectory
from voxgate.policy.devices import Admission, DeviceIdentity, DeviceTable, identify
from voxgate.sip.actions import TransactionKey
from voxgate.sip.b2bua import host_port, new_branch
from voxgate.sip.digest import (
    AuthResult,
    DigestServer,
    answer,
    challenges_from,
    credentials_from,
    select_challenge,
)
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.headers import NameAddr
from voxgate.sip.message import Headers, Request, Response, make_response
from voxgate.sip.uri import SipUri

log = logging.getLogger(__name__)

_INSTANCE: Final = "+sip.instance"


def _ignore(seen: DeviceSeen) -> None:
    del seen


def _ignore_note(note: RegistrationNote) -> None:
    del note


def _no_failure(source: str, detail: str) -> None:
    del source, detail


def _always() -> bool:
    return True


def _no_certificate(flow: Flow) -> Mapping[str, object] | None:
    del flow
    return None


class RegistrationRelay:
    """Device REGISTERs in, call-control REGISTERs out."""

    def __init__(
        self,
        ua: UaPort,
        digest: DigestServer,
        upstream: Upstream,
        *,
        users: UserDirectory | None = None,
        devices: DeviceTable | None = None,
        policy: RelayPolicy | None = None,
        certificate: Callable[[Flow], Mapping[str, object] | None] = _no_certificate,
        learn: Callable[[DeviceSeen], None] = _ignore,
        auth_failed: Callable[[str, str], None] = _no_failure,
    ) -> None:
        self.ua = ua
        self.digest = digest
        self.upstream = upstream
        self.users = users or UserDirectory()
        self.devices = devices or DeviceTable()
        self.policy = policy or RelayPolicy()
        self.certificate = certificate
        self.learn = learn
        self.auth_failed = auth_failed
        #: Told of every registration, unregistration and refusal (the registration log).
        self.noted: Callable[[RegistrationNote], None] = _ignore_note
        self.stats = RelayStats()
        #: Whether the call control can be reached now (a TCP/TLS upstream whose connection is
        #: down answers devices 503 at once instead of letting them wait for a timeout).
        self.upstream_ready: Callable[[], bool] = _always
        #: Device bindings by token, and the token of each (username, device contact key).
        self.bindings: dict[str, DeviceBinding] = {}
        self._by_device: dict[tuple[str, str], str] = {}
        self._by_user: dict[str, set[str]] = {}
        #: Bindings whose first REGISTER is still on its way to the call control.
        self._starting: dict[str, DeviceBinding] = {}
        self._pending: dict[TransactionKey, Pending] = {}

    # -- device side ----------------------------------------------------------------------
    def register(self, key: TransactionKey, request: Request, flow: Flow, now: float) -> None:
        """A REGISTER from a device (RFC 3261 §10.3, relayed)."""
        credentials = credentials_from(request, self.digest.realm, proxy=False)
        if credentials is None:
            self._challenge(key, request, now, stale=False)
            return
        verdict = self.digest.verify("REGISTER", str(request.uri), credentials,
                                     self.users.ha1, now)  # fmt: skip
        if verdict is AuthResult.STALE:
            self._challenge(key, request, now, stale=True)
            return
        to_uri = request.to.uri
        aor = to_uri.user if isinstance(to_uri, SipUri) else None
        user = self.users.get(credentials.username)
        user_agent = request.headers.get("User-Agent")
        if verdict is AuthResult.FAILED or user is None or aor != credentials.username:
            self._refuse(key, request, flow, Refusal.BAD_CREDENTIALS, now,
                         username=credentials.username, extension=user.extension if user else "",
                         algorithm=credentials.algorithm, user_agent=user_agent)  # fmt: skip
            self.auth_failed(flow.remote[0], f"REGISTER as {credentials.username!r}")
            return
        if request.contact_star:
            self._unregister_all(key, request, user, now)
            return
        contacts = request.contacts
        if len(contacts) != 1:
            self._reply(key, request, 400, now, "One Contact per REGISTER")
            return
        contact = contacts[0]
        if not isinstance(contact.uri, SipUri):
            self._reply(key, request, 416, now)
            return
        instance = contact.params.get(_INSTANCE)
        identity = self._identify(flow, instance, user_agent)
        refusal = self._admit(user, identity, flow, user_agent)
        if refusal is not None:
            self._refuse(key, request, flow, refusal, now, username=user.username,
                         extension=user.extension, algorithm=credentials.algorithm,
                         user_agent=user_agent, mac=identity.mac if identity else None,
                         instance=instance)  # fmt: skip
            return
        expires = self._expires(request, contact, flow)
        if not self.upstream_ready():
            self.unavailable(key, request, now)
            return
        if 0 < expires < self.policy.min_expires:
            response = self._response(request, 423)
            response.headers.add("Min-Expires", str(self.policy.min_expires))
            self.ua.respond(key, response, now)
            return
        self._relay(key, request, flow, user=user, contact=contact, identity=identity,
                    instance=instance, user_agent=user_agent, expires=expires, now=now,
                    algorithm=credentials.algorithm)  # fmt: skip

    def _identify(
        self, flow: Flow, instance: str | None, user_agent: str | None
    ) -> DeviceIdentity | None:
        if not flow.transport.secure:
            return None  # AUTH-1: identity is learned from the encrypted channel only
        pattern = self.policy.user_agent_pattern
        return identify(self.certificate(flow), instance, user_agent, pattern)

    def _admit(
        self, user: SipUser, identity: DeviceIdentity | None, flow: Flow, user_agent: str | None
    ) -> Refusal | None:
        if identity is None:
            if self.policy.require_device or user.device_mac is not None:
                return Refusal.NO_IDENTITY
            return None
        if user.device_mac is not None and user.device_mac != identity.mac:
            return Refusal.WRONG_DEVICE
        admission = self.devices.admission(identity.mac)
        admitted = admission is Admission.ENABLED or not self.policy.require_device
        self.learn(DeviceSeen(identity, flow.remote[0], user_agent, user.username, admitted))
        if admitted:
            return None
        return Refusal.UNKNOWN_DEVICE if admission is Admission.UNKNOWN else Refusal.DISABLED_DEVICE

    def _expires(self, request: Request, contact: NameAddr, flow: Flow) -> int:
        policy = self.policy
        text = contact.params.get("expires") or request.headers.get("Expires")
        try:
            requested = int(text) if text is not None else policy.default_expires
        except ValueError:
            requested = policy.default_expires
        requested = max(requested, 0)
        ceiling = policy.udp_max_expires if flow.transport is Transport.UDP else (
            policy.stream_max_expires
        )  # fmt: skip
        return min(requested, ceiling)

    def _relay(
        self, key: TransactionKey, request: Request, flow: Flow, *, user: SipUser,
        contact: NameAddr, identity: DeviceIdentity | None, instance: str | None,
        user_agent: str | None, expires: int, now: float, algorithm: str,
    ) -> None:  # fmt: skip
        uri = contact.sip_uri
        device_key = (user.username, instance or str(uri))
        token = self._by_device.get(device_key)
        binding = None
        if token is not None:
            binding = self.bindings.get(token) or self._starting.get(token)
        new = binding is None or token in self._starting
        if binding is not None and binding.in_flight is not None:
            binding.in_flight.waiters.append((key, request))  # answered with the one in flight
            return
        if binding is None:
            if expires == 0:  # unregistering what is not registered: nothing to relay
                self.ua.respond(key, self._response(request, 200), now)
                return
            token = secrets.token_hex(8)
            binding = DeviceBinding(
                token=token, user=user, contact=str(uri), uri=uri, flow=flow,
                mac=identity.mac if identity else None, instance=instance, expires_at=now,
                upstream_call_id=secrets.token_hex(16), upstream_cseq=0, user_agent=user_agent,
            )  # fmt: skip
            self._starting[token] = binding  # a second REGISTER meanwhile finds this one
            self._by_device[device_key] = token
        upstream = self._upstream_register(binding, expires)
        sent = self.ua.send_request(upstream, self.upstream.flow, now)
        pending = Pending(key, request, binding, expires, new)
        self._pending[sent] = pending
        binding.in_flight = pending
        # the flow and contact the device uses now (a new NAT mapping or connection)
        binding.flow, binding.contact, binding.uri = flow, str(uri), uri
        binding.user, binding.user_agent, binding.algorithm = user, user_agent, algorithm

    def _unregister_all(
        self, key: TransactionKey, request: Request, user: SipUser, now: float
    ) -> None:
        if request.headers.get("Expires") != "0" or len(request.headers.get_all("Contact")) != 1:
            self._reply(key, request, 400, now, "Invalid Contact *")
            return
        mine = self.of_user(user.username)
        for binding in mine:
            sent = self.ua.send_request(self._upstream_register(binding, 0), self.upstream.flow,
                                        now)  # fmt: skip
            self._pending[sent] = Pending(key, request, binding, 0, False)
            key = _ANSWERED  # only the first relayed answer goes back to the device
        if not mine:
            self.ua.respond(key, self._response(request, 200), now)

    # -- call-control side ----------------------------------------------------------------
    def _upstream_register(self, binding: DeviceBinding, expires: int) -> Request:
        upstream = self.upstream
        binding.upstream_cseq += 1
        ext = binding.user.upstream_username
        aor = f"sip:{ext}@{upstream.domain}"
        flow = upstream.flow
        host = self.upstream_sent_by()
        udp = flow.transport is Transport.UDP
        transport = "" if udp else f";transport={flow.transport.lower()}"
        headers = Headers.of([
            ("Via", f"SIP/2.0/{flow.transport.value} {host};branch={new_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<{aor}>;tag={binding.token}"),
            ("To", f"<{aor}>"),
            ("Call-ID", binding.upstream_call_id),
            ("CSeq", f"{binding.upstream_cseq} REGISTER"),
            ("Contact", f"<sip:{binding.token}@{host}{transport}>;expires={expires}"),
            ("Expires", str(expires)),
            ("User-Agent", self.policy.server_name),
        ])  # fmt: skip
        return Request("REGISTER", f"sip:{upstream.domain}", headers)

    def response(self, key: TransactionKey, response: Response, now: float) -> bool:
        """A response on a client transaction; ``False`` if it is not one of ours."""
        pending = self._pending.get(key)
        if pending is None:
            return False
        status = response.status
        if status < 200:
            return True
        del self._pending[key]
        if status in (401, 407) and not pending.challenged:
            self._answer_challenge(pending, response, now)
        elif 200 <= status < 300:
            self._registered(pending, response, now)
        else:
            self._upstream_failed(pending, response, now)
        return True

    def timed_out(self, key: TransactionKey, now: float) -> bool:
        """A client transaction timed out; ``False`` if it is not one of ours."""
        pending = self._pending.pop(key, None)
        if pending is None:
            return False
        self.stats.upstream_failures += 1
        if pending.new:
            self._forget(pending.binding)
        log.warning("the call control did not answer a REGISTER for %s",
                    pending.binding.user.username)  # fmt: skip
        self._to_device(pending, self._response(pending.device_request, 504), now)
        return True

    def _answer_challenge(self, pending: Pending, response: Response, now: float) -> None:
        proxy = response.status == 407
        challenge = select_challenge(challenges_from(response, proxy=proxy))
        binding = pending.binding
        if challenge is None:
            self._upstream_failed(pending, response, now)
            return
        request = self._upstream_register(binding, pending.expires)
        credentials = answer(
            challenge, "REGISTER", str(request.uri), binding.user.upstream_username,
            password=binding.user.upstream_secret, cnonce=secrets.token_hex(8),
        )  # fmt: skip
        request.headers.add("Proxy-Authorization" if proxy else "Authorization", str(credentials))
        sent = self.ua.send_request(request, self.upstream.flow, now)
        pending.challenged = True
        self._pending[sent] = pending

    def _registered(self, pending: Pending, response: Response, now: float) -> None:
        binding = pending.binding
        granted = _granted(response, binding.token, pending.expires)
        request = pending.device_request
        ok = self._response(request, 200)
        if granted > 0:
            binding.expires_at = now + granted
            self.bindings[binding.token] = binding
            self._by_device[(binding.user.username, binding.instance or binding.contact)] = (
                binding.token
            )
            self._by_user.setdefault(binding.user.username, set()).add(binding.token)
            contact = request.contacts[0] if request.contacts else None
            params = f";{_INSTANCE}={contact.params[_INSTANCE]}" if (
                contact is not None and contact.params.get(_INSTANCE)
            ) else ""  # fmt: skip
            ok.headers.add("Contact", f"<{binding.contact}>;expires={granted}{params}")
            if pending.new:
                self.stats.registered += 1
                log.info("registered %s (extension %s) from %s", binding.user.username,
                         binding.user.extension, binding.flow)  # fmt: skip
            source = f"{binding.flow.transport} {binding.flow.remote}"
            if source != binding.noted_source:  # new, or moved (another NAT mapping)
                binding.noted_source = source
                self._note(binding, "registered", None, now)
        else:
            self._forget(binding)
            self._note(binding, "unregistered", None, now)
        self._to_device(pending, ok, now)

    def _note(self, binding: DeviceBinding, outcome: str, reason: str | None, now: float) -> None:
        self.noted(RegistrationNote(
            now, binding.user.username, binding.user.extension, binding.flow, binding.mac,
            binding.instance, binding.user_agent, binding.algorithm, outcome, reason,
        ))  # fmt: skip

    def _upstream_failed(self, pending: Pending, response: Response, now: float) -> None:
        status = response.status
        request = pending.device_request
        if status in (401, 403, 407):
            self.stats.upstream_failures += 1
            user = pending.binding.user
            log.error("the call control refused the level-2 credential of %s (extension %s): "
                      "%d %s", user.username, user.upstream_username, status,
                      response.reason)  # fmt: skip
            out = self._response(request, 403)
        elif status == 423:
            out = self._response(request, 423)
            minimum = response.headers.get("Min-Expires")
            if minimum is not None:
                out.headers.add("Min-Expires", minimum)
        else:
            out = self._response(request, status if status < 600 else 503)
        if pending.new:
            self._forget(pending.binding)
        self._to_device(pending, out, now)

    def _to_device(self, pending: Pending, response: Response, now: float) -> None:
        binding = pending.binding
        if binding.in_flight is pending:
            binding.in_flight = None
        if self._starting.get(binding.token) is binding:
            del self._starting[binding.token]
            if binding.token not in self.bindings:  # refused: forget its device key too
                self._forget(binding)
        if pending.device_key is not _ANSWERED:
            self.ua.respond(pending.device_key, response, now)
        for key, request in pending.waiters:
            again = self._response(request, response.status, response.reason)
            for name in ("Contact", "Min-Expires", "Retry-After"):
                for value in response.headers.fields(name):
                    again.headers.add(name, value)
            self.ua.respond(key, again, now)

    # -- bindings -------------------------------------------------------------------------
    def lookup(self, token: str, now: float) -> DeviceBinding | None:
        """The live device binding behind a Contact token the call control sent to."""
        binding = self.bindings.get(token)
        if binding is None or binding.expires_at <= now:
            return None
        return binding

    def connection_lost(self, flow: Flow, now: float) -> list[DeviceBinding]:
        """A device's TCP/TLS connection closed: its registrations on it end now (RFC 5626
        §4.4: a flow that failed is not used again), and the call control is told."""
        gone = [
            b for b in self.bindings.values()
            if b.flow.connection == flow.connection and b.flow.transport is flow.transport
        ]  # fmt: skip
        for binding in gone:
            self._forget(binding)
            self._note(binding, "unregistered", "connection closed", now)
            request = self._upstream_register(binding, 0)
            sent = self.ua.send_request(request, self.upstream.flow, now)
            self._pending[sent] = Pending(_ANSWERED, request, binding, 0, False)
            log.info("%s's connection closed: unregistered", binding.user.username,
                     extra={"flow": str(flow)})  # fmt: skip
        return gone

    def purge(self, now: float) -> list[DeviceBinding]:
        """Forget bindings that expired (the call control's expire with them)."""
        gone = [b for b in self.bindings.values() if b.expires_at <= now]
        for binding in gone:
            self._forget(binding)
        return gone

    def of_user(self, username: str) -> list[DeviceBinding]:
        """The bindings of one SIP user (live or not yet purged)."""
        return [self.bindings[t] for t in self._by_user.get(username, ()) if t in self.bindings]

    def _forget(self, binding: DeviceBinding) -> None:
        self.bindings.pop(binding.token, None)
        tokens = self._by_user.get(binding.user.username)
        if tokens is not None:
            tokens.discard(binding.token)
            if not tokens:
                del self._by_user[binding.user.username]
        device_key = (binding.user.username, binding.instance or binding.contact)
        if self._by_device.get(device_key) == binding.token:
            del self._by_device[device_key]

    def upstream_sent_by(self) -> str:
        """The host:port the call control sees in the edge's Via and Contact."""
        local = self.upstream.flow.local
        policy = self.policy
        if policy.public_upstream and policy.public_host:
            return host_port((policy.public_host, local[1]))
        return host_port(local)

    # -- answers --------------------------------------------------------------------------
    def unavailable(self, key: TransactionKey, request: Request, now: float) -> None:
        """503 with Retry-After: the call control cannot be reached right now."""
        response = self._response(request, 503, "Call control unreachable")
        response.headers.add("Retry-After", "30")
        self.ua.respond(key, response, now)

    def _refuse(
        self, key: TransactionKey, request: Request, flow: Flow, refusal: Refusal, now: float, *,
        username: str, extension: str, algorithm: str, user_agent: str | None,
        mac: str | None = None, instance: str | None = None,
    ) -> None:  # fmt: skip
        """403 for every refusal: the device learns nothing about which check failed."""
        self.noted(RegistrationNote(now, username, extension, flow, mac, instance, user_agent,
                                    algorithm, "refused", refusal.value))  # fmt: skip
        self.stats.refused[refusal.value] = self.stats.refused.get(refusal.value, 0) + 1
        log.info("registration refused: %s", refusal.value, extra={"flow": str(flow)})
        self.ua.respond(key, self._response(request, 403), now)

    def _challenge(self, key: TransactionKey, request: Request, now: float, *, stale: bool) -> None:
        response = self._response(request, 401)
        for challenge in self.digest.challenge(now, stale=stale):
            response.headers.add("WWW-Authenticate", str(challenge))
        self.ua.respond(key, response, now)

    def _reply(
        self, key: TransactionKey, request: Request, status: int, now: float,
        reason: str | None = None,
    ) -> None:  # fmt: skip
        self.ua.respond(key, self._response(request, status, reason), now)

    def _response(self, request: Request, status: int, reason: str | None = None) -> Response:
        response = make_response(request, status, reason, to_tag=secrets.token_hex(6))
        response.headers.add("Server", self.policy.server_name)
        return response


#: Marks a device transaction already answered (``*`` relayed as several REGISTERs).
_ANSWERED: Final = TransactionKey("", "", "", server=True)


def _granted(response: Response, token: str, asked: int) -> int:
    """The expiry the call control granted our Contact (RFC 3261 §10.2.4)."""
    for contact in response.contacts:
        uri = contact.uri
        if isinstance(uri, SipUri) and uri.user == token:
            text = contact.params.get("expires")
            if text is not None and text.isdigit():
                return int(text)
    text = response.headers.get("Expires")
    if text is not None and text.isdigit():
        return int(text)
    return 0 if asked == 0 or response.contacts == [] else asked


