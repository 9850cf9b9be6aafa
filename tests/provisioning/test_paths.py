"""Which request paths are a device's configuration file, and which MAC they name."""

from __future__ import annotations

import pytest

from voxgate.provisioning.paths import ConfigFormat, ConfigRequest, parse_path
from voxgate.provisioning.phoneconfig import PhoneConfig

MAC = "0004f2a1b2c3"
TEXT = ConfigRequest(MAC, ConfigFormat.TEXT)
XML = ConfigRequest(MAC, ConfigFormat.XML)


@pytest.mark.parametrize(("path", "wanted"), [
    ("/0004f2a1b2c3.cfg", TEXT),
    ("/0004F2A1B2C3.cfg", TEXT),
    ("/0004F2A1B2C3.CFG", TEXT),
    ("/0004f2a1b2c3.boot", TEXT),
    ("/0004f2a1b2c3.xml", XML),
    ("/cfg0004f2a1b2c3.xml", XML),
    ("/cfg0004F2A1B2C3", TEXT),
    ("/SEP0004F2A1B2C3.cnf.xml", XML),
    ("/prov/0004f2a1b2c3", TEXT),
    ("/prov/0004f2a1b2c3.cfg", TEXT),
    ("/phones/site-1/00-04-F2-A1-B2-C3.cfg", TEXT),
])  # fmt: skip
def test_vendor_file_names_name_the_device(path: str, wanted: ConfigRequest) -> None:
    assert parse_path(path) == wanted


@pytest.mark.parametrize("path", [
    "/", "/index.html", "/000000000000.cfg", "/ffffffffffff.cfg",  # shared files, broadcast
    "/0104f2a1b2c3.cfg",  # a multicast (group) address is no device
    "/0004f2a1b2c.cfg", "/0004f2a1b2c3d.cfg", "/0004f2a1b2c3.txt", "/0004f2a1b2c3.cfg/",
    "/y000000000044.cfg", "/SEP0004f2a1b2c3.cfg", "/cfg0004f2a1b2c3.cfg",
    "/0004f2a1b2c3.cnf.xml", "/00:04:f2:a1:b2:c3.cfg", "/" + "a" * 600 + "0004f2a1b2c3.cfg",
    "/0004f2a1b2c3.cfg\x00",
])  # fmt: skip
def test_anything_else_is_not_a_device_file(path: str) -> None:
    assert parse_path(path) is None


def test_the_configuration_names_the_edge_and_the_users_and_no_secret() -> None:
    config = PhoneConfig(MAC, "edge.example.net", 5061, "tls", ("alice", "bob"))
    text, content_type = config.render(ConfigFormat.TEXT)
    assert content_type == "text/plain"
    assert "sip.server = edge.example.net\nsip.port = 5061\nsip.transport = tls\n" in text
    assert "line.1.username = alice\nline.2.username = bob\n" in text
    assert "device.mac = 00:04:f2:a1:b2:c3" in text and "No password is served" in text
    assert "No SIP user is tied" not in text
    xml, content_type = config.render(ConfigFormat.XML)
    assert content_type == "application/xml"
    assert '<setting name="sip.server">edge.example.net</setting>' in xml
    assert '<setting name="line.2.username">bob</setting>' in xml
    lonely, _ = PhoneConfig(MAC, "192.0.2.1", 5061, "tls").render(ConfigFormat.TEXT)
    assert "No SIP user is tied to this device" in lonely and "line." not in lonely
