"""Device identity from certificates, +sip.instance and User-Agent; MAC normalization."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxgate.policy.devices import (
    DEFAULT_UA_PATTERN,
    Admission,
    DeviceTable,
    IdentitySource,
    MacError,
    compile_user_agent_pattern,
    format_mac,
    identify,
    mac_from_certificate,
    mac_from_instance,
    mac_from_user_agent,
    normalize_mac,
)

UA = compile_user_agent_pattern(DEFAULT_UA_PATTERN)


@pytest.mark.parametrize("text", ["00:04:F2:A1:B2:C3", "00-04-f2-a1-b2-c3", "0004.f2a1.b2c3", "0004F2A1B2C3", " 0004f2a1b2c3 "])
def test_macs_are_normalized(text: str) -> None:
    assert normalize_mac(text) == "0004f2a1b2c3"


@pytest.mark.parametrize(
    "text", ["", "0004f2a1b2", "0004f2a1b2c3d4", "00:04:f2-a1:b2:c3", "000000000000", "ffffffffffff", "0104f2a1b2c3", "zz04f2a1b2c3"]
)
def test_bad_macs_are_refused(text: str) -> None:
    with pytest.raises(MacError):
        normalize_mac(text)


@given(st.binary(min_size=6, max_size=6))
def test_format_and_normalize_round_trip(raw: bytes) -> None:
    mac = raw.hex()
    try:
        normalized = normalize_mac(format_mac(mac))
    except MacError:
        assert mac in ("000000000000", "ffffffffffff") or int(mac[1], 16) & 1
    else:
        assert normalized == mac


def cert(cn: str | None = None, *alt: tuple[str, str]) -> dict[str, object]:
    subject = ((("organizationName", "Polycom Inc."),), (("commonName", cn),)) if cn else ()
    return {"subject": subject, "subjectAltName": tuple(alt)}


@pytest.mark.parametrize(
    ("certificate", "mac"),
    [
        (cert("0004f2a1b2c3"), "0004f2a1b2c3"),
        (cert("SEP0004F2A1B2C3"), "0004f2a1b2c3"),
        (cert("00:15:65:aa:bb:cc"), "001565aabbcc"),
        (cert("phone", ("DNS", "001565aabbcc.devices.example")), "001565aabbcc"),
        (cert("Yealink Root CA"), None),
        (cert("1234567890123"), None),  # 13 digits: not a MAC
        ({}, None),
        (None, None),
    ],
)
def test_mac_from_certificate(certificate: dict[str, object] | None, mac: str | None) -> None:
    assert mac_from_certificate(certificate) == mac


@pytest.mark.parametrize(
    ("instance", "mac"),
    [
        ("<urn:uuid:00000000-0000-1000-8000-0004F2A1B2C3>", "0004f2a1b2c3"),
        ('"<urn:uuid:00000000-0000-1000-8000-001565aabbcc>"', "001565aabbcc"),
        ("<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>", "00a0c91e6bf6"),
        ("<urn:uuid:f81d4fae-7dec-41d0-a765-00a0c91e6bf6>", None),  # version 4: random node
        ("<urn:uuid:f81d4fae-7dec-11d0-a765-01a0c91e6bf6>", None),  # multicast bit: random node
        ("<urn:uuid:garbage>", None),
        (None, None),
    ],
)
def test_mac_from_instance(instance: str | None, mac: str | None) -> None:
    assert mac_from_instance(instance) == mac


@pytest.mark.parametrize(
    ("user_agent", "mac"),
    [
        ("Yealink SIP-T46S 66.86.0.15 00:15:65:aa:bb:cc", "001565aabbcc"),
        ("Grandstream GXP2170 1.0.11.6 00-0B-82-12-34-56", "000b82123456"),
        ("baresip v1.0.0 (x86_64/linux)", None),
        ("Phone 00:15:65:aa:bb:cc:dd", None),  # seven groups: not a MAC
        ("build 0015:65aa:bbcc", None),
    ],
)
def test_mac_from_user_agent_with_the_default_pattern(user_agent: str, mac: str | None) -> None:
    assert mac_from_user_agent(user_agent, UA) == mac


def test_custom_user_agent_patterns_need_a_mac_group() -> None:
    pattern = compile_user_agent_pattern(r"MAC=(?P<mac>[0-9a-f]{12})")
    assert mac_from_user_agent("Acme MAC=0004f2a1b2c3 fw 2", pattern) == "0004f2a1b2c3"
    with pytest.raises(ValueError, match="group named mac"):
        compile_user_agent_pattern(r"([0-9a-f]{12})")
    with pytest.raises(ValueError, match="not a regular expression"):
        compile_user_agent_pattern(r"(?P<mac>")


def test_identify_prefers_the_strongest_source() -> None:
    instance = "<urn:uuid:00000000-0000-1000-8000-001565aabbcc>"
    ua = "Yealink 00:15:65:11:22:33"
    found = identify(cert("0004f2a1b2c3"), instance, ua, UA)
    assert found is not None and (found.mac, found.source) == ("0004f2a1b2c3", IdentitySource.CERTIFICATE)
    found = identify(None, instance, ua, UA)
    assert found is not None and (found.mac, found.source) == ("001565aabbcc", IdentitySource.INSTANCE)
    found = identify(None, None, ua, UA)
    assert found is not None and (found.mac, found.source) == ("001565112233", IdentitySource.USER_AGENT)
    assert identify(None, None, ua, None) is None


def test_device_table_admission() -> None:
    table = DeviceTable([("0004f2a1b2c3", True), ("001565aabbcc", False)], generation=7)
    assert table.admission("0004f2a1b2c3") is Admission.ENABLED
    assert table.admission("001565aabbcc") is Admission.DISABLED
    assert table.admission("001565aabbcd") is Admission.UNKNOWN
    assert (len(table), table.generation) == (2, 7)


@given(st.text(max_size=200))
def test_identity_extraction_never_raises(text: str) -> None:
    mac_from_instance(text)
    mac_from_user_agent(text, UA)
    mac_from_certificate(cert(text, ("DNS", text)))
    assert re.compile(DEFAULT_UA_PATTERN)
