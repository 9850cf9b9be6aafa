"""The checks of an uploaded server certificate, its key and its chain, before anything is
written (:func:`check_upload`), and what a certificate says (:func:`certificate_info`): PEM
text, no passphrase on the key, the key belongs to the certificate, the dates, the key's
strength, serverAuth, and that each certificate of the chain issued the one before it.
:class:`voxgate.services.certificates.CertificateService` writes and loads what passes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from voxgate.config.certificates import fingerprint_of

#: Which upload a refusal is about: the certificate, the private key or the chain.
Field = Literal["cert", "key", "chain"]
#: Largest file read (a certificate with a long chain is a few KiB).
MAX_PEM: Final = 64 * 1024
#: Most certificates in a chain.
MAX_CHAIN: Final = 8
MIN_RSA_BITS: Final = 2048
#: EC curves phones and browsers accept, by their OpenSSL names.
CURVES: Final = {"secp256r1": "P-256", "secp384r1": "P-384"}
CERT_BEGIN: Final = b"-----BEGIN CERTIFICATE-----"
_KEY_END: Final = b"PRIVATE KEY-----"
_SPKI: Final = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
_WHAT: Final[dict[Field, str]] = {"cert": "certificate", "key": "private key", "chain": "chain"}


class CertificateError(Exception):
    """An upload refused before anything was written; ``field`` names the file at fault."""

    def __init__(self, field: Field, message: str) -> None:
        super().__init__(message)
        self.field: Field = field




@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What a certificate says, as the page, the API and ``voxgate tls show`` present it."""

    subject: str
    common_name: str
    #: Subject alternative names (DNS names, addresses, URIs).
    names: tuple[str, ...]
    issuer: str
    not_before: datetime
    not_after: datetime
    #: SHA-256, colon-separated upper-case hex.
    fingerprint: str
    #: ``RSA 3072``, ``EC P-256``, ``Ed25519``.
    key: str
    self_signed: bool
    #: Certificates sent after it (intermediates, perhaps the root).
    chain_length: int

    def days_left(self, now: datetime) -> int:
        """Whole days until it expires (negative once expired)."""
        return (self.not_after - now) // timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Upload:
    """A checked upload: the certificate, its chain (each with the field it came from), the
    key."""

    leaf: x509.Certificate
    chain: tuple[tuple[x509.Certificate, Field], ...]
    key: PrivateKeyTypes


def check_upload(cert_pem: bytes, key_pem: bytes, chain_pem: bytes | None,
                 now: datetime) -> Upload:  # fmt: skip
    """Every check of an upload (the module's docstring), or :class:`CertificateError`."""
    certificates: list[tuple[x509.Certificate, Field]] = [
        (cert, "cert") for cert in parse_certificates(cert_pem, "cert")
    ]
    if chain_pem is not None and chain_pem.strip():
        certificates += [(cert, "chain") for cert in parse_certificates(chain_pem, "chain")]
    if len(certificates) > 1 + MAX_CHAIN:
        raise CertificateError("chain", f"the chain has {len(certificates) - 1} certificates: "
                               f"at most {MAX_CHAIN}")  # fmt: skip
    key = parse_private_key(key_pem)
    leaf = certificates[0][0]
    if not _same_key(leaf.public_key(), key):
        owner = next((i for i, (cert, _) in enumerate(certificates) if
                      _same_key(cert.public_key(), key)), None)  # fmt: skip
        if owner is not None:
            raise CertificateError("cert", "the certificate file must start with the server "
                                   "certificate: the key belongs to "
                                   f"{_shown(certificates[owner][0])}, number {owner + 1} in "
                                   "the upload")  # fmt: skip
        raise CertificateError("key", f"the private key does not belong to the certificate "
                               f"{_shown(leaf)}")  # fmt: skip
    key_description(leaf.public_key(), "key")
    _check_server_use(leaf)
    for index, (cert, field) in enumerate(certificates):
        _check_dates(cert, field, "the certificate" if index == 0 else
                     f"chain certificate {_shown(cert)}", now)  # fmt: skip
    _check_links(certificates)
    return Upload(leaf, tuple(certificates[1:]), key)


def parse_certificates(data: bytes, field: Field) -> list[x509.Certificate]:
    """The PEM certificates of one upload, or :class:`CertificateError` saying why not."""
    what = _WHAT[field]
    _check_size(data, field)
    if _KEY_END in data:
        raise CertificateError(field, f"the {what} file holds a private key: it belongs in the "
                               "private key field, and should not travel with certificates"
                               )  # fmt: skip
    if CERT_BEGIN not in data:
        if b"-----BEGIN" in data:
            raise CertificateError(field, f"the {what} file holds no certificate (no "
                                   f"{CERT_BEGIN.decode()} block)")  # fmt: skip
        raise CertificateError(field, f"the {what} file is not PEM text (it should start with "
                               f"{CERT_BEGIN.decode()}); a binary DER file converts with "
                               "openssl x509 -inform der -in FILE -out cert.pem")  # fmt: skip
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateError(field, f"the {what} file has a damaged PEM block: its text does "
                               "not decode to a certificate") from None  # fmt: skip
    if len(found) != data.count(CERT_BEGIN):
        raise CertificateError(field, f"the {what} file has a damaged PEM block: "
                               f"{data.count(CERT_BEGIN) - len(found)} of its certificates "
                               "cannot be read")  # fmt: skip
    return found


