"""``voxgate init``: a data directory with a default config and a self-signed certificate.

Idempotent and conservative: an existing config is replaced only with ``force`` (the previous
one is kept as ``voxgate.toml.bak``), and an existing private key is never replaced.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import socket
import textwrap
from dataclasses import Field, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from voxgate.config import certificates
from voxgate.config.fields import meta_of
from voxgate.config.reference import format_toml, schema_tables
from voxgate.config.schema import NODE_NAME_PATTERN, Settings

CONFIG_NAME: Final = "voxgate.toml"
CERTIFICATE_PATH: Final = Path("tls/cert.pem")
PRIVATE_KEY_PATH: Final = Path("tls/key.pem")
#: ``store.secret_key``'s default; the file's format is the one
#: :func:`voxgate.storage.secretbox.create_key_file` writes (config may not import storage).
SECRET_KEY_PATH: Final = Settings().store.secret_key
#: Bytes of the AES-256-GCM key in the secret key file.
SECRET_KEY_SIZE: Final = 32


class InitError(Exception):
    """``voxgate init`` refused or failed; the message says what to do."""


@dataclass(frozen=True, slots=True)
class InitResult:
    """What :func:`init_data_dir` did."""

    data_dir: Path
    config_path: Path
    certificate: Path
    private_key: Path
    created: tuple[Path, ...]
    kept: tuple[Path, ...]
    replaced: tuple[Path, ...]


def init_data_dir(
    data_dir: Path | str,
    *,
    force: bool = False,
    host_name: str | None = None,
    now: datetime | None = None,
) -> InitResult:
    """Create *data_dir* (0700) with ``voxgate.toml`` and ``tls/cert.pem`` + ``tls/key.pem``.

    Raises :class:`InitError` when the config exists and *force* is false, or when a
    certificate exists without its key (it is never silently replaced).
    """
    data_dir = Path(data_dir).absolute()
    host_name = host_name if host_name is not None else socket.gethostname()
    now = now if now is not None else datetime.now(UTC)
    config_path = data_dir / CONFIG_NAME
    cert_path = data_dir / CERTIFICATE_PATH
    key_path = data_dir / PRIVATE_KEY_PATH

    if data_dir.exists() and not data_dir.is_dir():
        raise InitError(f"{data_dir} exists and is not a directory")
    if config_path.exists() and not force:
        raise InitError(f"{config_path} already exists; use --force to replace it "
                        "(the certificate and key are kept)")
    if cert_path.exists() and not key_path.exists():
        raise InitError(f"{cert_path} exists without {key_path}; restore the key or remove "
                        "the certificate")

    created: list[Path] = []
    kept: list[Path] = []
    replaced: list[Path] = []
    _make_private_dir(data_dir, created)
    _make_private_dir(cert_path.parent, created)

    if not key_path.exists():
        key = certificates.generate_private_key()
        _write_new(key_path, certificates.private_key_pem(key))
        created.append(key_path)
        _write_new(cert_path, certificates.certificate_pem(
            certificates.self_signed_certificate(key, host_name, now=now)))
        created.append(cert_path)
    else:
        kept.append(key_path)
        if cert_path.exists():
            kept.append(cert_path)
        else:
            try:
                existing = certificates.load_signing_key(key_path.read_bytes())
            except (OSError, ValueError) as exc:
                raise InitError(f"cannot issue a certificate for {key_path}: {exc}") from exc
            _write_new(cert_path, certificates.certificate_pem(
                certificates.self_signed_certificate(existing, host_name, now=now)))
            created.append(cert_path)

    secret_key = data_dir / SECRET_KEY_PATH
    if secret_key.exists():
        kept.append(secret_key)
    else:  # encrypts reversible secrets at rest (voxgate.storage.secretbox reads it)
        _write_new(secret_key, base64.b64encode(secrets.token_bytes(SECRET_KEY_SIZE)) + b"\n")
        created.append(secret_key)

    text = render_default_config(host_name, config_path,
                                 media_address=primary_address()).encode()  # fmt: skip
    if config_path.exists():
        backup = config_path.with_name(CONFIG_NAME + ".bak")
        _replace(backup, config_path.read_bytes())
        _replace(config_path, text)
        replaced.append(config_path)
        created.append(backup)
    else:
        _write_new(config_path, text)
        created.append(config_path)
    return InitResult(data_dir, config_path, cert_path, key_path,
                      tuple(created), tuple(kept), tuple(replaced))


def _make_private_dir(path: Path, created: list[Path]) -> None:
    if path.is_dir():
        return
    path.mkdir(mode=0o700, parents=True)
    path.chmod(0o700)  # mkdir's mode is filtered by the umask
    created.append(path)


def _write_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create *path* with *mode*; fails if it exists (O_EXCL), so nothing is overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    path.chmod(mode)


def _replace(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Atomically replace *path* (write a temporary sibling, then rename over it)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    _write_new(temporary, data, mode)
    temporary.replace(path)


_HEADER = """\
# voxgate configuration (written by `voxgate init`).
# Every key is documented in docs/config-reference.md; a commented-out key shows its default.
# Relative paths are resolved against the directory of this file.
# Validate changes with: voxgate check-config {config}
"""

_LISTENER_EXAMPLES = """\
# More listeners (uncomment to use). Plain UDP/TCP carries SIP unencrypted: bind it only to a
# LAN or voice-VLAN address, never toward the Internet.
#
# [[sip.listeners]]  # SIP over TLS on IPv6
# transport = "tls"
# address = "::"
# port = 5061
#
# [[sip.listeners]]  # plain SIP over UDP, LAN only
# transport = "udp"
# address = "192.168.1.10"
# port = 5060
#
# [[sip.listeners]]  # plain SIP over TCP, LAN only
# transport = "tcp"
# address = "192.168.1.10"
# port = 5060
"""

#: Listener keys written out even when they hold the default, so the entry reads on its own.
_LISTENER_KEYS_SHOWN: Final = ("transport", "address", "port")

#: Examples for keys whose default is "unset".
_EXAMPLES: Final[dict[str, str]] = {
    "tls.chain": "tls/chain.pem",
    "tls.client_ca": "tls/client-ca.pem",
    "edge.upstream_ca": "tls/pbx-ca.pem",
}


def _doc_comment(field: Field[Any]) -> list[str]:
    return textwrap.wrap(meta_of(field).doc, 98, initial_indent="# ", subsequent_indent="# ")


def primary_address() -> str:
    """The address this host's default route leaves from (what a device on the Internet
    would reach, before any NAT), or 127.0.0.1 when there is no route. A UDP "connect"
    sends nothing; it only makes the kernel pick the source address."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): never reached
            address = str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"
    return address if address != "0.0.0.0" else "127.0.0.1"  # noqa: S104


