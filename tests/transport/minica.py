"""A tiny certificate authority for the tests: a root, an intermediate, server certificates
with any key, dates and usage, as a customer's CA would issue them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = CertificateIssuerPrivateKeyTypes


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: Key

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())  # fmt: skip

    def encrypted_key_pem(self, traditional: bool = False) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL if traditional
            else serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret passphrase"),
        )  # fmt: skip

    @property
    def fingerprint(self) -> str:
        return ":".join(f"{b:02X}" for b in self.cert.fingerprint(hashes.SHA256()))


def p256() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key(bits: int = 2048) -> Key:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def issue(subject: str, *, issuer: Issued | None = None, ca: bool = False, key: Key | None = None,
          days: tuple[float, float] = (-1, 90), usage: tuple[x509.ObjectIdentifier, ...] | None = None,
          names: tuple[str, ...] | None = None) -> Issued:  # fmt: skip
    """A certificate for ``subject`` valid from ``days[0]`` to ``days[1]`` days from now,
    signed by ``issuer`` (self-signed without one); a server certificate (SANs ``names``,
    default the subject, ``localhost`` and 127.0.0.1; extended key usage ``usage``, default
    serverAuth) unless ``ca``."""
    key = key or p256()
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Customer")])  # fmt: skip
    signer = (name, key) if issuer is None else (issuer.cert.subject, issuer.key)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(signer[0])
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=days[0]))
        .not_valid_after(now + timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )  # fmt: skip
    if not ca:
        general: list[x509.GeneralName] = []
        for text in names if names is not None else (subject, "localhost", "127.0.0.1"):
            try:
                general.append(x509.IPAddress(ipaddress.ip_address(text)))
            except ValueError:
                general.append(x509.DNSName(text))
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(usage or (ExtendedKeyUsageOID.SERVER_AUTH,))), critical=False
        )
    algorithm = None if isinstance(signer[1], ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer[1], algorithm), key)


@dataclass(frozen=True)
class Pki:
    """Root → intermediate → server certificate ``edge.example``."""

    root: Issued
    intermediate: Issued
    leaf: Issued

    def server(self, subject: str = "edge.example", **kwargs: object) -> Issued:
        """Another server certificate from the intermediate."""
        return issue(subject, issuer=self.intermediate, **kwargs)  # type: ignore[arg-type]


def pki(name: str = "Example Root CA") -> Pki:
    root = issue(name, ca=True, days=(-30, 3650))
    intermediate = issue(f"{name} Intermediate", issuer=root, ca=True, days=(-30, 1800))
    return Pki(root, intermediate, issue("edge.example", issuer=intermediate))
