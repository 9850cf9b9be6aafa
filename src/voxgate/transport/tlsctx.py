"""TLS contexts for SIP over TLS (RFC 3261 §26, RFC 5630 §3) and their live reload (EDGE-3).

TLS 1.2 is the floor whatever the configuration says; ``ciphers`` applies to
TLS 1.2 only, TLS 1.3 suites stay at OpenSSL's defaults.  Compression and
renegotiation are off.  A :class:`ReloadableContext` holds the context built
from the files on disk; the stream listener reads :attr:`ReloadableContext.current`
for every connection it accepts (plain TCP accept, then ``loop.start_tls``), so
a replaced certificate takes effect for new handshakes without a restart while
existing connections keep the context they were accepted with.
"""

from __future__ import annotations

import logging
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_VERIFY = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
#: TLS 1.2 suites: forward secret AEAD only.
DEFAULT_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def build_server_context(
    *,
    certificate: Path,
    private_key: Path,
    chain: Path | None = None,
    min_version: str = "1.2",
    ciphers: str = DEFAULT_CIPHERS,
    verify_client: str = "none",
    client_ca: Path | None = None,
) -> ssl.SSLContext:
    """A server context: the certificate followed by its chain, and the key.

    ``min_version`` is ``"1.2"`` or ``"1.3"``; ``verify_client`` is ``"none"``,
    ``"optional"`` or ``"required"`` (mutual TLS, RFC 5922 §7.3), checked against
    ``client_ca`` or, without one, the system store.  Raises ``ValueError`` for an
    unknown setting and ``OSError``/``ssl.SSLError`` for unreadable or mismatched files.
    """
    if min_version not in _VERSIONS:
        raise ValueError(f"TLS min_version must be one of {sorted(_VERSIONS)}, got {min_version!r}")
    if verify_client not in _VERIFY:
        raise ValueError(f"verify_client must be one of {sorted(_VERIFY)}, got {verify_client!r}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = max(_VERSIONS[min_version], ssl.TLSVersion.TLSv1_2)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_ciphers(ciphers)
    if chain is None:
        context.load_cert_chain(certificate, private_key)
    else:
        # load_cert_chain wants the leaf followed by its intermediates in one file; the
        # temporary file holds public certificates only (the key is read from its own file).
        with tempfile.NamedTemporaryFile("wb", suffix=".pem") as combined:
            combined.write(certificate.read_bytes().rstrip() + b"\n" + chain.read_bytes())
            combined.flush()
            context.load_cert_chain(combined.name, private_key)
    context.verify_mode = _VERIFY[verify_client]
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
    elif verify_client != "none":
        context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    return context


def build_client_context(
    *,
    verify: bool = True,
    cafile: Path | None = None,
    certificate: Path | None = None,
    private_key: Path | None = None,
) -> ssl.SSLContext:
    """A client context for outgoing TLS (toward a PBX or trunk), verifying by default.

    ``certificate``/``private_key`` present a client certificate (mutual TLS).
    """
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if certificate is not None:
        context.load_cert_chain(certificate, private_key)
    return context


class ReloadableContext:
    """The current server context, rebuilt by ``factory`` on :meth:`reload` (EDGE-3)."""

    def __init__(self, factory: Callable[[], ssl.SSLContext]) -> None:
        self._factory = factory
        started = time.time()
        self.current: ssl.SSLContext = factory()
        #: When (``time.time()``, as file times count) the files of :attr:`current` were
        #: read: a file changed later is not in use yet.
        self.loaded_at = started

    def reload(self) -> None:
        """Build a fresh context for new handshakes; on failure keep the old one and re-raise."""
        started = time.time()
        self.current = self._factory()
        self.loaded_at = started
        log.info("TLS context reloaded")
