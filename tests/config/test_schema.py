from __future__ import annotations

import dataclasses
import ssl
import typing
from pathlib import Path

import pytest

from voxgate.config.fields import Meta, meta_of, setting
from voxgate.config.reference import schema_tables
from voxgate.config.schema import DEFAULT_PORTS, Listener, Settings


def _all_fields() -> list[typing.Any]:
    rows = []
    for path, _array, cls, _leaves in [("", False, Settings, []), *schema_tables()]:
        for f in dataclasses.fields(cls):
            key = f"{path}.{f.name}".lstrip(".")
            rows.append(pytest.param(key, cls, f, id=key))
    return rows


@pytest.mark.parametrize(("key", "cls", "field"), _all_fields())
def test_every_key_declares_a_doc_line(
    key: str, cls: type, field: dataclasses.Field[object]
) -> None:
    meta = meta_of(field)
    assert meta.doc.strip(), key
    assert "\n" not in meta.doc, key


@pytest.mark.parametrize(("key", "cls", "field"), _all_fields())
def test_defaults_respect_their_own_bounds_and_choices(
    key: str, cls: type, field: dataclasses.Field[object]
) -> None:
    meta = meta_of(field)
    default = getattr(cls(), field.name)
    annotation = typing.get_type_hints(cls)[field.name]
    if typing.get_origin(annotation) is typing.Literal:
        assert meta.choices == typing.get_args(annotation), key
    if meta.choices is not None:
        assert default in meta.choices, key
    if isinstance(default, int) and not isinstance(default, bool):
        assert meta.min is None or default >= meta.min, key
        assert meta.max is None or default <= meta.max, key


def test_setting_records_metadata() -> None:
    field = setting(5, "five", min=1, max=9)
    assert field.default == 5  # type: ignore[attr-defined]
    assert field.metadata["voxgate"] == Meta(doc="five", min=1, max=9)  # type: ignore[attr-defined]


def test_default_is_tls_only_on_5061() -> None:
    settings = Settings()
    assert settings.enabled_listeners == (Listener("tls", "0.0.0.0", 5061, True),)
    assert not any(listener.transport in ("udp", "tcp") for listener in settings.sip.listeners)


def test_secure_tls_defaults() -> None:
    tls = Settings().tls
    assert tls.min_version == "1.2"
    assert tls.verify_client == "none"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(tls.ciphers)
    tls12 = [c for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12
    assert all(c["aead"] and c["kea"] == "kx-ecdhe" for c in tls12)


def test_documented_defaults() -> None:
    settings = Settings()
    assert settings.node.data_dir == Path(".")
    assert settings.log.level == "info"
    assert settings.log.format == "text"
    assert settings.sip.server_name == "voxgate"
    assert settings.sip.tcp_idle_timeout == 600
    assert settings.sip.keepalive_pong is True
    assert settings.sip.max_connections == 10000
    assert settings.sip.limits.max_message_size == 65535
    assert settings.sip.limits.max_headers == 128
    assert settings.sip.limits.max_line_length == 8192


def test_tcp_idle_timeout_default_exceeds_keepalive_intervals() -> None:
    assert Settings().sip.tcp_idle_timeout > 120  # RFC 5626 §4.4.1 suggests 95-120 s


@pytest.mark.parametrize(("transport", "port"), sorted(DEFAULT_PORTS.items()))
def test_listener_port_defaults_to_the_transport_port(transport: str, port: int) -> None:
    listener = Listener(transport=transport)  # type: ignore[arg-type]
    assert listener.port is None
    assert listener.effective_port == port
    assert Listener(transport=transport, port=0).effective_port == 0  # type: ignore[arg-type]


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.log.level = "debug"  # type: ignore[misc]
