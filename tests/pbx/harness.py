"""A sans-I/O test bench for the call control: simulated phones exchanging bytes with a
:class:`PbxCore` through a real :class:`Endpoint`, on a fake clock."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from voxgate.pbx.callstate import CallPolicy, CallRecord
from voxgate.pbx.core import PbxCore
from voxgate.pbx.directory import Directory, Extension
from voxgate.pbx.location import Binding
from voxgate.pbx.registrar import RegistrarPolicy, RegistrationEvent
from voxgate.sip.digest import DigestServer, answer, challenges_from, ha1, select_challenge
from voxgate.sip.endpoint import Endpoint
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.message import Request, Response
from voxgate.sip.parser import parse_message

REALM = "voxgate"
PBX = ("127.0.0.1", 5060)
_ids = itertools.count(1)


def extension(number: str, secret: str, **kw: object) -> Extension:
    return Extension(
        number,
        ha1={a: ha1(a, number, REALM, secret) for a in ("MD5", "SHA-256")},
        **kw,  # type: ignore[arg-type]
    )


@dataclass
class Bench:
    """The PBX with its clock, and every record and persisted change."""

    core: PbxCore
    now: float = 1000.0
    records: list[CallRecord] = field(default_factory=list)
    saved: list[Binding] = field(default_factory=list)
    removed: list[Binding] = field(default_factory=list)
    events: list[RegistrationEvent] = field(default_factory=list)
    #: Deferred answers (the store has not committed yet) when ``hold`` is set.
    held: list[Callable[[float], None]] = field(default_factory=list)
    hold: bool = False
    wire: list[tuple[bytes, Flow]] = field(default_factory=list)

    def deliver(self, data: bytes, flow: Flow) -> None:
        self.core.receive(data, flow, self.now)
        self.flush()

    def flush(self) -> None:
        while self.core.next_event() is not None:
            pass
        self.wire.extend(self.core.datagrams_to_send())

    def advance(self, seconds: float) -> None:
        """Move the clock, firing timers only when the core announced them (``next_timer``),
        as the transport's driver does: a deadline the core forgets to announce never fires."""
        end = self.now + seconds
        fired: list[float] = []
        while (deadline := self.core.next_timer()) is not None and deadline <= end:
            fired.append(deadline)
            assert fired[-3:] != [deadline] * 3, f"timer at {deadline} announced again after firing"
            self.now = max(self.now, deadline)
            self.core.handle_timer(self.now)
            self.flush()
        self.now = end

    def release(self) -> None:
        held, self.held = self.held, []
        for then in held:
            self.core.deferred(then, self.now)
        self.flush()

    def take(self, remote: tuple[str, int]) -> list[Request | Response]:
        """Messages sent to ``remote`` since the last take."""
        mine = [d for d, f in self.wire if f.remote == remote]
        self.wire = [(d, f) for d, f in self.wire if f.remote != remote]
        return [parse_message(d) for d in mine]


def make_bench(*extensions: Extension, policy: RegistrarPolicy | None = None, **kw: float) -> Bench:
    bench: Bench

    def records(record: CallRecord, then: Callable[[float], None]) -> None:
        bench.records.append(record)
        if bench.hold:
            bench.held.append(then)
        else:
            then(bench.now)

    def bindings(
        saved: list[Binding], removed: list[Binding], event: RegistrationEvent | None,
        then: Callable[[float], None] | None,
    ) -> None:
        bench.saved.extend(saved)
        bench.removed.extend(removed)
        if event is not None:
            bench.events.append(event)
        if then is None:
            return
        if bench.hold:
            bench.held.append(then)
        else:
            then(bench.now)

    core = PbxCore(
        Endpoint(),
        digest=DigestServer(b"k" * 32, REALM),
        directory=Directory(extensions),
        records=records,
        registrar_policy=policy,
        call_policy=CallPolicy(
            no_answer_timeout=kw.get("no_answer_timeout", 60.0),
            max_call_duration=kw.get("max_call_duration", 14400.0),
        ),
        bindings=bindings,
    )
    bench = Bench(core)
    return bench


@dataclass
class Phone:
    """A minimal UA: builds requests, answers challenges, answers INVITEs."""

    bench: Bench
    number: str
    secret: str
    host: str
    port: int = 5060
    transport: Transport = Transport.UDP
    algorithm: str = "MD5"
    cseq: int = 1

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def flow(self) -> Flow:
        return Flow(self.transport, PBX, self.address, 1 if self.transport.reliable else None)

    def send(self, text: str) -> None:
        self.bench.deliver(re.sub(r"(?<!\r)\n", "\r\n", text).encode(), self.flow)

    def inbox(self) -> list[Request | Response]:
        return self.bench.take(self.address)

    def request(
        self, method: str, uri: str, *, to: str, call_id: str, from_tag: str = "ft",
        headers: str = "", body: str = "", cseq: int | None = None, branch: str | None = None,
    ) -> str:
        if cseq is None:
            cseq = self.cseq
            self.cseq += 1
        branch = branch or f"z9hG4bK{next(_ids)}"
        ctype = "Content-Type: application/sdp\n" if body else ""
        body = re.sub(r"(?<!\r)\n", "\r\n", body)
        return (
            f"{method} {uri} SIP/2.0\n"
            f"Via: SIP/2.0/{self.transport.value} {self.host}:{self.port};branch={branch};rport\n"
            f"Max-Forwards: 70\nFrom: <sip:{self.number}@{REALM}>;tag={from_tag}\nTo: {to}\n"
            f"Call-ID: {call_id}\nCSeq: {cseq} {method}\n"
            f"Contact: <sip:{self.number}@{self.host}:{self.port}>\n{headers}{ctype}"
            f"Content-Length: {len(body)}\n\n{body}"
        )

    def authorized(self, text: str, challenge_response: Response, *, proxy: bool) -> str:
        challenge = select_challenge(
            c for c in challenges_from(challenge_response, proxy=proxy) if c.algorithm == self.algorithm
        )
        assert challenge is not None
        method, uri = text.split(" ", 2)[:2]
        creds = answer(challenge, method, uri, self.number, password=self.secret, cnonce="c0ffee")
        name = "Proxy-Authorization" if proxy else "Authorization"
        head, rest = text.split("\n", 1)
        # a new transaction: new branch, next CSeq
        return f"{head}\n{name}: {creds}\n{rest}"

    def register(self, expires: int = 600, contact: str | None = None, call_id: str | None = None,
                 extra: str = "") -> Response:  # fmt: skip
        call_id = call_id or f"reg-{self.number}-{self.host}"
        headers = f"Expires: {expires}\n{extra}"
        first = self.request("REGISTER", f"sip:{REALM}", to=f"<sip:{self.number}@{REALM}>",
                             call_id=call_id, headers=headers)  # fmt: skip
        if contact is not None:
            first = first.replace(f"Contact: <sip:{self.number}@{self.host}:{self.port}>", f"Contact: {contact}")
        self.send(first)
        [challenge] = self.inbox()
        assert isinstance(challenge, Response) and challenge.status == 401, challenge
        second = self.request("REGISTER", f"sip:{REALM}", to=f"<sip:{self.number}@{REALM}>",
                              call_id=call_id, headers=headers)  # fmt: skip
        if contact is not None:
            second = second.replace(f"Contact: <sip:{self.number}@{self.host}:{self.port}>", f"Contact: {contact}")
        self.send(self.authorized(second, challenge, proxy=False))
        [final] = self.inbox()
        assert isinstance(final, Response)
        return final


def sdp(port: int) -> str:
    return (
        "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n"
        f"m=audio {port} RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"
    )
