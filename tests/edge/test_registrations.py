"""The registration relay in memory (tests/edge/edgebench.py): level-1 and level-2
credentials differ; the call control sees only the edge; device admission refuses unknown
and disabled devices."""

from __future__ import annotations

import pytest
from edgebench import DEVICE, LAN, LEVEL1, LEVEL2, MAC, WAN, alice, authorized, build, register

from voxgate.edge.notes import RegistrationNote
from voxgate.policy.devices import DeviceTable
from voxgate.sip.digest import answer, challenges_from, select_challenge
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.message import Response


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


def test_a_closed_device_connection_unregisters_it_at_the_call_control() -> None:
    net = build([alice()], DeviceTable([(MAC, True)]))
    assert authorized(net).status == 200
    assert len(net.pbx.location.lookup("201", net.now + net.pbx.wall_offset)) == 1
    net.edge.connection_lost(Flow(Transport.TLS, WAN, DEVICE, 99), net.now)  # another connection
    assert len(net.edge.relay.bindings) == 1
    net.edge.connection_lost(Flow(Transport.TLS, WAN, DEVICE, 7), net.now)
    net.pump()
    assert net.edge.relay.bindings == {}
    assert net.pbx.location.lookup("201", net.now + net.pbx.wall_offset) == []


def test_the_registration_log_names_device_source_user_and_extension() -> None:
    net = build([alice()], DeviceTable([(MAC, False)]))
    notes: list[RegistrationNote] = []
    net.edge.relay.noted = notes.append
    assert authorized(net).status == 403  # disabled device
    net.edge.relay.devices = DeviceTable([(MAC, True)])
    assert authorized(net, cseq=3).status == 200
    net.now += 10
    assert authorized(net, cseq=5).status == 200  # a refresh from the same flow: no new row
    net.edge.connection_lost(Flow(Transport.TLS, WAN, DEVICE, 7), net.now)
    assert [(n.outcome, n.reason, n.username, n.extension, n.mac, n.flow.remote) for n in notes] == [
        ("refused", "device disabled", "alice", "201", MAC, DEVICE),
        ("registered", None, "alice", "201", MAC, DEVICE),
        ("unregistered", "connection closed", "alice", "201", MAC, DEVICE),
    ]
    assert notes[1].instance is not None and notes[1].user_agent == "TestPhone 1.0"


def test_registers_arriving_while_one_is_in_flight_share_it() -> None:
    """Two REGISTERs of a new device before the call control answered: one binding, one upstream
    registration in flight at a time (RFC 3261 §10.2), both devices' transactions answered."""
    net = build([alice()], DeviceTable([(MAC, True)]))
    first = net.device_sends(register())
    challenge = select_challenge(challenges_from(first, proxy=False))
    assert challenge is not None
    flow = Flow(Transport.TLS, WAN, DEVICE, 7)
    for nc, cseq in ((1, 2), (2, 3)):
        creds = answer(challenge, "REGISTER", f"sip:{WAN[0]}", "alice", password=LEVEL1, cnonce="c", nc=nc)
        net.edge.receive(register(auth=str(creds), cseq=cseq), flow, net.now)  # no pump between
    net.to_device.clear()
    net.pump()
    answers = [m for m in net.to_device if isinstance(m, Response)]
    assert [a.status for a in answers] == [200, 200]
    assert len(net.edge.relay.bindings) == 1
    upstream = [m for m in net.pbx_saw if m.startswith(b"REGISTER")]
    assert len(upstream) == 2  # the 401 round trip of one registration, not two registrations
    assert len(net.pbx.location.lookup("201", net.now + net.pbx.wall_offset)) == 1


@pytest.mark.parametrize("public_upstream", [False, True])
def test_dmz_mode_can_show_the_public_address_to_the_call_control_too(public_upstream: bool) -> None:
    net = build([alice()], DeviceTable([(MAC, True)]), public_host="203.0.113.50",
                public_upstream=public_upstream)  # fmt: skip
    assert authorized(net).status == 200
    (binding,) = net.pbx.location.lookup("201", net.now + net.pbx.wall_offset)
    expected = f"@203.0.113.50:{LAN[1]}" if public_upstream else f"@{LAN[0]}:{LAN[1]}"
    assert expected in binding.contact
    upstream = b"".join(net.pbx_saw)
    assert (b"203.0.113.50" in upstream) is public_upstream
