"""``/api/v1/tls``: the certificate of the node's TLS listeners and the TLS settings in force,
and ``PUT /api/v1/tls/certificate`` to install a customer certificate without a restart,
through :class:`~voxgate.services.certificates.CertificateService` — the service
``voxgate tls`` uses.  System administrators only: the certificate is the node's, and its key
opens every connection to it.

The upload is JSON: PEM text in ``cert`` (the certificate, perhaps followed by its chain),
``key`` (unencrypted) and ``chain`` (optional).  A refused upload is ``422`` with ``field``
(``cert``, ``key`` or ``chain``) and ``reason``, and nothing is written.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from voxgate.services.certificate_checks import CertificateError, CertificateInfo
from voxgate.services.certificates import InstallError, TlsDescription
from voxgate.web.api import describe as d
from voxgate.web.api.v1 import (
    ApiError,
    Services,
    answering,
    invalid,
    json_object,
    string,
    unknown_fields,
)
from voxgate.web.context import actor_of
from voxgate.web.grants import grants_of

BASE: Final = "/api/v1/tls"
FIELDS: Final = ("cert", "key", "chain")


def routes(services: Services) -> list[web.RouteDef]:
    """The resource's routes."""
    return [
        web.get(BASE, answering(services, show)),
        web.put(BASE + "/certificate", answering(services, install)),
    ]


def certificate_json(info: CertificateInfo) -> dict[str, Any]:
    """A certificate as the API shows it."""
    return {
        "subject": info.subject, "common_name": info.common_name, "names": list(info.names),
        "issuer": info.issuer, "not_before": info.not_before.isoformat(),
        "not_after": info.not_after.isoformat(), "fingerprint_sha256": info.fingerprint,
        "key": info.key, "self_signed": info.self_signed, "chain_length": info.chain_length,
    }  # fmt: skip


def description_json(tls: TlsDescription) -> dict[str, Any]:
    """The certificate in use and the TLS settings as the API shows them."""

    def path(value: object) -> str | None:
        return None if value is None else str(value)

    return {
        "certificate": None if tls.certificate is None else certificate_json(tls.certificate),
        "problem": tls.problem or None, "days_left": tls.days_left,
        "warnings": list(tls.warnings), "reload_pending": tls.reload_pending,
        "settings": {"min_version": tls.min_version, "ciphers": tls.ciphers,
                     "verify_client": tls.verify_client, "client_ca": path(tls.client_ca)},
        "files": {"certificate": str(tls.certificate_file),
                  "private_key": str(tls.private_key_file), "chain": path(tls.chain_file)},
    }  # fmt: skip


async def show(request: web.Request, services: Services) -> web.StreamResponse:
    """The certificate in use, its warnings, and the TLS settings in force."""
    (await grants_of(request)).require_system("the TLS settings")
    return web.json_response(description_json(services.tls.describe()))


async def install(request: web.Request, services: Services) -> web.StreamResponse:
    """Check and install a certificate, its key and chain; the node's TLS listeners present
    it at their next handshakes.  ``200`` with the new description."""
    (await grants_of(request)).require_system("installing a certificate")
    body = await json_object(request)
    unknown_fields(body, FIELDS)
    cert = string(body, "cert", required=True) or ""
    key = string(body, "key", required=True) or ""
    chain = "" if body.get("chain") is None else string(body, "chain") or ""
    service = services.tls
    try:
        done = await service.install(cert.encode(), key.encode(), chain.encode() or None,
                                     actor_of(request))  # fmt: skip
    except CertificateError as err:
        raise invalid(err.field, str(err)) from None
    except InstallError as err:
        raise ApiError(500, str(err)) from None
    return web.json_response({**description_json(service.describe()),
                              "reloaded": done.reloaded})  # fmt: skip


_PEM: Final = {"type": "string", "maxLength": 65536}
_DATE: Final = {"type": "string", "format": "date-time"}
_OPTIONAL: Final = {"type": ["string", "null"]}
SCHEMAS: Final[dict[str, Any]] = {
    "Certificate": {
        "type": "object",
        "required": ["subject", "common_name", "names", "issuer", "not_before", "not_after",
                     "fingerprint_sha256", "key", "self_signed", "chain_length"],
        "properties": {
            "subject": {"type": "string"}, "common_name": {"type": "string"},
            "names": {"type": "array", "items": {"type": "string"},
                      "description": "subject alternative names"},
            "issuer": {"type": "string"}, "not_before": _DATE, "not_after": _DATE,
            "fingerprint_sha256": {"type": "string", "examples": ["3A:5F:…"]},
            "key": {"type": "string", "examples": ["RSA 3072", "EC P-256"]},
            "self_signed": {"type": "boolean"},
            "chain_length": {"type": "integer", "description": "certificates sent after it"},
        },
    },
    "Tls": {
        "type": "object",
        "required": ["certificate", "problem", "days_left", "warnings", "reload_pending",
                     "settings", "files"],
        "properties": {
            "certificate": {"anyOf": [d.ref("Certificate"), {"type": "null"}]},
            "problem": {**_OPTIONAL, "description": "why the certificate cannot be read"},
            "days_left": {"type": ["integer", "null"]},
            "warnings": {"type": "array", "items": {"type": "string"},
                         "description": "self-signed, expired, expiring within 30 days, "
                                        "files changed but not loaded yet"},
            "reload_pending": {"type": ["boolean", "null"]},
            "settings": {"type": "object", "description": "[tls] of the config file (read-only)",
                         "required": ["min_version", "ciphers", "verify_client", "client_ca"],
                         "properties": {"min_version": {"type": "string"},
                                        "ciphers": {"type": "string"},
                                        "verify_client": {"type": "string"},
                                        "client_ca": _OPTIONAL}},
            "files": {"type": "object", "required": ["certificate", "private_key", "chain"],
                      "properties": {"certificate": {"type": "string"},
                                     "private_key": {"type": "string"}, "chain": _OPTIONAL}},
        },
    },
}  # fmt: skip
PATHS: Final = {
    BASE: {"get": {
        "summary": "The certificate of the TLS listeners and the TLS settings (system "
                   "administrators)",
        "responses": {"200": d.json_body(d.ref("Tls"), "the certificate in use"),
                      **d.refusals()},
    }},
    BASE + "/certificate": {"put": {
        "summary": "Install a certificate, its key and chain (PEM), used at once by every TLS "
                   "listener without a restart (system administrators)",
        "security": d.STATE_CHANGE,
        "requestBody": d.request_json({
            "type": "object", "required": ["cert", "key"], "additionalProperties": False,
            "properties": {
                "cert": {**_PEM, "description": "the certificate, perhaps followed by its chain"},
                "key": {**_PEM, "description": "its private key, unencrypted"},
                "chain": {"type": ["string", "null"], "maxLength": 65536,
                          "description": "the intermediate certificates, issuer first"},
            },
        }),
        "responses": {
            "200": d.json_body({"allOf": [d.ref("Tls"), {
                "type": "object", "required": ["reloaded"],
                "properties": {"reloaded": {"type": "boolean"}}}]}, "installed and in use"),
            **d.refusals(write=True),
            "500": d.error("the files could not be written, or the node could not load them "
                           "(the previous files are back in place)"),
        },
    }},
}  # fmt: skip
