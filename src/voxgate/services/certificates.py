"""The server certificate of the node's TLS listeners — SIP over TLS, the web administration,
provisioning — and a customer certificate installed in place of the self-signed one
``voxgate init`` made, without a restart (issue 6; EDGE-3).  One service for ``voxgate tls``
and the web administration.

:meth:`CertificateService.install` checks everything with ``cryptography`` before it writes
anything: PEM text, no passphrase on the key, the key belongs to the certificate, the dates,
the key's strength, and that each certificate of the chain issued the one before it.  Then it
writes the files as temporary files beside the configured ones and lets OpenSSL load them
with the TLS settings in force; then moves them into place (atomically each, the files they
replace kept as ``<name>.previous``); then reloads the running node's TLS context, when there
is one: new handshakes on every TLS listener present the new certificate, established
connections keep theirs.  If the node cannot load the new files, the previous ones are put
back.

The files are the configured ``tls.certificate`` and ``tls.private_key`` (written ``0600``),
and ``tls.chain`` when it is set (emptied when no chain is uploaded: the old chain belongs to
the old certificate).  Without ``tls.chain`` the chain follows the certificate in its file,
which OpenSSL reads as certificate and chain.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from voxgate.config.schema import TlsSettings
from voxgate.services.audit import Actor, AuditLog
from voxgate.services.certificate_checks import (
    CERT_BEGIN,
    CertificateError,
    CertificateInfo,
    Upload,
    certificate_info,
    check_upload,
)
from voxgate.storage.engine import Store

#: A certificate that expires within this many days is announced.
EXPIRY_WARNING_DAYS: Final = 30
PREVIOUS: Final = ".previous"


class InstallError(Exception):
    """The files could not be written, or the node could not load them (the previous files
    are back in place); the message says which."""


class ContextBuilder(Protocol):
    """Builds a server context from files, as the node does
    (:func:`voxgate.transport.tlsctx.build_server_context`)."""

    def __call__(self, *, certificate: Path, private_key: Path, chain: Path | None,
                 min_version: str, ciphers: str, verify_client: str,
                 client_ca: Path | None) -> ssl.SSLContext: ...  # fmt: skip


class LiveContext(Protocol):
    """The running node's TLS context (:class:`voxgate.transport.tlsctx.ReloadableContext`)."""

    #: When its files were read (``time.time()``).
    loaded_at: float

    def reload(self) -> None:
        """Read the files again for new handshakes; raise and keep the old ones on failure."""


@dataclass(frozen=True, slots=True)
class TlsDescription:
    """The certificate in use and the TLS settings in force (read-only: the config file's)."""

    certificate: CertificateInfo | None
    #: Why the certificate could not be read ("" when it could).
    problem: str
    certificate_file: Path
    private_key_file: Path
    chain_file: Path | None
    min_version: str
    ciphers: str
    verify_client: str
    client_ca: Path | None
    #: The files changed after the running node loaded them (``None``: no node here).
    reload_pending: bool | None
    #: What an administrator should know: self-signed, expired, expiring, not loaded yet.
    warnings: tuple[str, ...]
    days_left: int | None


@dataclass(frozen=True, slots=True)
class Installed:
    """What :meth:`CertificateService.install` did."""

    certificate: CertificateInfo
    #: The files written, and the previous versions kept (``<name>.previous``).
    written: tuple[Path, ...]
    previous: tuple[Path, ...]
    #: The running node reloaded its TLS context (``False``: none here; send it SIGHUP).
    reloaded: bool


