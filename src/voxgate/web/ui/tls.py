"""The TLS page: the certificate the node's TLS listeners present (a warning when it is
self-signed, expired or expiring within 30 days), the TLS settings in force, and the upload of
a customer certificate, its private key and chain that replaces it at once, without a restart.
The upload goes through :class:`~voxgate.services.certificates.CertificateService`, the
service of ``voxgate tls install``: every check before anything is written, the previous
files kept, the audit event."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from voxgate.services.certificate_checks import MAX_PEM, CertificateError
from voxgate.services.certificates import CertificateService, InstallError
from voxgate.web.context import actor_of, context_of
from voxgate.web.ui.common import capitalized, done, render, system_only

#: The form's file fields and the file each holds.
UPLOADS: Final = (("certificate", "certificate"), ("private_key", "private key"),
                  ("chain", "chain"))  # fmt: skip


def _service(request: web.Request) -> CertificateService:
    service = context_of(request).certificates
    assert service is not None, "the TLS page without the certificate service"
    return service


async def tls_page(request: web.Request, *, status: int = 200,
                   error: str = "") -> web.Response:  # fmt: skip
    """``GET /tls``: the certificate in use, the TLS settings, the upload form."""
    return render(request, "tls.html", status, section="/tls", error=error,
                  tls=_service(request).describe(), max_kib=MAX_PEM // 1024)  # fmt: skip


async def install(request: web.Request) -> web.StreamResponse:
    """``POST /tls``: three files (certificate, private key, optional chain), checked and
    installed; back to the page with the new certificate."""
    form = await request.post()
    files: dict[str, bytes] = {}
    for name, what in UPLOADS:
        upload = form.get(name)
        data = upload.file.read(MAX_PEM + 1) if isinstance(upload, web.FileField) else b""
        if len(data) > MAX_PEM:
            return await tls_page(request, status=400, error=f"The {what} file is too large "
                                  f"(at most {MAX_PEM // 1024} KiB).")  # fmt: skip
        files[name] = data
    for name, what in UPLOADS[:2]:
        if not files[name].strip():
            return await tls_page(request, status=400, error=f"Choose the {what} file.")
    try:
        chain = files["chain"] or None
        installed = await _service(request).install(
            files["certificate"], files["private_key"], chain, actor_of(request)
        )
    except CertificateError as err:
        return await tls_page(request, status=400, error=capitalized(str(err)))
    except InstallError as err:
        return await tls_page(request, status=500, error=capitalized(str(err)))
    info = installed.certificate
    raise done("/tls", "tls.install", info.common_name or info.subject)


def routes() -> list[web.RouteDef]:
    """The TLS page's routes."""
    return [
        web.get("/tls", system_only(tls_page)),
        web.post("/tls", system_only(install)),
    ]
