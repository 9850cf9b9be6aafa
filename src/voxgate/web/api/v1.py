"""What the resource modules of ``/api/v1`` share: the services they call (the CLI's), the
refusals they answer, JSON bodies, paging.

Answers are JSON.  A refusal is ``{"error": <why>}`` with its status: ``401`` (the
authentication middleware: not logged in), ``403`` (CSRF, or a missing grant — see
:mod:`voxgate.web.grants`), ``404`` (no such object), ``409`` (exists already), ``422`` (a
bad value: ``field`` and ``reason`` say which and why; a bad import lists every ``problems``
row with its ``line``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from voxgate.services.audit import AuditLog
from voxgate.services.cdr import CdrService
from voxgate.services.certificates import CertificateService
from voxgate.services.devices import DeviceService
from voxgate.services.netlists import NetlistService
from voxgate.services.sipusers import SipUserService
from voxgate.services.times import utc_time
from voxgate.storage.engine import Store
from voxgate.web.context import actor_of
from voxgate.web.grants import ForbiddenError, Grants, HiddenError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Default and largest page size of a list.
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
_LINE: Final = re.compile(r"line (\d+): (.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Services:
    """The services the API calls: the same the CLI calls."""

    devices: DeviceService
    netlists: NetlistService
    audit: AuditLog
    cdr: CdrService
    #: SIP users and, through them, the embedded call control's extensions (they need the
    #: node's realms and secret key: ``None`` without them, and their routes are left out).
    sipusers: SipUserService | None = None
    #: The certificate of the node's TLS listeners (``None``: its routes are left out).
    certificates: CertificateService | None = None

    @classmethod
    def open(cls, store: Store, sipusers: SipUserService | None = None,
             certificates: CertificateService | None = None) -> Services:  # fmt: skip
        """The services over ``store``."""
        return cls(DeviceService(store), NetlistService(store), AuditLog(store),
                   CdrService(store), sipusers, certificates)  # fmt: skip

    @property
    def users(self) -> SipUserService:
        """The SIP user service (its routes exist only when there is one)."""
        assert self.sipusers is not None, "SIP user routes without the service"
        return self.sipusers

    @property
    def tls(self) -> CertificateService:
        """The certificate service (its routes exist only when there is one)."""
        assert self.certificates is not None, "TLS routes without the service"
        return self.certificates


class ApiError(Exception):
    """A refusal with its status; ``field`` names the bad input, if one."""

    def __init__(self, status: int, message: str, *, field: str | None = None,
                 problems: list[str] | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.status = status
        self.field = field
        self.problems = problems

    def response(self) -> web.Response:
        """The JSON answer."""
        body: dict[str, Any] = {"error": str(self)}
        if self.field is not None:
            body["field"] = self.field
            body["reason"] = str(self)
        if self.problems is not None:
            body["problems"] = [line_problem(p) for p in self.problems]
        return web.json_response(body, status=self.status)


def line_problem(problem: str) -> dict[str, Any]:
    """``"line 3: why"`` as ``{"line": 3, "reason": "why"}`` (line 0: the whole file)."""
    match = _LINE.fullmatch(problem)
    if match is None:
        return {"line": 0, "reason": problem}
    return {"line": int(match.group(1)), "reason": match.group(2)}


def invalid(field: str, reason: str) -> ApiError:
    """A ``422`` for ``field``."""
    return ApiError(422, reason, field=field)


def not_found(message: str) -> ApiError:
    """A ``404``."""
    return ApiError(404, message)


def answering(services: Services, handler: Callable[[web.Request, Services],
              Awaitable[web.StreamResponse]]) -> Handler:  # fmt: skip
    """``handler`` with ``services`` bound; :class:`ApiError` and :class:`ForbiddenError` become
    their JSON answers (a refusal by grant also writes an ``admin.denied`` audit event; a
    :class:`~voxgate.web.grants.HiddenError` is answered ``404``, as a missing object)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request, services)
        except ApiError as err:
            return err.response()
        except ForbiddenError as err:
            await services.audit.record(actor_of(request), "admin.denied",
                                        f"{request.method} {request.path}", str(err))  # fmt: skip
            if isinstance(err, HiddenError):
                return not_found(err.missing).response()
            return ApiError(403, str(err)).response()

    answer.__doc__ = handler.__doc__
    return answer


def outside_scope(grants: Grants) -> Callable[[str], str | None] | None:
    """For an import: why the caller may not write an extension number (``None``: it may);
    ``None`` for a system administrator (every number)."""
    return grants.write_refusal("extension")


def import_refused(problems: list[str]) -> ApiError:
    """The ``422`` of an import with bad rows (the CLI's option named as the API's)."""
    problems = [p.replace("(use --update to change it)", "(use update=true to change it)")
                for p in problems]  # fmt: skip
    return ApiError(422, f"{len(problems)} bad row(s), nothing imported", problems=problems)


def csv_file(text: str, name: str) -> web.Response:
    """A CSV download."""
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


async def json_object(request: web.Request) -> Mapping[str, Any]:
    """The request's body, a JSON object; else ``422``."""
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(422, "the body must be a JSON object", field="body") from None
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object", field="body")
    return body


async def text_body(request: web.Request) -> str:
    """The request's body as text (an import: up to
    :data:`voxgate.web.security.MAX_IMPORT` bytes, the limit on the ``…/import`` paths)."""
    try:
        return (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "the body must be UTF-8 text", field="body") from None


def string(body: Mapping[str, Any], name: str, *, required: bool = False,
           default: str | None = None) -> str | None:  # fmt: skip
    """Field ``name`` of ``body``: a string (else ``422``)."""
    if name not in body:
        if required:
            raise invalid(name, f"{name} is required")
        return default
    value = body[name]
    if not isinstance(value, str):
        raise invalid(name, f"{name} must be a string")
    return value


def boolean(body: Mapping[str, Any], name: str) -> bool | None:
    """Field ``name`` of ``body``: a boolean, or ``None`` when absent (else ``422``)."""
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, bool):
        raise invalid(name, f"{name} must be true or false")
    return value


def unknown_fields(body: Mapping[str, Any], known: tuple[str, ...]) -> None:
    """``422`` for a field the resource does not have."""
    for name in body:
        if name not in known:
            raise invalid(str(name), f"unknown field {str(name)[:40]!r}: "
                          f"use {', '.join(known)}")  # fmt: skip


def query_int(request: web.Request, name: str, default: int, lowest: int, highest: int) -> int:
    """Query parameter ``name``: an integer within bounds (else ``422``)."""
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise invalid(name, f"{name} must be an integer") from None
    if not lowest <= value <= highest:
        raise invalid(name, f"{name} must be from {lowest} to {highest}")
    return value


def query_flag(request: web.Request, name: str) -> bool:
    """Query parameter ``name``: ``true``/``false`` (absent: false; else ``422``)."""
    text = request.query.get(name, "false").lower()
    if text not in ("true", "false", "1", "0"):
        raise invalid(name, f"{name} must be true or false")
    return text in ("true", "1")


def paging(request: web.Request) -> tuple[int, int]:
    """``(offset, limit)`` from the query."""
    return (query_int(request, "offset", 0, 0, 2**31 - 1),
            query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT))  # fmt: skip


def query_time(request: web.Request, name: str) -> datetime | None:
    """Query parameter ``name``: an ISO 8601 time (UTC when it names no zone), else ``422``."""
    text = request.query.get(name)
    if text is None:
        return None
    try:
        return utc_time(text)
    except ValueError:
        raise invalid(name, f"{name} must be an ISO 8601 time, e.g. 2026-12-01T08:00:00Z"
                      ) from None  # fmt: skip
