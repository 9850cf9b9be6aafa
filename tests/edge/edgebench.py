"""A sans-I/O bench for the edge: a simulated device ⇄ a real EdgeCore ⇄ a real PbxCore ⇄ a
simulated desk phone ("bob", extension 202, registered directly with the call control), all
on one fake clock.  Datagrams are routed by address; nothing touches a socket."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from harness import extension

from voxgate.edge.core import EdgeCore
from voxgate.edge.notes import DeviceSeen
from voxgate.edge.registrations import RegistrationRelay
from voxgate.edge.relaystate import RelayPolicy, Upstream
from voxgate.edge.users import SipUser, UserDirectory
from voxgate.pbx.core import PbxCore
from voxgate.pbx.directory import Directory
from voxgate.policy.devices import DeviceTable
from voxgate.sip.digest import DigestServer, answer, challenges_from, ha1, select_challenge
from voxgate.sip.endpoint import Endpoint
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.message import Request, Response, make_response
from voxgate.sip.parser import parse_message

EDGE_REALM = "edge"
WAN = ("198.51.100.1", 5061)
LAN = ("127.0.0.1", 5070)
PBX = ("127.0.0.1", 5062)
BOB = ("10.0.0.22", 5060)
BOB_SECRET = "Bob-Desk-Secret-4rt"
DEVICE = ("203.0.113.7", 40001)
MAC = "0004f2a1b2c3"
LEVEL1 = "Dev1ce-Secret-9qk"
LEVEL2 = "Upstream-Secret-7zp"
_seq = itertools.count(1)


def alice(**kw: object) -> SipUser:
    return SipUser(
        "alice", "201", "201", LEVEL2,
        ha1={a: ha1(a, "alice", EDGE_REALM, LEVEL1) for a in ("MD5", "SHA-256")},
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


@dataclass
class Net:
    """Routes what each core sends to the other, and collects what goes to the device."""

    edge: EdgeCore
    pbx: PbxCore
    now: float = 1000.0
    to_device: list[Request | Response] = field(default_factory=list)
    to_bob: list[Request | Response] = field(default_factory=list)
    seen: list[DeviceSeen] = field(default_factory=list)
    pbx_saw: list[bytes] = field(default_factory=list)

    def pump(self) -> None:
        for _ in range(20):
            moved = False
            for data, flow in self.edge.datagrams_to_send():
                moved = True
                if flow.remote == PBX:
                    self.pbx_saw.append(data)
                    self.pbx.receive(data, Flow(Transport.UDP, PBX, LAN), self.now)
                else:
                    message = parse_message(data)
                    self.to_device.append(message)
            for data, flow in self.pbx.datagrams_to_send():
                moved = True
                if flow.remote == BOB:
                    self.to_bob.append(parse_message(data))
                    continue
                assert flow.remote == LAN, flow
                self.edge.receive(data, Flow(Transport.UDP, LAN, PBX), self.now)
            while self.edge.next_event() is not None or self.pbx.next_event() is not None:
                pass
            if not moved:
                return

    def device_sends(self, request: bytes, transport: Transport = Transport.TLS) -> Response:
        """Send from the device; the one response it got back."""
        self.device_raw(request, transport)
        (response,) = [m for m in self.to_device if isinstance(m, Response)]
        return response

    def device_raw(self, data: bytes, transport: Transport = Transport.TLS) -> None:
        """Send from the device; what comes back collects in ``to_device``."""
        flow = Flow(transport, WAN, DEVICE, 7 if transport.reliable else None)
        self.to_device.clear()
        self.edge.receive(data, flow, self.now)
        self.pump()

    def bob_sends(self, data: bytes) -> None:
        """Send from bob's desk phone to the call control; what comes back goes to ``to_bob``."""
        self.to_bob.clear()
        self.pbx.receive(data, Flow(Transport.UDP, PBX, BOB), self.now)
        self.pump()


def build(users: list[SipUser], devices: DeviceTable, *, require_device: bool = True,
          cert_cn: str | None = "SEP0004F2A1B2C3", pbx_secret: str = LEVEL2,
          public_host: str = "", public_upstream: bool = False) -> Net:  # fmt: skip
    pbx = PbxCore(
        Endpoint(), digest=DigestServer(b"p" * 32, "voxgate"),
        directory=Directory([extension("201", pbx_secret), extension("202", BOB_SECRET)]),
        records=lambda record, then: then(0.0),
    )  # fmt: skip
    net: Net

    def relay(endpoint: Endpoint) -> RegistrationRelay:
        return RegistrationRelay(
            endpoint, DigestServer(b"e" * 32, EDGE_REALM),
            Upstream(Flow(Transport.UDP, LAN, PBX), "127.0.0.1"),
            users=UserDirectory(users), devices=devices,
            policy=RelayPolicy(require_device=require_device, public_host=public_host,
                               public_upstream=public_upstream),
            certificate=lambda flow: {"subject": ((("commonName", cert_cn),),)} if cert_cn else None,
            learn=lambda seen: net.seen.append(seen),  # noqa: PLW0108 - net is bound after this runs
        )  # fmt: skip

    edge = EdgeCore(Endpoint(), relay, lan=frozenset({LAN}))
    net = Net(edge, pbx)
    return net