def parse_private_key(data: bytes) -> PrivateKeyTypes:
    """The unencrypted PEM private key, or :class:`CertificateError` saying why not."""
    _check_size(data, "key")
    encrypted = CertificateError("key", "the private key is encrypted (protected by a "
                                 "passphrase): voxgate must read it unattended; decrypt it with "
                                 "openssl pkey -in key.pem -out plain-key.pem")  # fmt: skip
    if b"ENCRYPTED" in data:
        raise encrypted
    if _KEY_END not in data:
        if CERT_BEGIN in data:
            raise CertificateError("key", "the private key file holds a certificate, not a "
                                   "private key")  # fmt: skip
        raise CertificateError("key", "the private key file is not a PEM private key (it "
                               "should start with -----BEGIN PRIVATE KEY-----)")  # fmt: skip
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise encrypted from None
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateError("key", "the private key file has a damaged or unsupported PEM "
                               "block: its text does not decode to a private key"
                               ) from None  # fmt: skip


def key_description(key: CertificatePublicKeyTypes, field: Field) -> str:
    """``RSA 3072``, ``EC P-256`` or ``Ed25519``; :class:`CertificateError` for a weak or
    unsupported key."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CertificateError(field, f"the RSA key has {key.key_size} bits: at least "
                                   f"{MIN_RSA_BITS} are needed")  # fmt: skip
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = CURVES.get(key.curve.name)
        if curve is None:
            raise CertificateError(field, f"the EC key is on curve {key.curve.name}: use P-256 "
                                   "or P-384, which phones support")  # fmt: skip
        return f"EC {curve}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    raise CertificateError(field, f"{type(key).__name__.removesuffix('PublicKey')} keys are not "
                           f"supported: use RSA ({MIN_RSA_BITS} bits or more), EC P-256 or "
                           "P-384, or Ed25519")  # fmt: skip


def certificate_info(cert: x509.Certificate, chain_length: int) -> CertificateInfo:
    """What ``cert`` says (a key the install would refuse is still described)."""
    try:
        key = key_description(cert.public_key(), "cert")
    except CertificateError as err:
        key = str(err)
    return CertificateInfo(
        subject=_name(cert.subject), common_name=_common_name(cert) or "",
        names=_alt_names(cert), issuer=_name(cert.issuer),
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        fingerprint=fingerprint_of(cert), key=key,
        self_signed=cert.issuer == cert.subject and _issued_by(cert, cert),
        chain_length=chain_length,
    )  # fmt: skip


def _check_size(data: bytes, field: Field) -> None:
    if not data.strip():
        raise CertificateError(field, f"the {_WHAT[field]} file is empty")
    if len(data) > MAX_PEM:
        raise CertificateError(field, f"the {_WHAT[field]} file is too large ({len(data)} "
                               f"bytes; at most {MAX_PEM // 1024} KiB)")  # fmt: skip


def _check_server_use(cert: x509.Certificate) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    except ValueError:
        raise CertificateError("cert", "the certificate's extensions cannot be read") from None
    if ExtendedKeyUsageOID.SERVER_AUTH not in usage and \
            ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in usage:  # fmt: skip
        raise CertificateError("cert", "the certificate is not for TLS servers: its extended "
                               "key usage lacks serverAuth")  # fmt: skip


def _check_dates(cert: x509.Certificate, field: Field, label: str, now: datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateError(field, f"{label} is not valid yet: its validity starts "
                               f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    if now >= cert.not_valid_after_utc:
        raise CertificateError(field, f"{label} has expired: it was valid until "
                               f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")  # fmt: skip


def _check_links(certificates: Sequence[tuple[x509.Certificate, Field]]) -> None:
    """Each certificate is issued by the next one."""
    for index in range(len(certificates) - 1):
        child = certificates[index][0]
        issuer, field = certificates[index + 1]
        if _issued_by(child, issuer):
            continue
        found = next((cert for i, (cert, _) in enumerate(certificates)
                      if i != index and _issued_by(child, cert)), None)  # fmt: skip
        if found is not None:
            raise CertificateError(field, f"the chain is out of order: {_shown(child)} was "
                                   f"issued by {_shown(found)}, which must come right after it "
                                   "(the certificate first, then its issuer, then that one's "
                                   "issuer…)")  # fmt: skip
        raise CertificateError(field, f"the chain does not belong to the certificate: "
                               f"{_shown(issuer)} did not issue {_shown(child)} (issued by "
                               f"{_name(child.issuer)})")  # fmt: skip


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _same_key(public: CertificatePublicKeyTypes, key: PrivateKeyTypes) -> bool:
    return bool(public.public_bytes(*_SPKI) == key.public_key().public_bytes(*_SPKI))


def _common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def _shown(cert: x509.Certificate) -> str:
    return repr(_common_name(cert) or _name(cert.subject))


def _name(name: x509.Name) -> str:
    """A distinguished name in the certificate's order, as ``openssl x509 -subject`` shows it
    (``O=Example, CN=edge.example``)."""
    return ", ".join(attribute.rfc4514_string() for attribute in name)


def _alt_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return ()
    found: list[str] = []
    for name in names:
        if isinstance(name, x509.DNSName | x509.UniformResourceIdentifier | x509.RFC822Name):
            found.append(name.value)
        elif isinstance(name, x509.IPAddress):
            found.append(str(name.value))
    return tuple(found)
