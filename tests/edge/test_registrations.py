"""The registration relay in memory: a device ⇄ a real EdgeCore ⇄ a real PbxCore, all
sans-I/O, with the clock passed in.  Level-1 and level-2 credentials differ; the call
control sees only the edge; device admission refuses unknown and disabled devices."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from harness import extension

from voxgate.edge.core import EdgeCore
from voxgate.edge.registrations import DeviceSeen, RegistrationRelay, RelayPolicy, Upstream
from voxgate.edge.users import SipUser, UserDirectory
from voxgate.pbx.core import PbxCore
from voxgate.pbx.directory import Directory
from voxgate.policy.devices import DeviceTable
from voxgate.sip.digest import DigestServer, answer, challenges_from, ha1, select_challenge
from voxgate.sip.endpoint import Endpoint
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.message import Request, Response
from voxgate.sip.parser import parse_message

EDGE_REALM = "edge"
WAN = ("198.51.100.1", 5061)
LAN = ("127.0.0.1", 5070)
PBX = ("127.0.0.1", 5062)
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
                assert flow.remote == LAN, flow
                self.edge.receive(data, Flow(Transport.UDP, LAN, PBX), self.now)
            while self.edge.next_event() is not None or self.pbx.next_event() is not None:
                pass
            if not moved:
                return

    def device_sends(self, request: bytes, transport: Transport = Transport.TLS) -> Response:
        flow = Flow(transport, WAN, DEVICE, 7 if transport.reliable else None)
        self.to_device.clear()
        self.edge.receive(request, flow, self.now)
        self.pump()
        (response,) = [m for m in self.to_device if isinstance(m, Response)]
        return response


def build(users: list[SipUser], devices: DeviceTable, *, require_device: bool = True,
          cert_cn: str | None = "SEP0004F2A1B2C3", pbx_secret: str = LEVEL2) -> Net:  # fmt: skip
    pbx = PbxCore(
        Endpoint(), digest=DigestServer(b"p" * 32, "voxgate"),
        directory=Directory([extension("201", pbx_secret)]),
        records=lambda record, then: then(0.0),
    )  # fmt: skip
    net: Net

    def relay(endpoint: Endpoint) -> RegistrationRelay:
        return RegistrationRelay(
            endpoint, DigestServer(b"e" * 32, EDGE_REALM),
            Upstream(Flow(Transport.UDP, LAN, PBX), "127.0.0.1"),
            users=UserDirectory(users), devices=devices,
            policy=RelayPolicy(require_device=require_device),
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


def test_a_known_enabled_device_registers_through_both_levels() -> None:
    net = build([alice()], DeviceTable([(MAC, True)]))
    ok = authorized(net)
    assert ok.status == 200
    (contact,) = ok.contacts
    assert str(contact.uri) == "sip:alice@192.168.1.20:5061;transport=tls"
    assert contact.params["expires"] == "600"
    # the call control holds one binding for extension 201: the edge's LAN contact
    (binding,) = net.pbx.location.lookup("201", net.now + net.pbx.wall_offset)
    assert binding.contact.startswith("sip:") and f"@{LAN[0]}:{LAN[1]}" in binding.contact
    # topology hiding: nothing of the device reached the call control
    upstream = b"".join(net.pbx_saw)
    assert b"192.168.1.20" not in upstream and b"203.0.113.7" not in upstream
    assert b"dev-1" not in upstream and b"alice" not in upstream and b"TestPhone" not in upstream
    assert LEVEL2.encode() not in upstream and LEVEL1.encode() not in upstream
    # the token in that contact finds the device again, with the flow it registered on
    token = binding.uri.user
    assert token is not None
    device = net.edge.relay.lookup(token, net.now)
    assert device is not None and device.flow.remote == DEVICE and device.mac == MAC
    assert net.seen[-1].identity.mac == MAC and net.seen[-1].admitted


def test_refresh_reuses_the_binding_and_unregister_removes_it_upstream() -> None:
    net = build([alice()], DeviceTable([(MAC, True)]))
    assert authorized(net).status == 200
    (first,) = net.pbx.location.lookup("201", net.now + net.pbx.wall_offset)
    net.now += 100
    assert authorized(net, cseq=3).status == 200
    (second,) = net.pbx.location.lookup("201", net.now + net.pbx.wall_offset)
    assert second.contact == first.contact and second.call_id == first.call_id
    assert len(net.edge.relay.bindings) == 1
    gone = authorized(net, expires=0, cseq=5)
    assert gone.status == 200 and gone.contacts == []
    assert net.pbx.location.lookup("201", net.now + net.pbx.wall_offset) == []
    assert net.edge.relay.bindings == {}


@pytest.mark.parametrize(
    ("devices", "cert_cn", "seen_admitted"),
    [
        (DeviceTable(), "SEP0004F2A1B2C3", False),  # unknown: learned, refused
        (DeviceTable([(MAC, False)]), "SEP0004F2A1B2C3", False),  # disabled
    ],
)
def test_unknown_and_disabled_devices_get_403_and_are_reported(
    devices: DeviceTable, cert_cn: str, seen_admitted: bool
) -> None:
    net = build([alice()], devices, cert_cn=cert_cn)
    assert authorized(net).status == 403
    assert [(s.identity.mac, s.source, s.admitted) for s in net.seen] == [(MAC, DEVICE[0], seen_admitted)]
    assert net.pbx_saw == []  # nothing reached the call control
    assert net.pbx.location.lookup("201", net.now + net.pbx.wall_offset) == []


def test_identity_comes_only_from_the_encrypted_channel() -> None:
    net = build([alice()], DeviceTable([(MAC, True)]))
    # the same REGISTER with the same +sip.instance over UDP: no identity, refused
    assert authorized(net, transport=Transport.UDP).status == 403
    assert net.seen == []


def test_without_a_certificate_the_instance_identifies_the_device() -> None:
    net = build([alice()], DeviceTable([(MAC, True)]), cert_cn=None)
    assert authorized(net).status == 200
    assert net.seen[-1].identity.source.value == "instance"


def test_a_user_tied_to_another_device_is_refused() -> None:
    net = build([alice(device_mac="001565aabbcc")], DeviceTable([(MAC, True)]))
    assert authorized(net).status == 403


def test_wrong_level1_password_and_unknown_user_get_the_same_403() -> None:
    failures: list[str] = []
    net = build([alice()], DeviceTable([(MAC, True)]))
    net.edge.relay.auth_failed = lambda source, detail: failures.append(source)
    wrong = authorized(net, password="not-it-at-all")
    unknown = authorized(net, user="bob")
    assert (wrong.status, wrong.reason) == (unknown.status, unknown.reason) == (403, "Forbidden")
    assert failures == [DEVICE[0], DEVICE[0]]
    # the level-1 password is not the extension's: the call control would not take it either
    assert net.pbx_saw == []


def test_the_call_control_refusing_the_level2_secret_gives_403_and_keeps_nothing() -> None:
    net = build([alice()], DeviceTable([(MAC, True)]), pbx_secret="Some-Other-Secret-1")
    assert authorized(net).status == 403
    assert net.edge.relay.bindings == {}
    assert net.edge.relay.stats.upstream_failures == 1


def test_udp_devices_get_short_registrations_for_their_nat() -> None:
    net = build([alice()], DeviceTable(), require_device=False)
    ok = authorized(net, transport=Transport.UDP, expires=3600)
    assert ok.status == 200
    assert ok.contacts[0].params["expires"] == "120"


def test_expired_bindings_are_purged() -> None:
    net = build([alice()], DeviceTable([(MAC, True)]))
    assert authorized(net, expires=60).status == 200
    assert net.edge.purge(net.now + 30) == 0
    assert net.edge.purge(net.now + 61) == 1
    assert net.edge.relay.bindings == {}


def test_invite_from_a_device_is_refused_explicitly_for_now() -> None:
    net = build([alice()], DeviceTable([(MAC, True)]))
    invite = register().replace(b"REGISTER sip:", b"INVITE sip:201@").replace(b"CSeq: 1 REGISTER", b"CSeq: 1 INVITE")
    response = net.device_sends(invite)
    assert response.status == 503 and "not available yet" in response.reason
