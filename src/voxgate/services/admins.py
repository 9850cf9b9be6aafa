"""Accounts of the web administration (ADMIN-2, ADMIN-5): one service for the CLI and the web.

**Roles.**  ``system``: everything, grants are not consulted.  ``group``: a group
administrator — the forms its *form grants* name (read or write) over the extensions and
devices its *scope grants* name.  ``user``: an end user — its own extensions and devices
(scope grants) and the forms granted to it (its own settings, later its voicemail).

**Grants** (table ``admin_grants``) are rows ``(kind, name, access)``:

- ``("form", <form>, "read"|"write")``: a form of :data:`FORMS`; write implies read (the
  pages of :data:`SYSTEM_FORMS` are for system administrators only: no grant names them);
- ``("extension", <number>, …)`` and ``("device", <MAC>, …)``: one extension or device in
  the account's scope (read: see it; write: change it).

**Passwords** are hashed with argon2id (argon2-cffi's defaults: 64 MiB, 3 passes), checked in
a worker thread, two at a time.  Strength: the rule of SIP secrets
(:mod:`voxgate.services.secrets_policy`: at least 10 characters, zxcvbn score 3, the user
name counts as known to an attacker), with the feedback said for a password.  A password
set by someone else (``voxgate init``, ``voxgate admin add|passwd``) may be marked
*must change*: the web sends its holder to the password page until it is changed.  A
password older than its account's ``password_max_age_days`` (else
``admin.password_max_age_days``; 0 never) counts as must change too.

There is always an enabled system administrator: deleting, disabling or demoting the last
one is refused.  Nobody deletes, disables or demotes its own account, nor resets its own
password (that is the password page's, with the current password): another administrator
does.  Every change writes an audit event (who, from where, what).

**Sessions.**  The web administration passes ``on_access_change``: the service calls it with
the user name whose open sessions must end — deleted, disabled, given another role, a
password set by someone else.  (The web also checks the account at each request, so a
change made by the CLI, in another process, ends them at their next request.)
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from voxgate.policy.devices import format_mac
from voxgate.services.audit import Actor, AuditLog
from voxgate.services.devices import DeviceError, check_mac
from voxgate.services.secrets_policy import generate_secret, weakness
from voxgate.storage.engine import Store
from voxgate.storage.repos.admins import (
    AdminAccountRecord,
    AdminAccountRepo,
    AdminGrantRecord,
    LastSystemAdminError,
)

ROLES: Final = ("system", "group", "user")
ROLE_NAMES: Final = {"system": "system administrator", "group": "group administrator",
                     "user": "end user"}  # fmt: skip
#: The forms (sections) of the web administration a grant can name, in the order the pages
#: show them.  The one list: grants, the CLI, the API and the pages' navigation read it.
FORMS: Final = ("dashboard", "devices", "extensions", "sipusers", "netlists", "cdr", "audit")
#: The sections for system administrators only: no grant opens them (a grant naming them
#: would let an account give itself more, or change the node's certificate).
SYSTEM_FORMS: Final = ("tls", "admins")
GRANT_KINDS: Final = ("form", "extension", "device")
ACCESS: Final = ("read", "write")
#: The first account, made by ``voxgate init``.
FIRST_ADMIN: Final = "admin"
USERNAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
#: Longest password looked at (argon2 would take any; a megabyte is an attack).
MAX_PASSWORD: Final = 256
#: Password checks running at once (each holds 64 MiB while it runs).
PARALLEL_CHECKS: Final = 2
_CLI_HINT: Final = ", or --generate-password"


class AdminError(Exception):
    """A refused change; the message says what and why."""


class UnknownAccountError(AdminError):
    """No such account."""


class AccountExistsError(AdminError):
    """The user name is taken."""


class RefusedChangeError(AdminError):
    """A change the rules refuse whatever its values: the last enabled system administrator,
    or the actor's own account."""


class WeakPasswordError(AdminError):
    """A password too weak to be set; ``feedback`` says why, without command-line advice."""

    def __init__(self, feedback: str) -> None:
        super().__init__(f"{feedback} (or --generate-password)")
        self.feedback = feedback


