"""The resources of ``/api/v1`` (one module each), their routes and their OpenAPI paths."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from voxgate.storage.engine import Store
from voxgate.web.api import audit, cdr, describe, devices, netlists
from voxgate.web.api.v1 import Services

MODULES: Final = (devices, netlists, cdr, audit)


def routes(store: Store) -> list[web.RouteDef]:
    """Every resource's routes, over the services of ``store``."""
    services = Services.open(store)
    return [route for module in MODULES for route in module.routes(services)]


def paths() -> dict[str, Any]:
    """The resources' OpenAPI paths."""
    return {name: item for module in MODULES for name, item in module.PATHS.items()}


def schemas() -> dict[str, Any]:
    """The resources' OpenAPI schemas."""
    found: dict[str, Any] = dict(describe.SCHEMAS)
    for module in MODULES:
        found.update(module.SCHEMAS)
    return found
