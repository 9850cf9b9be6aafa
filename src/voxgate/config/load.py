"""TOML → :class:`Settings`: validate a config document against the typed schema.

Every problem raises :class:`ConfigError` naming the full key path (``sip.listeners[1].port``),
the reason and the offending value (never the value of a key declared ``secret``).
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import os
import re
import ssl
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from cryptography import x509

from voxgate.config.fields import Meta, meta_of
from voxgate.config.reference import render_reference
from voxgate.config.schema import Settings
from voxgate.policy.devices import compile_user_agent_pattern
from voxgate.sdp.model import CRYPTO_KEY_LENGTHS

__all__ = ["ConfigError", "load_settings", "parse_settings", "render_reference"]

_T = TypeVar("_T")
_V = TypeVar("_V")


class ConfigError(Exception):
    """An invalid configuration: *key* is the full key path (or the file), *reason* says why."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def load_settings(path: Path | str) -> Settings:
    """Read, parse and validate the TOML config file at *path*."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read config file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not UTF-8 text (byte {exc.start})") from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"TOML syntax error: {exc}") from exc
    return parse_settings(document, path.resolve().parent)


def parse_settings(mapping: Mapping[str, object], base_dir: Path) -> Settings:
    """Validate a parsed TOML document; relative paths resolve against *base_dir*."""
    settings = _Parser(Path(base_dir).resolve()).table(Settings, mapping, "")
    _check_consistency(settings)
    _check_files(settings)
    return settings


_TOML_TYPE_NAMES: dict[type, str] = {
    bool: "a boolean", int: "an integer", float: "a float", str: "a string",
    list: "an array", dict: "a table",
}


def _type_name(value: object) -> str:
    return _TOML_TYPE_NAMES.get(type(value), "a date/time")


def _show(value: object, meta: Meta | None = None) -> str:
    """The offending value for an error message: TOML-ish, short, never a secret."""
    if meta is not None and meta.secret:
        return "<hidden>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, Path):
        value = str(value)
    shown = json.dumps(value, ensure_ascii=True) if isinstance(value, str) else str(value)
    if len(shown) <= 80:
        return shown
    if isinstance(value, str) and value.startswith("/"):
        return '"...' + shown[-76:]  # a path: its end names the file
    return shown[:77] + "..."


def _fail(key: str, reason: str, value: object, meta: Meta | None = None) -> ConfigError:
    return ConfigError(key, f"{reason}: {_show(value, meta)}")


class _Parser:
    """Walks the schema dataclasses and the TOML document side by side."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir

    def table(self, cls: type[_T], raw: object, key: str) -> _T:
        if not isinstance(raw, dict):
            raise _fail(key or "<document>", f"expected a table, not {_type_name(raw)}", raw)
        fields = {field.name: field for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for name, item in raw.items():
            path = f"{key}.{name}" if key else name
            field = fields.get(name)
            if field is None:
                raise ConfigError(path, _unknown_key_reason(name, list(fields), key))
            values[name] = self.value(hints[name], item, path, meta_of(field))
        for name, field in fields.items():  # omitted keys: relative paths resolve here too
            tp = hints[name]
            if name in values:
                continue
            if isinstance(field.default, Path):
                values[name] = self.base_dir / field.default
            elif isinstance(tp, type) and dataclasses.is_dataclass(tp):  # an omitted [table]
                values[name] = self.table(tp, {}, f"{key}.{name}" if key else name)
        return cls(**values)

    def value(self, tp: Any, raw: object, key: str, meta: Meta) -> Any:
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            (inner,) = [arg for arg in get_args(tp) if arg is not type(None)]
            return self.value(inner, raw, key, meta)  # TOML has no null: present means set
        if origin is tuple:
            item_type = get_args(tp)[0]
            if not isinstance(raw, list):
                raise _fail(key, f"expected an array, not {_type_name(raw)}", raw, meta)
            if item_type is str:
                if meta.max is not None and len(raw) > meta.max:
                    raise _fail(key, f"more than {meta.max} entries", raw, meta)
                item_meta = dataclasses.replace(meta, max=None)
                return tuple(_string(item, f"{key}[{i}]", item_meta) for i, item in enumerate(raw))
            return tuple(self.table(item_type, item, f"{key}[{i}]") for i, item in enumerate(raw))
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.table(tp, raw, key)
        if origin is Literal:
            return _choice(raw, key, meta, get_args(tp))
        if tp is bool:
            return _expect(raw, bool, key, meta)
        if tp is int:
            return _integer(raw, key, meta)
        if tp is str:
            return _string(raw, key, meta)
        if tp is Path:
            text = _expect(raw, str, key, meta)
            if not text or "\0" in text:
                raise _fail(key, "not a usable path", raw, meta)
            return self.base_dir / Path(text).expanduser()
        raise TypeError(f"schema type {tp!r} of {key} is not supported by the loader")


def _unknown_key_reason(name: str, known: list[str], table: str) -> str:
    where = f"[{table}]" if table else "the top level"
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {name!r} ({hint}known keys in {where}: {', '.join(known)})"


def _expect(raw: object, tp: type[_V], key: str, meta: Meta) -> _V:
    if type(raw) is not tp:  # bool is an int subclass: compare exactly
        raise _fail(key, f"expected {_TOML_TYPE_NAMES[tp]}, not {_type_name(raw)}", raw, meta)
    return raw


def _choice(raw: object, key: str, meta: Meta, allowed: tuple[str, ...]) -> str:
    choices = meta.choices or allowed
    text = _expect(raw, str, key, meta)
    if text not in choices:
        raise _fail(key, f"must be one of {', '.join(choices)}", raw, meta)
    return text


def _integer(raw: object, key: str, meta: Meta) -> int:
    number = _expect(raw, int, key, meta)
    low = meta.min if meta.min is not None else "-∞"
    high = meta.max if meta.max is not None else "∞"
    if (meta.min is not None and number < meta.min) or (meta.max is not None and number > meta.max):
        raise _fail(key, f"must be between {low} and {high}", raw, meta)
    return number


def _string(raw: object, key: str, meta: Meta) -> str:
    text = _expect(raw, str, key, meta)
    if meta.max is not None and len(text) > meta.max:
        raise _fail(key, f"longer than {meta.max} characters", raw, meta)
    if meta.pattern is not None and not re.fullmatch(meta.pattern, text):
        raise _fail(key, "contains characters that are not allowed here", raw, meta)
    if meta.kind == "ip_address":
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            raise _fail(key, "not an IPv4 or IPv6 address literal", raw, meta) from None
    if meta.kind == "netblock":
        try:
            return str(ipaddress.ip_network(text, strict=False))
        except ValueError as err:
            raise _fail(key, f"not an IPv4 or IPv6 netblock ({err})", raw, meta) from None
    if meta.kind == "openssl_ciphers":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.set_ciphers(text)
        except ssl.SSLError:
            raise _fail(key, "OpenSSL selects no cipher from this string", raw, meta) from None
        insecure = [c["name"] for c in context.get_ciphers()
                    if c["symmetric"] is None or c["auth"] == "auth-null"]
        if insecure:
            raise _fail(key, "allows unencrypted or unauthenticated suites "
                        f"({', '.join(insecure[:3])})", raw, meta)
    return text


def _check_consistency(settings: Settings) -> None:
    """Rules that span several keys."""
    sip = settings.sip
    if not settings.enabled_listeners:
        raise ConfigError("sip.listeners", "no enabled listener: nothing would accept SIP")
    seen: dict[tuple[str, str, int], int] = {}
    for index, listener in enumerate(sip.listeners):
        port = listener.effective_port
        if not listener.enabled or port == 0:
            continue
        kind = "datagram" if listener.transport == "udp" else "stream"
        other = seen.setdefault((kind, listener.address, port), index)
        if other != index:
            raise ConfigError(
                f"sip.listeners[{index}]",
                f"same {kind} socket as sip.listeners[{other}]: "
                f"{listener.transport} {listener.address} port {port}",
            )
    if sip.limits.max_line_length > sip.limits.max_message_size:
        raise _fail(
            "sip.limits.max_line_length",
            f"exceeds sip.limits.max_message_size ({sip.limits.max_message_size})",
            sip.limits.max_line_length,
        )
    pbx = settings.pbx
    if pbx.min_expires > pbx.max_expires:
        raise _fail("pbx.min_expires", f"exceeds pbx.max_expires ({pbx.max_expires})",
                    pbx.min_expires)
    if not pbx.min_expires <= pbx.default_expires <= pbx.max_expires:
        raise _fail("pbx.default_expires",
                    f"must lie between pbx.min_expires ({pbx.min_expires}) and "
                    f"pbx.max_expires ({pbx.max_expires})", pbx.default_expires)
    if pbx.workers > 1:
        if settings.edge.enabled:
            raise _fail("pbx.workers", "must be 1 with the edge enabled (every device then "
                        "reaches the call control from the edge's one address, which one "
                        "process serves)", pbx.workers)  # fmt: skip
        if not pbx.enabled:
            raise _fail("pbx.workers", "must be 1 with pbx.enabled = false", pbx.workers)
        if not any(lst.transport == "udp" for lst in settings.enabled_listeners):
            raise _fail("pbx.workers", "needs an enabled UDP listener (workers share the UDP "
                        "ports; TCP and TLS stay with the main process)", pbx.workers)  # fmt: skip
    url = settings.store.url
    if url and not url.startswith(("sqlite+aiosqlite:///", "postgresql+asyncpg://")):
        raise ConfigError(
            "store.url", "must start with sqlite+aiosqlite:/// or postgresql+asyncpg://"
        )
    try:
        compile_user_agent_pattern(settings.edge.user_agent_pattern)
    except ValueError as err:
        raise ConfigError("edge.user_agent_pattern", str(err)) from None
    _check_media(settings)
    _check_admin(settings)
    if settings.tls.verify_client != "none" and settings.tls.client_ca is None:
        raise ConfigError(
            "tls.client_ca", f'must be set when tls.verify_client = "{settings.tls.verify_client}"'
        )


def _check_media(settings: Settings) -> None:
    media = settings.media
    if media.port_max - media.port_min < 7:
        raise _fail("media.port_max", f"leaves fewer than 8 ports above media.port_min "
                    f"({media.port_min})", media.port_max)
    for key in ("wan_address", "wan_advertised", "lan_address"):
        value = getattr(media, key)
        if value:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise _fail(f"media.{key}", "not an IP address literal", value) from None
    unknown = [s for s in media.srtp_suites if s not in CRYPTO_KEY_LENGTHS]
    if unknown or not media.srtp_suites:
        raise _fail("media.srtp_suites", f"unknown suite {unknown[0]!r}" if unknown else
                    "empty", media.srtp_suites)
    if media.lan_srtp and settings.edge.upstream_transport != "tls":
        raise ConfigError("media.lan_srtp", "SRTP keys toward the call control need "
                          'edge.upstream_transport = "tls" (keys never cross plain signaling)')
    if media.engine == "rtpengine" and media.lan_srtp:
        raise ConfigError("media.lan_srtp", "not with media.engine = rtpengine: rtpengine 10.5 "
                          "gives the LAN leg the device's own SRTP key (docs/rtpengine.md)")
    if media.engine == "builtin" and settings.edge.enabled and not media.wan_address:
        first = settings.enabled_listeners[0].address
        if ipaddress.ip_address(first).is_unspecified:
            raise ConfigError("media.wan_address", f"must be set: the first SIP listener "
                              f"binds {first}, which is no address to put in SDP")


def _check_admin(settings: Settings) -> None:
    admin = settings.admin
    for key in ("max_system_sessions", "max_group_sessions"):
        if getattr(admin, key) > admin.max_sessions:
            raise _fail(f"admin.{key}", f"exceeds admin.max_sessions ({admin.max_sessions})",
                        getattr(admin, key))
    provisioning = settings.provisioning
    addresses = {admin.address, provisioning.address}
    overlap = len(addresses) == 1 or any(ipaddress.ip_address(a).is_unspecified
                                         for a in addresses)  # fmt: skip
    if (admin.enabled and provisioning.enabled and admin.port != 0
            and admin.port == provisioning.port and overlap):
        raise _fail("admin.port", "same port as provisioning.port", admin.port)


def _check_files(settings: Settings) -> None:
    """Paths must exist; the TLS certificate and key must load together."""
    data_dir = settings.node.data_dir
    if not data_dir.is_dir():
        reason = "not a directory" if data_dir.exists() else "directory not found (voxgate init?)"
        raise _fail("node.data_dir", reason, data_dir)
    tls = settings.tls
    if not any(listener.transport == "tls" for listener in settings.enabled_listeners):
        return
    _readable_file("tls.certificate", tls.certificate)
    _readable_file("tls.private_key", tls.private_key)
    _certificates("tls.certificate", tls.certificate)
    if tls.chain is not None:
        _readable_file("tls.chain", tls.chain)
        _certificates("tls.chain", tls.chain)
    if tls.client_ca is not None:
        _readable_file("tls.client_ca", tls.client_ca)
        _certificates("tls.client_ca", tls.client_ca)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls.certificate, tls.private_key, password=_refuse_password)
    except _EncryptedKeyError:
        raise _fail("tls.private_key", "key is encrypted (store it unencrypted, mode 0600)",
                    tls.private_key) from None
    except ssl.SSLError:
        raise _fail("tls.private_key", "not a PEM private key matching tls.certificate",
                    tls.private_key) from None


class _EncryptedKeyError(Exception):
    pass


def _refuse_password() -> bytes:
    raise _EncryptedKeyError


def _readable_file(key: str, path: Path) -> None:
    if not path.exists():
        raise _fail(key, "file not found", path)
    if not path.is_file():
        raise _fail(key, "not a regular file", path)
    if not os.access(path, os.R_OK):
        raise _fail(key, "file not readable (permissions)", path)


def _certificates(key: str, path: Path) -> None:
    try:
        x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise _fail(key, f"cannot read: {exc.strerror}", path) from exc
    except ValueError:
        raise _fail(key, "not a PEM certificate file", path) from None
