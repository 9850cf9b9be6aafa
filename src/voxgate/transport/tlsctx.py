"""TLS contexts for SIP over TLS (RFC 3261 §26, RFC 5630) and their live reload (EDGE-3).

TLS 1.2 is the floor whatever the configuration says; TLS 1.3 suites are
OpenSSL's.  A :class:`ReloadableContext` gives listeners one context whose
SNI callback (called for every ClientHello, with or without SNI) switches the
handshake to the context current at that moment, so a replaced certificate
takes effect for new handshakes without a restart while existing connections
keep theirs.
"""

from __future__ import annotations

import logging
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_VERIFY = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def build_server_context(
    *,
    certificate: Path,
    private_key: Path,
    chain: Path | None = None,
    min_version: str = "1.2",
    ciphers: str = "ECDHE+AESGCM:ECDHE+CHACHA20",
    verify_client: str = "none",
    client_ca: Path | None = None,
) -> ssl.SSLContext:
    """A server context: certificate (+ chain) and key, TLS >= 1.2, the given TLS 1.2 ciphers."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = max(_VERSIONS[min_version], ssl.TLSVersion.TLSv1_2)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_ciphers(ciphers)
    if chain is None:
        context.load_cert_chain(certificate, private_key)
    else:
        # load_cert_chain wants the leaf followed by its intermediates in one file.
        with tempfile.NamedTemporaryFile("wb", suffix=".pem") as combined:
            combined.write(certificate.read_bytes().rstrip() + b"\n" + chain.read_bytes())
            combined.flush()
            context.load_cert_chain(combined.name, private_key)
    context.verify_mode = _VERIFY[verify_client]
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
    return context


def build_client_context(
    *,
    verify: bool = True,
    cafile: Path | None = None,
    certificate: Path | None = None,
    private_key: Path | None = None,
) -> ssl.SSLContext:
    """A client context for outgoing TLS (toward a PBX or trunk): verifying by default."""
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if certificate is not None:
        context.load_cert_chain(certificate, private_key)
    return context


class ReloadableContext:
    """The current server context, rebuilt from its files on :meth:`reload`."""

    def __init__(self, factory: Callable[[], ssl.SSLContext]) -> None:
        self._factory = factory
        self.current = factory()
        self._listener = self.current
        self._listener.sni_callback = self._select

    def listener_context(self) -> ssl.SSLContext:
        """The context to give a listening socket."""
        return self._listener

    def _select(self, ssl_object: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
        if ssl_object.context is not self.current:
            ssl_object.context = self.current

    def reload(self) -> None:
        """Build a fresh context; on failure keep the old one and re-raise."""
        self.current = self._factory()
        log.info("TLS context reloaded")