@dataclass(frozen=True, slots=True)
class AdminAccount:
    """An account as the CLI and the web show it (never the hash)."""

    username: str
    role: str
    must_change: bool
    password_changed_at: datetime
    password_max_age_days: int | None
    enabled: bool
    last_login_at: datetime | None
    last_login_from: str | None
    created_at: datetime

    def password_expires_at(self, default_days: int) -> datetime | None:
        """When the password expires (``None``: never)."""
        days = default_days if self.password_max_age_days is None else self.password_max_age_days
        return None if days <= 0 else self.password_changed_at + timedelta(days=days)

    def must_change_now(self, now: datetime, default_days: int) -> bool:
        """Whether the password must be changed before anything else: set by someone else,
        or expired."""
        expires = self.password_expires_at(default_days)
        return self.must_change or (expires is not None and now >= expires)


def _account(record: AdminAccountRecord) -> AdminAccount:
    return AdminAccount(
        record.username, record.role, record.must_change, record.password_changed_at,
        record.password_max_age_days, record.enabled, record.last_login_at,
        record.last_login_from, record.created_at,
    )  # fmt: skip


def password_weakness(password: str, username: str) -> str | None:
    """Why ``password`` is too weak for ``username`` (``None``: acceptable), said for a
    person at a browser or a terminal."""
    if len(password) > MAX_PASSWORD:
        return f"password is too long: at most {MAX_PASSWORD} characters"
    problem = weakness(password, context=(username, "voxgate", "admin"))
    if problem is None:
        return None
    return problem.replace("secret", "password").replace(_CLI_HINT, "")