def register(user: str = "alice", expires: int = 600, auth: str = "", *, call_id: str = "dev-1",
             cseq: int = 1, transport: str = "TLS", contact_user: str = "alice") -> bytes:  # fmt: skip
    branch = f"z9hG4bKd{next(_seq)}"
    lines = [
        f"REGISTER sip:{WAN[0]} SIP/2.0",
        f"Via: SIP/2.0/{transport} 192.168.1.20:5061;branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{WAN[0]}>;tag=t{branch}",
        f"To: <sip:{user}@{WAN[0]}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        f'Contact: <sip:{contact_user}@192.168.1.20:5061;transport=tls>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-0004f2a1b2c3>"',
        f"Expires: {expires}",
        "User-Agent: TestPhone 1.0",
    ]
    if auth:
        lines.append(f"Authorization: {auth}")
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def authorized(net: Net, password: str = LEVEL1, user: str = "alice", expires: int = 600, *,
               cseq: int = 1, transport: Transport = Transport.TLS) -> Response:  # fmt: skip
    first = net.device_sends(register(user, expires, cseq=cseq), transport)
    assert first.status == 401
    challenge = select_challenge(challenges_from(first, proxy=False))
    assert challenge is not None and challenge.realm == EDGE_REALM
    creds = answer(challenge, "REGISTER", f"sip:{WAN[0]}", user, password=password, cnonce="c1")
    return net.device_sends(register(user, expires, str(creds), cseq=cseq + 1), transport)


SDP_B = b"v=0\r\no=bob 1 1 IN IP4 10.0.0.22\r\ns=-\r\nc=IN IP4 10.0.0.22\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"


def sip(start: str, headers: list[str], body: bytes = b"") -> bytes:
    """A SIP message from its start line, header lines and body (SDP)."""
    extra = ["Content-Type: application/sdp"] if body else []
    text = "\r\n".join([start, *headers, *extra, f"Content-Length: {len(body)}", "", ""])
    return text.encode() + body


def bob_register(net: Net) -> None:
    def reg(auth: str = "") -> bytes:
        return sip("REGISTER sip:127.0.0.1 SIP/2.0", [
            f"Via: SIP/2.0/UDP {BOB[0]}:{BOB[1]};branch=z9hG4bKbr{next(_seq)};rport",
            "Max-Forwards: 70", "From: <sip:202@127.0.0.1>;tag=bobreg", "To: <sip:202@127.0.0.1>",
            "Call-ID: bob-reg", f"CSeq: {next(_seq)} REGISTER", f"Contact: <sip:202@{BOB[0]}:{BOB[1]}>",
            "Expires: 3600", *([f"Authorization: {auth}"] if auth else []),
        ])  # fmt: skip

    net.bob_sends(reg())
    (challenge_response,) = net.to_bob
    assert isinstance(challenge_response, Response) and challenge_response.status == 401
    challenge = select_challenge(challenges_from(challenge_response, proxy=False))
    assert challenge is not None
    creds = answer(challenge, "REGISTER", "sip:127.0.0.1", "202", password=BOB_SECRET, cnonce="b")
    net.bob_sends(reg(str(creds)))
    assert [m.status for m in net.to_bob if isinstance(m, Response)] == [200]


def bob_answers(net: Net, invite: Request, status: int = 200) -> None:
    for code in (180, status):
        response = make_response(invite, code, to_tag="bobtag", body=SDP_B if code == 200 else b"")
        response.headers.add("Contact", f"<sip:202@{BOB[0]}:{BOB[1]}>")
        if code == 200:
            response.headers.add("Content-Type", "application/sdp")
        net.bob_sends(response.to_bytes())


def bob_invites_alice(net: Net) -> None:
    """Bob (202) calls alice (201) at the call control, answering its 407."""
    def invite(auth: str = "") -> bytes:
        return sip("INVITE sip:201@127.0.0.1 SIP/2.0", [
            f"Via: SIP/2.0/UDP {BOB[0]}:{BOB[1]};branch=z9hG4bKbi{next(_seq)};rport", "Max-Forwards: 70",
            "From: \"Bob\" <sip:202@127.0.0.1>;tag=bobcall", "To: <sip:201@127.0.0.1>", "Call-ID: bob-call-2",
            f"CSeq: {next(_seq)} INVITE", f"Contact: <sip:202@{BOB[0]}:{BOB[1]}>",
            *([f"Proxy-Authorization: {auth}"] if auth else []),
        ], SDP_B)  # fmt: skip

    net.bob_sends(invite())
    challenge = select_challenge(challenges_from(next(m for m in net.to_bob if isinstance(m, Response)), proxy=True))
    assert challenge is not None
    creds = answer(challenge, "INVITE", "sip:201@127.0.0.1", "202", password=BOB_SECRET, cnonce="b3")
    net.to_device.clear()
    net.bob_sends(invite(str(creds)))