class CertificateService:
    """The certificate of ``tls`` settings: described, and replaced by an uploaded one."""

    def __init__(self, store: Store, tls: TlsSettings, *, build: ContextBuilder,
                 live: LiveContext | None = None) -> None:  # fmt: skip
        self.audit = AuditLog(store)
        self.tls = tls
        self.build = build
        self.live = live

    # -- reading -----------------------------------------------------------------------------
    def describe(self, now: datetime | None = None) -> TlsDescription:
        """The certificate in the configured files and the TLS settings."""
        now = now or datetime.now(UTC)
        tls = self.tls
        info, problem = None, ""
        try:
            certificates = _read_certificates(tls.certificate)
            if tls.chain is not None:
                certificates += _read_certificates(tls.chain)
            if not certificates:
                raise ValueError("no certificate in it")
            info = certificate_info(certificates[0], len(certificates) - 1)
        except (OSError, ValueError) as err:
            problem = f"cannot read the certificate {tls.certificate}: {err}"
        pending = None if self.live is None else self._changed_since(self.live.loaded_at)
        return TlsDescription(
            certificate=info, problem=problem, certificate_file=tls.certificate,
            private_key_file=tls.private_key, chain_file=tls.chain, min_version=tls.min_version,
            ciphers=tls.ciphers, verify_client=tls.verify_client, client_ca=tls.client_ca,
            reload_pending=pending, warnings=_warnings(info, now, pending),
            days_left=None if info is None else info.days_left(now),
        )  # fmt: skip

    def _changed_since(self, loaded_at: float) -> bool:
        for path in (self.tls.certificate, self.tls.private_key, self.tls.chain):
            with contextlib.suppress(OSError):
                if path is not None and path.stat().st_mtime > loaded_at:
                    return True
        return False

    # -- installing --------------------------------------------------------------------------
    async def install(self, cert_pem: bytes, key_pem: bytes, chain_pem: bytes | None,
                      actor: Actor, *, now: datetime | None = None) -> Installed:  # fmt: skip
        """Check, write and load a certificate, its key and its chain (the module's
        docstring); :class:`CertificateError` (nothing written) or :class:`InstallError`."""
        upload = check_upload(cert_pem, key_pem, chain_pem, now or datetime.now(UTC))
        info = certificate_info(upload.leaf, len(upload.chain))
        written, previous = self._write(upload)
        reloaded = False
        if self.live is not None:
            try:
                self.live.reload()
            except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
                _restore(previous)
                raise InstallError(f"the node could not load the new certificate ({err}); "
                                   "the previous files are back in place and in use"
                                   ) from err  # fmt: skip
            reloaded = True
        await self.audit.record(actor, "tls.install", info.subject,
                                f"SHA-256 {info.fingerprint}, issued by {info.issuer}, valid "
                                f"until {info.not_after:%Y-%m-%d}, chain of {info.chain_length}"
                                + ("" if reloaded else ", node not reloaded"))  # fmt: skip
        kept = tuple(_previous(file.path) for file in previous if file.old is not None)
        return Installed(info, tuple(written), kept, reloaded)

    def _files(self, upload: Upload) -> list[tuple[Path, bytes, int]]:
        """(path, content, mode) of each file to write."""
        leaf = _pem(upload.leaf)
        chain = b"".join(_pem(cert) for cert, _ in upload.chain)
        key = upload.key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())  # fmt: skip
        tls = self.tls
        if tls.chain is None:
            return [(tls.certificate, leaf + chain, 0o644), (tls.private_key, key, 0o600)]
        return [(tls.certificate, leaf, 0o644), (tls.chain, chain, 0o644),
                (tls.private_key, key, 0o600)]  # fmt: skip

    def _write(self, upload: Upload) -> tuple[list[Path], list[_Replaced]]:
        """Temporary files beside the targets, loaded by OpenSSL, then moved into place (the
        old files kept as ``.previous``): the paths written, and what they replaced."""
        files = self._files(upload)
        temporary: dict[Path, Path] = {}
        try:
            try:
                for path, content, mode in files:
                    temporary[path] = _write_temporary(path, content, mode)
            except OSError as err:
                raise InstallError(f"cannot write the certificate files: {err}") from err
            self._trial(temporary)
            previous = _keep_previous(files)
            done: list[_Replaced] = []
            try:
                for replaced in previous:
                    os.replace(temporary.pop(replaced.path), replaced.path)
                    done.append(replaced)
            except OSError as err:
                _restore(done)
                raise InstallError(f"cannot put the certificate files in place: {err}; the "
                                   "previous files are back") from err  # fmt: skip
        finally:
            _remove(temporary.values())
        for directory in {path.parent for path, _, _ in files}:
            _sync_directory(directory)
        return [path for path, _, _ in files], previous

    def _trial(self, temporary: dict[Path, Path]) -> None:
        """OpenSSL loads the temporary files with the node's settings, or the upload is
        refused."""
        tls = self.tls
        try:
            self.build(certificate=temporary[tls.certificate],
                       private_key=temporary[tls.private_key],
                       chain=None if tls.chain is None else temporary[tls.chain],
                       min_version=tls.min_version, ciphers=tls.ciphers,
                       verify_client=tls.verify_client, client_ca=tls.client_ca)  # fmt: skip
        except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
            raise CertificateError("cert", "OpenSSL does not accept this certificate and key "
                                   f"with the TLS settings in force: {err}") from err  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Replaced:
    """A file about to be replaced: its previous content (``None``: it did not exist)."""

    path: Path
    old: bytes | None
    mode: int


