"""The resources of ``/api/v1`` (one module each), their routes and their OpenAPI paths.

Extensions and SIP users need the node's realms and secret key: without a
:class:`~voxgate.services.sipusers.SipUserService` their routes are left out (``404``); the
TLS resource likewise needs the node's
:class:`~voxgate.services.certificates.CertificateService`."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Final

from aiohttp import web

from voxgate.services.certificates import CertificateService
from voxgate.services.sipusers import SipUserService
from voxgate.storage.engine import Store
from voxgate.web.api import (
    admins,
    audit,
    cdr,
    describe,
    devices,
    extensions,
    netlists,
    sipusers,
    tls,
)
from voxgate.web.api.v1 import Services

MODULES: Final[tuple[ModuleType, ...]] = (devices, netlists, cdr, audit, admins)
#: The modules that need the SIP user service.
USER_MODULES: Final[tuple[ModuleType, ...]] = (extensions, sipusers)
#: The modules that need the certificate service.
TLS_MODULES: Final[tuple[ModuleType, ...]] = (tls,)


def routes(store: Store, users: SipUserService | None = None,
           certificates: CertificateService | None = None) -> list[web.RouteDef]:  # fmt: skip
    """Every resource's routes, over the services of ``store`` (and ``users``,
    ``certificates``)."""
    services = Services.open(store, users, certificates)
    modules = (MODULES + (USER_MODULES if users is not None else ())
               + (TLS_MODULES if certificates is not None else ()))  # fmt: skip
    found: list[web.RouteDef] = []
    for module in modules:
        found += module.routes(services)
    return found


def paths() -> dict[str, Any]:
    """The resources' OpenAPI paths."""
    return {name: item for module in MODULES + USER_MODULES + TLS_MODULES
            for name, item in module.PATHS.items()}  # fmt: skip


def schemas() -> dict[str, Any]:
    """The resources' OpenAPI schemas."""
    found: dict[str, Any] = dict(describe.SCHEMAS)
    for module in MODULES + USER_MODULES + TLS_MODULES:
        found.update(module.SCHEMAS)
    return found