def check_username(username: str) -> str:
    """A user name: a letter or digit, then letters, digits, ``. _ @ -``; at most 64."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise AdminError(f"bad user name {username!r}: 1 to 64 letters, digits and . _ @ -, "
                         "starting with a letter or digit")  # fmt: skip
    return username


def check_role(role: str) -> str:
    """``system``, ``group`` or ``user``."""
    if role not in ROLES:
        raise AdminError(f"unknown role {role!r}: use system, group or user")
    return role


def check_grant(kind: str, name: str, access: str) -> AdminGrantRecord:
    """A grant in canonical form (a device's MAC normalized); :class:`AdminError` if bad."""
    if kind not in GRANT_KINDS:
        raise AdminError(f"unknown grant kind {kind!r}: use form, extension or device")
    if access not in ACCESS:
        raise AdminError(f"unknown access {access!r}: use read or write")
    if kind == "form" and name in SYSTEM_FORMS:
        raise AdminError(f"the {name} form is for system administrators only: it cannot be "
                         "granted (give the account the system role instead)")  # fmt: skip
    if kind == "form" and name not in FORMS:
        raise AdminError(f"unknown form {name!r}: one of {', '.join(FORMS)}")
    if kind == "extension" and not re.fullmatch(r"[0-9*#+]{1,15}", name):
        raise AdminError(f"bad extension number {name!r}")
    if kind == "device":
        try:
            name = check_mac(name)
        except DeviceError as err:
            raise AdminError(str(err)) from None
    return AdminGrantRecord(kind, name, access)


def check_max_age(days: int | None) -> int | None:
    """A password age limit in days: 0 (never) to 3650, or ``None`` (the configured one)."""
    if days is not None and not 0 <= days <= 3650:
        raise AdminError("password age limit: 0 (never) to 3650 days")
    return days


def _is_self(actor: Actor, username: str) -> bool:
    """Whether ``actor`` is the holder of ``username`` (the web's ``admin:<name>``)."""
    return actor.name == f"admin:{username}"


def _target(grant: AdminGrantRecord) -> str:
    return f"{grant.kind} {format_mac(grant.name) if grant.kind == 'device' else grant.name}"


class AdminService:
    """Create, change, list and delete accounts; check and change passwords; grants."""

    def __init__(
        self, store: Store, *, on_access_change: Callable[[str], object] | None = None
    ) -> None:
        self.repo = AdminAccountRepo(store)
        self.on_access_change = on_access_change
        self.audit = AuditLog(store)
        self.hasher = PasswordHasher()
        self._checks = asyncio.Semaphore(PARALLEL_CHECKS)
        self._dummy: str | None = None  # a hash to check unknown users' passwords against

    # -- reading ----------------------------------------------------------------------------
    async def get(self, username: str) -> AdminAccount:
        """The account ``username``; :class:`AdminError` when there is none."""
        record = await self.repo.get(username)
        if record is None:
            raise UnknownAccountError(f"no account {username!r}")
        return _account(record)

    async def find(self, username: str) -> AdminAccount | None:
        """The account ``username``, or ``None``."""
        record = await self.repo.get(username)
        return None if record is None else _account(record)

    async def accounts(self) -> list[AdminAccount]:
        """Every account, by user name."""
        return [_account(r) for r in await self.repo.all()]

    async def grants(self, username: str) -> list[AdminGrantRecord]:
        """The grants of ``username``."""
        await self.get(username)
        return await self.repo.grants(username)

    # -- changes ----------------------------------------------------------------------------
    async def add(
        self, username: str, password: str, role: str, actor: Actor, *,
        must_change: bool = False, enabled: bool = True, max_age_days: int | None = None,
    ) -> AdminAccount:  # fmt: skip
        """Create an account; refused for a taken name or a weak password."""
        check_username(username)
        check_role(role)
        check_max_age(max_age_days)
        stored = await self._hash(password, username)
        now = datetime.now(UTC)
        record = AdminAccountRecord(username, role, stored, must_change, now, max_age_days,
                                    enabled, None, None, now, now)  # fmt: skip
        if not await self.repo.add(record):
            raise AccountExistsError(f"account {username!r} exists")
        detail = ROLE_NAMES[role] + (", must change its password" if must_change else "") + (
            "" if enabled else ", disabled")
        await self.audit.record(actor, "admin.add", username, detail)
        return _account(record)

    async def create_first_admin(self, actor: Actor) -> str | None:
        """With no account at all: create system administrator ``admin`` with a generated
        password that must be changed at the first login, and return that password (to be
        shown once); ``None`` when accounts exist."""
        if await self.repo.count():
            return None
        password = generate_secret()
        await self.add(FIRST_ADMIN, password, "system", actor, must_change=True)
        return password

    async def change(
        self, username: str, actor: Actor, *, role: str | None = None,
        enabled: bool | None = None, must_change: bool | None = None,
        max_age_days: int | str | None = "keep",
    ) -> AdminAccount:  # fmt: skip
        """Change the role, ``enabled``, ``must_change`` or the password age limit
        (``None``: the configured one; ``"keep"``: unchanged).  Refused: the last enabled
        system administrator disabled or demoted, and the actor's own role or state."""
        fields: dict[str, object] = {}
        if role is not None:
            fields["role"] = check_role(role)
        if enabled is not None:
            fields["enabled"] = enabled
        if must_change is not None:
            fields["must_change"] = must_change
        if max_age_days != "keep":
            assert not isinstance(max_age_days, str)
            fields["password_max_age_days"] = check_max_age(max_age_days)
        if not fields:
            raise AdminError("nothing to change")
        before = await self.get(username)
        role_changes = role is not None and role != before.role
        disabled = enabled is False and before.enabled
        if _is_self(actor, username) and (role_changes or disabled):
            raise RefusedChangeError("you cannot change the role of your own account or disable "
                                     "it: another system administrator can")  # fmt: skip
        fields["updated_at"] = datetime.now(UTC)
        await self._update(username, **fields)
        shown = ", ".join(f"{k} = {v}" for k, v in fields.items() if k != "updated_at")
        await self.audit.record(actor, "admin.change", username, shown)
        if role_changes or disabled:
            self._access_changed(username)
        return await self.get(username)

    async def set_password(
        self, username: str, password: str, actor: Actor, *, must_change: bool = True
    ) -> None:
        """Set another account's password (by default to be changed at its next login); its
        open sessions end.  Not one's own: :meth:`change_own_password` asks for the current
        one."""
        if _is_self(actor, username):
            raise RefusedChangeError("change your own password on the password page (it asks "
                                     "for the current one)")  # fmt: skip
        stored = await self._hash(password, username)
        now = datetime.now(UTC)
        await self._update(username, password_hash=stored, must_change=must_change,
                           password_changed_at=now, updated_at=now)  # fmt: skip
        await self.audit.record(actor, "admin.password", username,
                                "set; must be changed at the next login" if must_change
                                else "set")  # fmt: skip
        self._access_changed(username)

    async def change_own_password(
        self, username: str, current: str, new: str, source: str
    ) -> None:
        """The holder of ``username`` changes its password: the current one must be right,
        the new one strong and different."""
        if not await self.check_password(username, current):
            raise AdminError("the current password is wrong")
        if new == current:
            raise AdminError("the new password must differ from the current one")
        stored = await self._hash(new, username)
        now = datetime.now(UTC)
        await self._update(username, password_hash=stored, must_change=False,
                           password_changed_at=now, updated_at=now)  # fmt: skip
        await self.audit.record(Actor(f"admin:{username}", source), "admin.password", username,
                                "changed by its holder")  # fmt: skip

    async def delete(self, username: str, actor: Actor) -> None:
        """Delete an account and its grants (never the last enabled system administrator,
        never the actor's own); its open sessions end."""
        if _is_self(actor, username):
            raise RefusedChangeError("you cannot delete your own account: another system "
                                     "administrator can")  # fmt: skip
        try:
            deleted = await self.repo.delete(username)
        except LastSystemAdminError as err:
            raise RefusedChangeError(str(err)) from None
        if not deleted:
            raise UnknownAccountError(f"no account {username!r}")
        await self.audit.record(actor, "admin.delete", username)
        self._access_changed(username)

    async def grant(
        self, username: str, kind: str, name: str, access: str, actor: Actor
    ) -> bool:
        """Add or change one grant; whether anything changed."""
        grant = check_grant(kind, name, access)
        changed = await self.repo.put_grant(username, grant)
        if changed is None:
            raise UnknownAccountError(f"no account {username!r}")
        if changed:
            await self.audit.record(actor, "admin.grant", username,
                                    f"{_target(grant)}: {access}")  # fmt: skip
        return changed

    async def revoke(self, username: str, kind: str, name: str, actor: Actor) -> bool:
        """Remove one grant; whether there was one (a grant of a system form, from before
        they were refused, can still be removed)."""
        system_form = kind == "form" and name in SYSTEM_FORMS
        grant = AdminGrantRecord(kind, name, "read") if system_form else check_grant(
            kind, name, "read")
        removed = await self.repo.delete_grant(username, grant.kind, grant.name)
        if removed:
            await self.audit.record(actor, "admin.revoke", username, _target(grant))
        return removed

    # -- passwords --------------------------------------------------------------------------
    async def check_password(self, username: str, password: str) -> bool:
        """Whether ``password`` is ``username``'s (an unknown user costs the same time)."""
        record = await self.repo.get(username)
        stored = record.password_hash if record is not None else await self._dummy_hash()
        right = await self._verify(stored, password)
        return right and record is not None

    async def authenticate(self, username: str, password: str, source: str) -> AdminAccount | None:
        """The account when ``password`` is right and the account enabled, else ``None``
        (the same answer, in about the same time, for an unknown user, a wrong password and
        a disabled account).  A success is remembered as the last login."""
        record = await self.repo.get(username) if len(username) <= 64 else None
        stored = record.password_hash if record is not None else await self._dummy_hash()
        right = await self._verify(stored, password)
        if record is None or not right or not record.enabled:
            return None
        fields: dict[str, object] = {"last_login_at": datetime.now(UTC),
                                     "last_login_from": source[:80]}  # fmt: skip
        if self.hasher.check_needs_rehash(record.password_hash):  # stronger parameters now
            fields["password_hash"] = await asyncio.to_thread(self.hasher.hash, password)
        await self.repo.update(username, **fields)
        return _account(record)

    async def _hash(self, password: str, username: str) -> str:
        problem = password_weakness(password, username)
        if problem is not None:
            raise WeakPasswordError(problem)
        async with self._checks:
            return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, stored: str, password: str) -> bool:
        if len(password) > MAX_PASSWORD:
            return False
        async with self._checks:
            return await asyncio.to_thread(self._verify_now, stored, password)

    def _verify_now(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await asyncio.to_thread(self.hasher.hash, generate_secret())
        return self._dummy

    def _access_changed(self, username: str) -> None:
        if self.on_access_change is not None:
            self.on_access_change(username)

    async def _update(self, username: str, **fields: object) -> None:
        try:
            found = await self.repo.update(username, **fields)
        except LastSystemAdminError as err:
            raise RefusedChangeError(str(err)) from None
        if not found:
            raise UnknownAccountError(f"no account {username!r}")