def _keep_previous(files: Sequence[tuple[Path, bytes, int]]) -> list[_Replaced]:
    """Copy each existing target to ``<name>.previous`` (the new file's mode)."""
    kept: list[_Replaced] = []
    for path, _, mode in files:
        try:
            old: bytes | None = path.read_bytes()
        except FileNotFoundError:
            old = None
        except OSError as err:
            raise InstallError(f"cannot read {path}: {err}") from err
        if old is not None:
            try:
                os.replace(_write_temporary(path, old, mode), _previous(path))
            except OSError as err:
                raise InstallError(f"cannot keep {path} as {_previous(path).name}: {err}"
                                   ) from err  # fmt: skip
        kept.append(_Replaced(path, old, mode))
    return kept


def _restore(replaced: Sequence[_Replaced]) -> None:
    """Put the previous contents back (a file that did not exist goes again)."""
    for file in replaced:
        with contextlib.suppress(OSError):
            if file.old is None:
                file.path.unlink()
            else:
                os.replace(_write_temporary(file.path, file.old, file.mode), file.path)


def _warnings(info: CertificateInfo | None, now: datetime, pending: bool | None
              ) -> tuple[str, ...]:  # fmt: skip
    found: list[str] = []
    if pending:
        found.append("The certificate files changed after the node loaded them: it still "
                     "presents the previous certificate until it gets SIGHUP (or a certificate "
                     "is installed here).")  # fmt: skip
    if info is None:
        return tuple(found)
    if info.self_signed:
        found.append("This certificate is self-signed: phones and browsers cannot verify it. "
                     "Install one issued by your certificate authority.")  # fmt: skip
    days = info.days_left(now)
    if now >= info.not_after:
        found.append(f"This certificate expired on {info.not_after:%Y-%m-%d}: phones refuse "
                     "it. Install a renewed one.")  # fmt: skip
    elif days < EXPIRY_WARNING_DAYS:
        found.append(f"This certificate expires in {days} day{'s' if days != 1 else ''} "
                     f"({info.not_after:%Y-%m-%d}): install a renewed one.")  # fmt: skip
    if now < info.not_before:
        found.append(f"This certificate is not valid before {info.not_before:%Y-%m-%d %H:%M} "
                     "UTC.")  # fmt: skip
    return tuple(found)


# -- files ------------------------------------------------------------------------------------
def _read_certificates(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    return x509.load_pem_x509_certificates(data) if CERT_BEGIN in data else []


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _previous(path: Path) -> Path:
    return path.with_name(path.name + PREVIOUS)


def _write_temporary(path: Path, content: bytes, mode: int) -> Path:
    """``content`` in a new file beside ``path`` (mode ``mode`` from the start), on disk."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return Path(name)


def _sync_directory(directory: Path) -> None:
    """The renames in ``directory`` on disk (best effort)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _remove(paths: Iterable[Path]) -> None:
    for path in list(paths):
        with contextlib.suppress(OSError):
            os.unlink(path)