def render_default_config(
    host_name: str, config_path: Path | None = None, *, media_address: str = "127.0.0.1"
) -> str:
    """The annotated default ``voxgate.toml``: every key, defaults commented out."""
    explicit: dict[str, object] = {
        "tls.certificate": CERTIFICATE_PATH,
        "tls.private_key": PRIVATE_KEY_PATH,
        # the edge in front of the embedded call control: the TLS listener is the only
        # Internet-facing SIP port, the call control listens on loopback (pbx.listen_*)
        "edge.enabled": True,
        # the SIP listener binds every address; the media relay needs one to put in SDP
        "media.wan_address": media_address,
    }
    if host_name and re.fullmatch(NODE_NAME_PATTERN, host_name) and len(host_name) <= 63:
        explicit["node.name"] = host_name
    defaults = Settings()
    out = [_HEADER.format(config=config_path or CONFIG_NAME)]
    for path, array, _cls, leaves in schema_tables():
        if array:  # the default listeners, written out, then commented examples
            for listener in defaults.sip.listeners:
                out.append(f"[[{path}]]")
                for field in leaves:
                    value = getattr(listener, field.name)
                    out += _doc_comment(field)
                    shown = field.name in _LISTENER_KEYS_SHOWN or value != field.default
                    prefix = "" if shown else "# "
                    out.append(f"{prefix}{field.name} = {format_toml(value)}")
                out.append("")
            out.append(_LISTENER_EXAMPLES)
            continue
        out.append(f"[{path}]")
        for field in leaves:
            key = f"{path}.{field.name}"
            if isinstance(field.default, tuple) and any(
                not isinstance(item, str) for item in field.default
            ):
                continue  # an array of tables: written as its own [[table]]
            out += _doc_comment(field)
            if key in explicit:
                out.append(f"{field.name} = {format_toml(explicit[key])}")
            else:
                value = _EXAMPLES.get(key, field.default)
                out.append(f"# {field.name} = {format_toml(value)}")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
