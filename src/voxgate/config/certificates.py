"""The self-signed server certificate that ``voxgate init`` issues until a real one is installed.

RSA-3072 with SHA-256, valid 825 days (the CA/Browser Forum ceiling that Apple and several
phone vendors still enforce), with subject alternative names for the host name, ``localhost``,
``127.0.0.1`` and ``::1``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RSA_KEY_BITS: Final = 3072
VALIDITY: Final = timedelta(days=825)
#: Backdating absorbs clock skew between this host and the phones.
BACKDATE: Final = timedelta(minutes=5)

_DNS_NAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z"
)

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def generate_private_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-3072 key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)


def is_dns_name(name: str) -> bool:
    """True if *name* is an ASCII host name usable in a dNSName SAN (RFC 5280 §4.2.1.6)."""
    return bool(_DNS_NAME.match(name))


def subject_alt_names(host_name: str) -> list[x509.GeneralName]:
    """The host name (when it is a valid DNS name), localhost and both loopback addresses."""
    dns = [host_name] if is_dns_name(host_name) and host_name.lower() != "localhost" else []
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in [*dns, "localhost"]]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", "::1")]
    return names


def self_signed_certificate(
    key: SigningKey, host_name: str, *, now: datetime
) -> x509.Certificate:
    """Issue a self-signed server (and client) certificate for *host_name* valid from *now*."""
    common_name = host_name if is_dns_name(host_name) and len(host_name) <= 64 else "localhost"
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "voxgate self-signed"),
    ])
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(subject_alt_names(host_name)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                content_commitment=False, data_encipherment=False, key_agreement=False,
                key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )


def private_key_pem(key: SigningKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the file's mode (0600) is what protects it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificate_pem(certificate: x509.Certificate) -> bytes:
    """The certificate in PEM."""
    return certificate.public_bytes(serialization.Encoding.PEM)


def load_signing_key(pem: bytes) -> SigningKey:
    """Load an unencrypted RSA or EC private key; ``ValueError`` says why it cannot be used."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise ValueError("the private key is encrypted") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


def fingerprint(pem: bytes) -> str:
    """SHA-256 fingerprint of the first certificate in *pem*, as colon-separated hex."""
    return fingerprint_of(x509.load_pem_x509_certificate(pem))


def fingerprint_of(certificate: x509.Certificate) -> str:
    """SHA-256 fingerprint of *certificate*, as colon-separated hex."""
    return ":".join(f"{byte:02X}" for byte in certificate.fingerprint(hashes.SHA256()))
