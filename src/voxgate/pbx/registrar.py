"""The registrar (RFC 3261 §10.3, RFC 5626 §6): digest-authenticated REGISTER.

Pure: :meth:`Registrar.register` takes a REGISTER, the flow it came on and the
wall-clock time, changes the in-memory :class:`~voxgate.pbx.location.Location`
and returns the response with what changed, for the service layer to persist.

Unknown numbers, disabled extensions and wrong secrets all get the same 403
after the same challenge: a party without a valid secret can't tell which
extensions exist (issue 3, NET-2).
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from typing import Final

from voxgate.pbx.directory import Directory
from voxgate.pbx.location import Binding, Location, binding_key
from voxgate.sip.digest import AuthResult, DigestServer, credentials_from
from voxgate.sip.errors import ParseError
from voxgate.sip.flow import Flow
from voxgate.sip.headers import NameAddr
from voxgate.sip.message import Request, Response, make_response
from voxgate.sip.uri import SipUri


@dataclass(frozen=True, slots=True)
class RegistrarPolicy:
    """Expiry bounds and contact limits (``[pbx]`` in the config)."""

    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 600
    max_contacts: int = 5


@dataclass(frozen=True, slots=True, init=False)
class RegistrationEvent:
    """Who registered what from where (AUTH-6): recorded for every new binding, every change
    of a binding's device, address or transport, every removal and every refusal.  (A refresh
    from the same device and address updates the binding row, which holds the same facts.)"""

    at: float
    extension: str
    flow: Flow
    credential: str
    algorithm: str
    outcome: str  # "registered" | "unregistered" | "refused"
    reason: str | None = None
    instance: str | None = None
    user_agent: str | None = None

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        at: float,
        extension: str,
        flow: Flow,
        credential: str,
        algorithm: str,
        outcome: str,
        reason: str | None = None,
        instance: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "extension", extension)
        object.__setattr__(self, "flow", flow)
        object.__setattr__(self, "credential", credential)
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "instance", instance)
        object.__setattr__(self, "user_agent", user_agent)


@dataclass(frozen=True, slots=True, init=False)
class _Context:
    """One authenticated REGISTER being applied."""

    request: Request
    flow: Flow
    now: float
    aor: str
    username: str
    algorithm: str
    user_agent: str | None

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        request: Request,
        flow: Flow,
        now: float,
        aor: str,
        username: str,
        algorithm: str,
        user_agent: str | None,
    ) -> None:
        object.__setattr__(self, "request", request)
        object.__setattr__(self, "flow", flow)
        object.__setattr__(self, "now", now)
        object.__setattr__(self, "aor", aor)
        object.__setattr__(self, "username", username)
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "user_agent", user_agent)


@dataclass(slots=True, init=False)
class RegisterResult:
    """The response and the changes to persist."""

    response: Response
    saved: list[Binding] = field(default_factory=list)
    removed: list[Binding] = field(default_factory=list)
    event: RegistrationEvent | None = None
    #: Whether a binding is new or its device, address or transport changed (a plain
    #: refresh from the same device and address is not worth an event row).
    news: bool = False
    #: Whether a binding is new or now routes elsewhere (Contact URI, flow, instance, reg-id
    #: or q changed).  When neither this nor ``removed`` is set, only expiry times moved:
    #: the answer need not wait for the store (a crash keeps the previous expiry).
    moved: bool = False
    #: A challenge: answered statelessly, the server transaction forgotten at once.
    challenge: bool = False

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        response: Response,
        saved: list[Binding] | None = None,
        removed: list[Binding] | None = None,
        event: RegistrationEvent | None = None,
        news: bool = False,
        moved: bool = False,
        challenge: bool = False,
    ) -> None:
        self.response = response
        self.saved = [] if saved is None else saved
        self.removed = [] if removed is None else removed
        self.event = event
        self.news = news
        self.moved = moved
        self.challenge = challenge

    @property
    def must_wait(self) -> bool:
        """Whether the answer must wait until the store has the change."""
        return self.moved or bool(self.removed)


#: Contact header parameters that are not part of the binding's URI.
_INSTANCE: Final = "+sip.instance"


class Registrar:
    """Answers REGISTER for the extensions of a :class:`Directory`."""

    def __init__(
        self,
        location: Location,
        digest: DigestServer,
        directory: Directory,
        policy: RegistrarPolicy | None = None,
        *,
        server_name: str = "voxgate",
    ) -> None:
        self.location = location
        self.digest = digest
        self.directory = directory
        self.policy = policy or RegistrarPolicy()
        self.server_name = server_name

    def register(self, request: Request, flow: Flow, now: float, to_tag: str) -> RegisterResult:
        """Handle one REGISTER (RFC 3261 §10.3 steps 1-8)."""
        credentials = credentials_from(request, self.digest.realm, proxy=False)
        if credentials is None:
            return RegisterResult(self._challenge(request, now, to_tag, stale=False),
                                  challenge=True)  # fmt: skip
        result = self.digest.verify(
            "REGISTER", str(request.uri), credentials, self.directory.ha1, now
        )
        to_uri = request.to.uri
        aor = to_uri.user if isinstance(to_uri, SipUri) else None
        user_agent = request.headers.get("User-Agent")
        if result is AuthResult.STALE:
            return RegisterResult(self._challenge(request, now, to_tag, stale=True),
                                  challenge=True)  # fmt: skip
        if result is AuthResult.FAILED or aor != credentials.username:
            reason = "bad credentials" if result is AuthResult.FAILED else "To is not the user"
            return RegisterResult(
                self._answer(request, 403, to_tag),
                event=RegistrationEvent(
                    now, aor or "", flow, credentials.username, credentials.algorithm,
                    "refused", reason, None, user_agent,
                ),
            )  # fmt: skip
        assert aor is not None
        ctx = _Context(request, flow, now, aor, credentials.username, credentials.algorithm,
                       user_agent)  # fmt: skip
        try:
            return self._update(ctx, self._answer(request, 200, to_tag))
        except ParseError as err:
            return RegisterResult(self._answer(request, 400, to_tag, err.reason))

    # -- RFC 3261 §10.3 steps 6-8 -----------------------------------------------------------
    def _update(self, ctx: _Context, ok: Response) -> RegisterResult:
        request, now, aor = ctx.request, ctx.now, ctx.aor
        to_tag = ok.to.tag or ""
        policy = self.policy
        header_expires = _int_header(request, "Expires")
        call_id = request.call_id
        cseq = request.cseq.seq
        result = RegisterResult(ok)
        if request.contact_star:
            if header_expires != 0 or len(request.headers.get_all("Contact")) != 1:
                return RegisterResult(self._answer(request, 400, to_tag, "Invalid Contact *"))
            for binding in self.location.bindings(aor).values():
                if binding.call_id == call_id and cseq <= binding.cseq:
                    return RegisterResult(self._answer(request, 500, to_tag, "Out of order"))
            result.removed = self.location.remove_all(aor)
        else:
            for contact in request.contacts:
                expires = _contact_expires(contact, header_expires, policy.default_expires)
                if 0 < expires < policy.min_expires:
                    response = self._answer(request, 423, to_tag)
                    response.headers.add("Min-Expires", str(policy.min_expires))
                    return RegisterResult(response)
            existing = self.location.bindings(aor)
            for contact in request.contacts:
                instance = _instance(contact)
                reg_id = _reg_id(contact)
                key = binding_key(contact.uri, instance, reg_id)
                old = existing.get(key)
                if old is not None and old.call_id == call_id and cseq <= old.cseq:
                    return RegisterResult(self._answer(request, 500, to_tag, "Out of order"))
            for contact in request.contacts:
                self._apply_contact(ctx, contact, header_expires, result)
            self._enforce_limit(aor, result)
        bindings = self.location.lookup(aor, now)
        response = result.response
        for binding in bindings:
            response.headers.add("Contact", f"<{binding.contact}>;expires={binding.remaining(now)}")
        if any(b.reg_id is not None for b in result.saved) and _supports(request, "outbound"):
            response.headers.add("Require", "outbound")
        response.headers.add("Date", _http_date(now))
        if not (result.news or result.removed):
            return result  # a refresh: the binding row is updated, no event row
        outcome = "registered" if bindings else "unregistered"
        instance = next((b.instance for b in result.saved if b.instance), None)
        result.event = RegistrationEvent(
            now,
            aor,
            ctx.flow,
            ctx.username,
            ctx.algorithm,
            outcome,
            None,
            instance,
            ctx.user_agent,
        )
        return result

    def _apply_contact(
        self, ctx: _Context, contact: NameAddr, header_expires: int | None,
        result: RegisterResult,
    ) -> None:  # fmt: skip
        request, now, aor = ctx.request, ctx.now, ctx.aor
        policy = self.policy
        expires = min(
            _contact_expires(contact, header_expires, policy.default_expires), policy.max_expires
        )
        instance = _instance(contact)
        reg_id = _reg_id(contact)
        text = str(contact.uri)
        key = binding_key(contact.uri, instance, reg_id)
        if expires == 0:
            gone = self.location.remove(aor, key)
            if gone is not None:
                result.removed.append(gone)
            return
        q_text = contact.params.get("q")
        binding = Binding(
            aor=aor, contact=text, uri=contact.uri, expires_at=now + expires,
            call_id=request.call_id, cseq=request.cseq.seq, flow=ctx.flow, registered_at=now,
            q=_q(q_text), instance=instance, reg_id=reg_id, user_agent=ctx.user_agent,
        )  # fmt: skip
        old = self.location.put(binding, key)
        if old is not None and old.contact != binding.contact:
            result.removed.append(old)  # same instance, new Contact URI: the old row goes
        result.saved.append(binding)
        if old is None or (old.contact, old.flow, old.instance, old.reg_id, old.q) != (
            binding.contact, binding.flow, binding.instance, binding.reg_id, binding.q
        ):
            result.moved = True
        if old is None or (
            old.flow.transport,
            old.flow.remote[0],
            old.instance,
            old.user_agent,
        ) != (binding.flow.transport, binding.flow.remote[0], binding.instance, binding.user_agent):
            result.news = True

    def _enforce_limit(self, aor: str, result: RegisterResult) -> None:
        """Over the limit, the oldest bindings go (a phone behind a new NAT address leaves
        its stale binding behind; refusing the new one would lock it out)."""
        ext = self.directory.get(aor)
        limit = ext.max_contacts if ext is not None and ext.max_contacts else None
        limit = limit or self.policy.max_contacts
        table = self.location.bindings(aor)
        if len(table) <= limit:
            return
        for binding in sorted(table.values(), key=lambda b: b.registered_at)[: len(table) - limit]:
            gone = self.location.remove(aor, binding.key)
            if gone is not None:
                result.removed.append(gone)
                if gone in result.saved:
                    result.saved.remove(gone)

    # -- responses ------------------------------------------------------------------------
    def _challenge(self, request: Request, now: float, to_tag: str, *, stale: bool) -> Response:
        response = self._answer(request, 401, to_tag)
        for challenge in self.digest.challenge(now, stale=stale):
            response.headers.add("WWW-Authenticate", str(challenge))
        return response

    def _answer(
        self, request: Request, status: int, to_tag: str, reason: str | None = None
    ) -> Response:
        response = make_response(request, status, reason, to_tag=to_tag)
        response.headers.add("Server", self.server_name)
        return response


_last_date: tuple[int, str] = (-1, "")


def _http_date(now: float) -> str:
    """The Date header value (RFC 3261 §20.17), formatted once per second."""
    global _last_date  # noqa: PLW0603 - a one-entry cache; formatting costs ~15 µs
    second = int(now)
    if _last_date[0] != second:
        _last_date = (second, email.utils.formatdate(second, usegmt=True))
    return _last_date[1]


def _int_header(request: Request, name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 10:
        raise ParseError(f"Bad {name} header", detail=value[:20])
    return int(value)


def _contact_expires(contact: NameAddr, header: int | None, default: int) -> int:
    text = contact.params.get("expires")
    if text is not None:
        if not text.isdigit() or len(text) > 10:
            raise ParseError("Bad Contact expires", detail=text[:20])
        return int(text)
    return header if header is not None else default


def _instance(contact: NameAddr) -> str | None:
    """The ``+sip.instance`` value without its quotes (RFC 5626 §4.1)."""
    text = contact.params.get(_INSTANCE)
    if text is None:
        return None
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _reg_id(contact: NameAddr) -> int | None:
    text = contact.params.get("reg-id")
    if text is None:
        return None
    if not text.isdigit() or len(text) > 10:
        raise ParseError("Bad Contact reg-id", detail=text[:20])
    return int(text)


def _q(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        q = float(text)
    except ValueError:
        raise ParseError("Bad Contact q", detail=text[:20]) from None
    if not 0.0 <= q <= 1.0:
        raise ParseError("Bad Contact q", detail=text[:20])
    return q


def _supports(request: Request, option: str) -> bool:
    return any(
        option == o.strip().lower()
        for value in request.headers.get_all("Supported")
        for o in value.split(",")
    )
