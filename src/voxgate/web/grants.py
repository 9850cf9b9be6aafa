"""Grant enforcement (ADMIN-5): what the logged-in account may read and change.

The rule, in full (grants are the rows of :mod:`voxgate.services.admins`):

- **system** administrators may do everything; their grants are not consulted.
- **group** administrators may use a form (one of
  :data:`~voxgate.services.admins.FORMS`: ``devices``, ``netlists``, …) only as far as a
  ``("form", <form>, read|write)`` grant allows (write implies read), and on a resource that
  has a scope (a device, an extension) only when a ``("device", <MAC>, …)`` or
  ``("extension", <number>, …)`` grant puts it in their scope with that access too.
- **end users** may only *read* their own devices and extensions (the scope grants that name
  them); form grants do not give them more, and they change nothing.
- the sections of :data:`~voxgate.services.admins.SYSTEM_FORMS` (accounts, TLS) are for
  system administrators only, whatever the grants.

A refusal is :class:`ForbiddenError` (the API answers ``403`` with a JSON error naming what is
missing, and writes an ``admin.denied`` audit event; a page answers a ``403`` page saying
the same).  Each request reads the account's grants again (once: :func:`grants_of` keeps them
with the request), so a grant revoked by the CLI applies at the next request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from aiohttp import web

from voxgate.services.admins import SYSTEM_FORMS
from voxgate.storage.repos.admins import AdminGrantRecord
from voxgate.web.context import context_of, session_of

Access = Literal["read", "write"]
_RANK: Final = {"read": 1, "write": 2}
#: The forms an end user may read (their own objects only).
USER_FORMS: Final = frozenset({"devices", "extensions"})



class ForbiddenError(Exception):
    """The account lacks a grant; the message says which, for the person refused."""


class HiddenError(ForbiddenError):
    """A refusal answered as "not found": the object is outside everything the account may
    read, and a refusal would tell it that the object exists.  The message (the real reason)
    goes to the audit log; ``missing`` is what the account is told, the same words as for an
    object that does not exist."""

    def __init__(self, reason: str, missing: str) -> None:
        super().__init__(reason)
        self.missing = missing


@dataclass(frozen=True, slots=True)
class Grants:
    """One account's role and grants, as read at the start of a request."""

    username: str
    role: str
    #: form → strongest access granted.
    forms: Mapping[str, str] = field(default_factory=dict)
    #: (kind, name) → strongest access granted, for kinds ``device`` and ``extension``.
    scope: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def of(cls, username: str, role: str, records: Iterable[AdminGrantRecord]) -> Grants:
        """The grants of ``username`` (role ``role``) from its grant rows."""
        forms: dict[str, str] = {}
        scope: dict[tuple[str, str], str] = {}
        for grant in records:
            if grant.kind == "form":
                if _RANK[grant.access] > _RANK.get(forms.get(grant.name, ""), 0):
                    forms[grant.name] = grant.access
            else:
                key = (grant.kind, grant.name)
                if _RANK[grant.access] > _RANK.get(scope.get(key, ""), 0):
                    scope[key] = grant.access
        return cls(username, role, forms, scope)

    @property
    def is_system(self) -> bool:
        """A system administrator: everything is allowed."""
        return self.role == "system"

    def allows_form(self, form: str, access: Access) -> bool:
        """Whether the account may use ``form`` with ``access``."""
        if self.is_system:
            return True
        if form in SYSTEM_FORMS:
            return False
        if self.role == "user":
            return access == "read" and form in USER_FORMS
        return _RANK.get(self.forms.get(form, ""), 0) >= _RANK[access]

    def allows(self, kind: str, name: str, access: Access) -> bool:
        """Whether ``name`` (a normalized MAC for ``device``) of ``kind`` is in the account's
        scope with ``access`` (end users: read only)."""
        if self.is_system:
            return True
        if self.role == "user" and access != "read":
            return False
        return _RANK.get(self.scope.get((kind, name), ""), 0) >= _RANK[access]

    def in_scope(self, kind: str) -> frozenset[str] | None:
        """The names of ``kind`` the account may read; ``None``: every one (system)."""
        if self.is_system:
            return None
        return frozenset(name for k, name in self.scope if k == kind)

    def write_refusal(self, kind: str) -> Callable[[str], str | None] | None:
        """For an import (the services' ``refuse=``): why the account may not write the object
        of ``kind`` a row names (``None``: it may); ``None`` for a system administrator (every
        one)."""
        if self.is_system:
            return None

        def refuse(name: str) -> str | None:
            if self.allows(kind, name, "write"):
                return None
            return f"{kind} {name} is not in the write scope of {self.username}"

        return refuse

    def require_form(self, form: str, access: Access) -> None:
        """:class:`ForbiddenError` unless :meth:`allows_form`."""
        if not self.allows_form(form, access):
            raise ForbiddenError(f"{self.username} has no {access} grant for the {form} form")

    def require(self, form: str, access: Access, kind: str, name: str, shown: str) -> None:
        """:class:`ForbiddenError` unless the form and the object ``name`` (shown as ``shown``)
        are allowed with ``access``."""
        self.require_form(form, access)
        if not self.allows(kind, name, access):
            raise ForbiddenError(f"{kind} {shown} is not in the {access} scope of {self.username}")

    def require_visible(
        self, form: str, access: Access, kind: str, name: str, shown: str, *, missing: str
    ) -> None:
        """:meth:`require`, for an object found by another name than ``name`` (a SIP user by
        its user name, scoped by its extension): :class:`HiddenError` saying ``missing`` when
        the account may not even read it, so that it cannot tell which objects exist outside
        its scope; a plain refusal when it may read but not ``access`` it."""
        self.require_form(form, access)
        if not self.allows(kind, name, "read"):
            raise HiddenError(f"{kind} {shown} is not in the read scope of {self.username}",
                              missing)  # fmt: skip
        self.require(form, access, kind, name, shown)

    def require_system(self, what: str) -> None:
        """:class:`ForbiddenError` unless a system administrator."""
        if not self.is_system:
            raise ForbiddenError(f"{what} is for system administrators only")


#: Where :func:`grants_of` keeps the grants of a request: a typed key from aiohttp 3.14 on (a
#: string key warns there), a string before.
_KEY: Final[Any] = (web.RequestKey("voxgate_grants", Grants) if hasattr(web, "RequestKey")
                    else "voxgate_grants")  # fmt: skip


async def grants_of(request: web.Request) -> Grants:
    """The grants of the caller of ``request`` (read from the store at its first call for
    this request, then kept with it)."""
    known = request.get(_KEY)
    if isinstance(known, Grants):
        return known
    session = session_of(request)
    if session.role == "system":
        grants = Grants(session.username, session.role)
    else:
        records = await context_of(request).admins.grants(session.username)
        grants = Grants.of(session.username, session.role, records)
    request[_KEY] = grants
    return grants


def known_grants(request: web.Request) -> Grants | None:
    """The grants :func:`grants_of` read for ``request``, if it was called."""
    known = request.get(_KEY)
    return known if isinstance(known, Grants) else None
