"""SIP users of the edge and their two credential levels (AUTH-4).

- **Level 1, device ↔ edge**: the username and password a phone registers with at the
  edge, in the edge's digest realm.  Stored as HA1 values for MD5 and SHA-256 only; a
  generated password is shown once.  Strong-password rules as for extensions
  (:mod:`voxgate.services.secrets_policy`).
- **Level 2, edge ↔ call control**: the extension the user reaches the call control as,
  and the digest username and secret the edge answers the call control's challenges with.
  The edge needs that secret in clear, so it is stored encrypted with the node's key file
  (:mod:`voxgate.storage.secretbox`, bound to the username).  It must differ from the
  level-1 password: a device never learns the secret that opens the call control.

``device_mac`` ties a user to one device: the edge lets it be used from that device only.
Every change bumps ``sip_users_generation`` (running nodes reload their credential table)
and writes an audit event, never a secret.

CSV export carries the level-1 HA1 values (never a password: none is stored) and leaves
the level-2 secret out unless asked (``include_secrets``): such a file opens the call
control.  An export with secrets imports as is on another node with the same realm (and
any key file); one without them can update existing users but not create new ones.
"""

from __future__ import annotations

import asyncio
import builtins
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from sqlalchemy.exc import IntegrityError

from voxgate.policy.devices import MacError, format_mac, normalize_mac
from voxgate.services import csvrows
from voxgate.services.audit import Actor, AuditLog
from voxgate.services.extensions import (
    HEX32,
    HEX64,
    ExtensionError,
    ExtensionService,
    check_number,
    hashes,
)
from voxgate.services.secrets_policy import generate_secret, weakness
from voxgate.sip.digest import ha1
from voxgate.storage.engine import Store
from voxgate.storage.repos.sip_users import SipUserRecord, SipUserRepo
from voxgate.storage.secretbox import SecretBox, SecretBoxError

USERNAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_UPSTREAM: Final = 64
MAX_UPSTREAM_SECRET: Final = 128
#: Passed as ``device_mac`` to leave the device binding as it is.
KEEP: Final = "keep"
#: Columns of an export; ``upstream_secret`` is empty unless secrets were asked for.
EXPORT_COLUMNS: Final = ("username", "extension", "upstream_username", "upstream_secret",
                         "device_mac", "enabled", "realm", "ha1_md5", "ha1_sha256")  # fmt: skip
IMPORT_COLUMNS: Final = ("username", "password", *EXPORT_COLUMNS[1:])


class SipUserError(Exception):
    """A refused change; the message says what and why."""


class SipUserImportError(SipUserError):
    """A refused import: every bad line, nothing written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} bad row(s), nothing imported:\n" + "\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SipUserImport:
    """What an import did."""

    added: int
    updated: int


@dataclass(frozen=True, slots=True)
class _Row:
    """One parsed import row; ``None``: not given (kept for an existing user)."""

    username: str
    extension: str
    upstream_username: str
    level1: tuple[str, str] | None  # HA1 MD5, SHA-256 in the edge's realm
    password: str | None
    upstream_secret: str | None
    device_mac: str | None
    enabled: bool | None


@dataclass(frozen=True, slots=True)
class SipUserAdded:
    """A new user, and the clear secrets that were generated for it — shown once, never
    stored in clear (``None``: given by the caller, not generated)."""

    record: SipUserRecord
    password: str | None
    upstream_secret: str | None


@dataclass(frozen=True, slots=True)
class SipUserCredentials:
    """One entry of the edge's in-memory credential table: the level-1 HA1 values and the
    level-2 secret in clear (``None`` when it does not decrypt with this node's key)."""

    username: str
    realm: str
    ha1_md5: str
    ha1_sha256: str
    extension: str
    upstream_username: str
    upstream_secret: str | None
    device_mac: str | None
    enabled: bool


def check_username(username: str) -> str:
    """A SIP username: 1-64 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or
    a digit."""
    if USERNAME_RE.fullmatch(username) is None:
        raise SipUserError(f"bad username {username[:70]!r}: 1 to 64 letters, digits, '.', '_' "
                           "or '-'")  # fmt: skip
    return username


def check_extension(extension: str) -> str:
    """The call-control extension a user maps to: 2 to 15 digits."""
    try:
        return check_number(extension)
    except ExtensionError as err:
        raise SipUserError(str(err)) from None


def check_upstream_username(name: str) -> str:
    """The digest username toward the call control: printable, no spaces or quotes."""
    if not 1 <= len(name) <= MAX_UPSTREAM or any(
        c.isspace() or not c.isprintable() or c in '"\\' for c in name
    ):
        raise SipUserError(f"bad upstream username {name[:70]!r}: 1 to {MAX_UPSTREAM} printable "
                           "characters, no spaces or quotes")  # fmt: skip
    return name


def check_upstream_secret(secret: str) -> str:
    """A level-2 secret as the call control knows it (its own rules apply there; here only:
    not empty, at most 128 characters, no spaces or control characters)."""
    if not 1 <= len(secret) <= MAX_UPSTREAM_SECRET or any(
        c.isspace() or not c.isprintable() for c in secret
    ):
        raise SipUserError(f"bad upstream secret: 1 to {MAX_UPSTREAM_SECRET} characters, no "
                           "spaces or control characters")  # fmt: skip
    return secret


def check_password(password: str, username: str, extension: str) -> str:
    """A level-1 (device) password that is strong enough."""
    problem = weakness(password, context=(username, extension))
    if problem is not None:
        raise SipUserError(problem.replace("secret", "password"))
    return password


def check_device(mac: str | None) -> str | None:
    """A normalized MAC, or ``None``."""
    if mac is None or mac == "":
        return None
    try:
        return normalize_mac(mac)
    except MacError as err:
        raise SipUserError(str(err)) from None


def same_secret(username: str, realm: str, ha1_md5: str, upstream_secret: str) -> bool:
    """Whether ``upstream_secret`` is the level-1 password whose HA1 is ``ha1_md5``."""
    return ha1("MD5", username, realm, upstream_secret) == ha1_md5


EQUAL: Final = ("the upstream (level-2) secret must differ from the device (level-1) "
                "password")  # fmt: skip


class SipUserService:
    """Use cases on SIP users, for one edge realm and one key file's key."""

    def __init__(self, store: Store, realm: str, key: bytes, *, pbx_realm: str | None = None
                 ) -> None:  # fmt: skip
        self.repo = SipUserRepo(store)
        self.audit = AuditLog(store)
        self.realm = realm
        self.box = SecretBox(key)
        #: The embedded call control's extensions (their realm: ``pbx.realm``).
        self.extensions = ExtensionService(store, pbx_realm or realm)

    # -- the secret box ---------------------------------------------------------------------
    def seal(self, username: str, secret: str) -> str:
        """The stored form of ``username``'s level-2 secret."""
        return self.box.seal(secret, aad=f"sip_users:{username}")

    def unseal(self, record: SipUserRecord) -> str:
        """A user's level-2 secret in clear, or :class:`SipUserError`."""
        try:
            return self.box.open(record.upstream_secret, aad=f"sip_users:{record.username}")
        except SecretBoxError:
            raise SipUserError(f"the upstream secret of {record.username} does not decrypt with "
                               "this node's key file (store.secret_key)") from None  # fmt: skip

    def hashes(self, username: str, password: str) -> tuple[str, str]:
        """Level-1 HA1 for MD5 and SHA-256 in the edge's realm."""
        return hashes(username, self.realm, password)

    # -- reading ----------------------------------------------------------------------------
    async def get(self, username: str) -> SipUserRecord:
        """One user, or :class:`SipUserError`."""
        record = await self.repo.get(username)
        if record is None:
            raise SipUserError(missing(username))
        return record

    async def list(
        self, *, search: str | None = None, offset: int = 0, limit: int | None = None,
        scope: Collection[str] | None = None,
    ) -> builtins.list[SipUserRecord]:  # fmt: skip
        """Users by name; ``search`` matches part of the username or (upstream) extension;
        ``scope``: only the users of these extensions (an account's scope grants), ``None``
        every user."""
        return await self.repo.list(search=search, offset=offset, limit=limit, extensions=scope)

    async def for_extension(self, extension: str) -> builtins.list[SipUserRecord]:
        """The users that reach the call control as ``extension``, by name."""
        return await self.repo.for_extension(extension)

    async def count(
        self, *, search: str | None = None, scope: Collection[str] | None = None
    ) -> int:
        """How many users :meth:`list` would give without paging."""
        return await self.repo.count(search=search, extensions=scope)

    async def snapshot(self) -> tuple[builtins.list[SipUserCredentials], int]:
        """Every user with its level-2 secret decrypted, and the change counter: what the
        edge's in-memory credential table is built from."""
        records, generation = await self.repo.snapshot()
        entries = []
        for r in records:
            try:
                secret: str | None = self.unseal(r)
            except SipUserError:
                secret = None
            entries.append(SipUserCredentials(r.username, r.realm, r.ha1_md5, r.ha1_sha256,
                                              r.extension, r.upstream_username, secret,
                                              r.device_mac, r.enabled))  # fmt: skip
        return entries, generation

    async def generation(self) -> int:
        """The SIP users' change counter."""
        return await self.repo.generation()

    # -- changes ----------------------------------------------------------------------------
    async def add(
        self, username: str, actor: Actor, *, extension: str, password: str | None = None,
        upstream_username: str | None = None, upstream_secret: str | None = None,
        device_mac: str | None = None, enabled: bool = True,
    ) -> SipUserAdded:  # fmt: skip
        """Create a user.  A password or upstream secret not given is generated and returned
        (once) in the result."""
        check_username(username)
        check_extension(extension)
        upstream = check_upstream_username(upstream_username or extension)
        device = check_device(device_mac)
        level1 = (generate_secret() if password is None else
                  check_password(password, username, extension))  # fmt: skip
        level2 = (generate_secret() if upstream_secret is None else
                  check_upstream_secret(upstream_secret))  # fmt: skip
        if level1 == level2:
            raise SipUserError(EQUAL)
        record = self._record(username, level1, extension=extension, upstream=upstream,
                              secret=level2, device=device, enabled=enabled)  # fmt: skip
        await self._insert(record)
        await self.audit.record(actor, "sipuser.add", username, _describe(record))
        return SipUserAdded(record, level1 if password is None else None,
                            level2 if upstream_secret is None else None)  # fmt: skip

    def _record(
        self, username: str, password: str, *, extension: str, upstream: str, secret: str,
        device: str | None, enabled: bool,
    ) -> SipUserRecord:  # fmt: skip
        now = datetime.now(UTC)
        md5, sha256 = self.hashes(username, password)
        return SipUserRecord(username, self.realm, md5, sha256, extension, upstream,
                             self.seal(username, secret), device, enabled, now, now)  # fmt: skip

    async def _insert(self, record: SipUserRecord) -> None:
        taken = SipUserError(f"SIP user {record.username} exists already")
        if await self.repo.get(record.username) is not None:
            raise taken
        try:
            await self.repo.write(add=[record])
        except IntegrityError:  # added meanwhile by another admin
            raise taken from None

    async def change(
        self, username: str, actor: Actor, *, password: str | None = None,
        extension: str | None = None, upstream_username: str | None = None,
        upstream_secret: str | None = None, device_mac: str | None = KEEP,
        enabled: bool | None = None,
    ) -> SipUserRecord:  # fmt: skip
        """Change some fields; ``device_mac=None`` unbinds the user from its device."""
        record = await self.get(username)
        values: dict[str, object] = {}
        what: list[str] = []
        if extension is not None:
            values["extension"] = check_extension(extension)
            what.append(f"extension {extension}")
        if upstream_username is not None:
            values["upstream_username"] = check_upstream_username(upstream_username)
            what.append(f"upstream username {upstream_username}")
        if device_mac != KEEP:
            device = check_device(device_mac)
            values["device_mac"] = device
            what.append(f"device {_mac(device)}")
        if enabled is not None:
            values["enabled"] = enabled
            what.append("enabled" if enabled else "disabled")
        level2 = check_upstream_secret(upstream_secret) if upstream_secret is not None else None
        if password is not None:
            check_password(password, username, str(values.get("extension", record.extension)))
            values["ha1_md5"], values["ha1_sha256"] = self.hashes(username, password)
            values["realm"] = self.realm
            what.append("new password")
            if password == (level2 if level2 is not None else self.unseal(record)):
                raise SipUserError(EQUAL)
        if level2 is not None:
            if password is None and same_secret(username, record.realm, record.ha1_md5, level2):
                raise SipUserError(EQUAL)
            values["upstream_secret"] = self.seal(username, level2)
            what.append("new upstream secret")
        if not values:
            return record
        values["updated_at"] = datetime.now(UTC)
        if not await self.repo.update(username, **values):
            raise SipUserError(missing(username))
        await self.audit.record(actor, "sipuser.set", username, ", ".join(what))
        return await self.get(username)

    async def delete(self, username: str, actor: Actor) -> None:
        """Delete a user."""
        if not await self.repo.delete(username):
            raise SipUserError(missing(username))
        await self.audit.record(actor, "sipuser.delete", username)

    # -- the embedded call control: both credentials in one step --------------------------------
    async def add_embedded(
        self, username: str, actor: Actor, *, extension: str, password: str | None = None,
        device_mac: str | None = None, enabled: bool = True, create_extension: bool = False,
        display_name: str = "",
    ) -> SipUserAdded:  # fmt: skip
        """Give an extension of the embedded call control a remote user: a new level-2 secret
        becomes the extension's registration secret (its HA1 changes; with
        ``create_extension`` the extension is created with it) and the user's upstream
        secret; a level-1 password is generated unless given.  Other SIP users mapped to the
        same extension get the new level-2 secret too.  ``result.password`` is the device
        password when generated; the level-2 secret is never shown (nobody types it).

        Not one transaction (the extension belongs to the call control's service): the
        steps are ordered so that a refusal leaves nothing changed."""
        check_username(username)
        check_extension(extension)
        device = check_device(device_mac)
        level1 = (generate_secret() if password is None else
                  check_password(password, username, extension))  # fmt: skip
        level2 = generate_secret()
        if await self.repo.get(username) is not None:
            raise SipUserError(f"SIP user {username} exists already")
        exists = await self.extensions.repo.get(extension) is not None
        if create_extension and exists:
            raise SipUserError(f"extension {extension} exists already (leave out the option "
                               "that creates it)")  # fmt: skip
        if not create_extension and not exists:
            raise SipUserError(f"no extension {extension} in the embedded call control")
        if create_extension:
            try:
                await self.extensions.add(extension, level2, display_name=display_name)
            except ExtensionError as err:
                raise SipUserError(str(err)) from None
        record = self._record(username, level1, extension=extension, upstream=extension,
                              secret=level2, device=device, enabled=enabled)  # fmt: skip
        try:
            await self._insert(record)
        except SipUserError:
            if create_extension:
                await self.extensions.repo.delete(extension)
            raise
        if not create_extension:
            try:
                await self.extensions.change(extension, secret=level2)
            except ExtensionError as err:  # deleted meanwhile
                await self.repo.delete(username)
                raise SipUserError(str(err)) from None
        others = [replace(r, upstream_secret=self.seal(r.username, level2),
                          updated_at=record.updated_at)
                  for r in await self.repo.for_extension(extension)
                  if r.username != username and r.upstream_username == extension]  # fmt: skip
        await self.repo.write(replace=others)
        detail = (f"{_describe(record)}; {'new' if create_extension else 'existing'} embedded "
                  f"extension {extension}, new registration secret")
        if others:
            detail += f" (also for {', '.join(r.username for r in others)})"
        await self.audit.record(actor, "sipuser.add", username, detail)
        return SipUserAdded(record, level1 if password is None else None, None)

    # -- CSV --------------------------------------------------------------------------------
    async def import_csv(
        self, source: Path | str, actor: Actor, *, update: bool = False,
        refuse: Callable[[str], str | None] | None = None,
        progress: csvrows.Progress | None = None,
    ) -> SipUserImport:  # fmt: skip
        """Import rows ``username,password,extension,upstream_username,upstream_secret,
        device_mac,enabled`` (or the export's ``realm,ha1_md5,ha1_sha256`` instead of
        ``password``) from a file or from CSV text.

        An empty ``upstream_username`` is the extension; an empty ``enabled`` is true for a
        new user and unchanged for an existing one, and so are an empty ``password`` and
        ``upstream_secret`` (a new user needs both); an empty ``device_mac`` unbinds.
        Every bad row is reported with its line number; nothing is written unless every row
        is good (one transaction).  Existing users are refused unless ``update``.
        ``refuse`` says why an extension may not be written by the caller (``None``: it
        may): a row's extension, and an existing user's present one.  The rows are checked
        in a worker thread (strength estimates and hashes), away from the event loop;
        ``progress`` hears how far the check and the write are."""
        try:
            text = csvrows.read_text(source)
        except csvrows.CsvError as err:
            raise SipUserError(str(err)) from None
        parsed, problems = await asyncio.to_thread(self._parse_rows, text, progress)
        existing = await self.repo.existing([row.username for _, row in parsed])
        now = datetime.now(UTC)
        add: list[SipUserRecord] = []
        change: list[SipUserRecord] = []
        for line, row in parsed:
            old = existing.get(row.username)
            try:
                # refused first: whether a user out of the caller's reach exists is not said
                why = None if refuse is None else refuse(row.extension) or (
                    refuse(old.extension) if old is not None else None)  # fmt: skip
                if why is not None:
                    raise SipUserError(why)
                if old is not None and not update:
                    raise SipUserError(f"SIP user {row.username} exists already (use --update "
                                       "to change it)")  # fmt: skip
                record = self._merge(row, old, now)
            except SipUserError as err:
                problems.append(f"line {line}: {err}")
                continue
            (add if old is None else change).append(record)
        if problems:
            raise SipUserImportError(csvrows.by_line(problems))
        if progress is not None:
            progress("writing", 0, len(parsed))
        try:
            await self.repo.write(add=add, replace=change)
        except IntegrityError:  # a username was added by someone else since the check above
            raise SipUserError("a SIP user in the file was added meanwhile; nothing imported, "
                               "run the import again") from None  # fmt: skip
        if progress is not None:
            progress("writing", len(parsed), len(parsed))
        name = source.name if isinstance(source, Path) else "CSV text"
        await self.audit.record(actor, "sipuser.import", name,
                                f"{len(add)} added, {len(change)} changed")  # fmt: skip
        return SipUserImport(added=len(add), updated=len(change))

    def _parse_rows(self, text: str, progress: csvrows.Progress | None = None
                    ) -> tuple[builtins.list[tuple[int, _Row]], builtins.list[str]]:  # fmt: skip
        """The good rows of ``text`` with their lines, and the problems of the others."""
        lines = text.count("\n") + 1  # about (a quoted line break counts too)
        problems: list[str] = []
        parsed: list[tuple[int, _Row]] = []
        seen: dict[str, int] = {}
        for line, fields in csvrows.rows(text, ("username", "extension"), IMPORT_COLUMNS,
                                         problems):  # fmt: skip
            if progress is not None and line % csvrows.PROGRESS_STEP == 0:
                progress("checking", min(line, lines), lines)
            try:
                row = self._parse(fields)
            except (SipUserError, csvrows.CsvError) as err:
                problems.append(f"line {line}: {err}")
                continue
            if row.username in seen:
                problems.append(f"line {line}: SIP user {row.username} already on line "
                                f"{seen[row.username]}")  # fmt: skip
                continue
            seen[row.username] = line
            parsed.append((line, row))
        return parsed, problems

    def _parse(self, fields: dict[str, str]) -> _Row:
        username = check_username(fields["username"])
        extension = check_extension(fields["extension"])
        password = fields.get("password") or None
        level1: tuple[str, str] | None = None
        if password is not None:
            level1 = self.hashes(username, check_password(password, username, extension))
        elif fields.get("ha1_md5") or fields.get("ha1_sha256"):
            md5, sha256 = fields.get("ha1_md5", "").lower(), fields.get("ha1_sha256", "").lower()
            if HEX32.fullmatch(md5) is None or HEX64.fullmatch(sha256) is None:
                raise SipUserError("ha1_md5 must be 32 and ha1_sha256 64 hex digits")
            if fields.get("realm", "") != self.realm:
                raise SipUserError(f"realm {fields.get('realm', '')!r} is not this edge's realm "
                                   f"{self.realm!r}; HA1 values only work in the realm they "
                                   "were made for")  # fmt: skip
            level1 = (md5, sha256)
        secret = fields.get("upstream_secret") or None
        return _Row(
            username, extension,
            check_upstream_username(fields.get("upstream_username") or extension), level1,
            password, None if secret is None else check_upstream_secret(secret),
            check_device(fields["device_mac"]) if "device_mac" in fields else KEEP,
            csvrows.flag(fields.get("enabled", ""), None),
        )  # fmt: skip

    def _merge(self, row: _Row, old: SipUserRecord | None, now: datetime) -> SipUserRecord:
        if old is None and row.level1 is None:
            raise SipUserError("no password (give password, or ha1_md5, ha1_sha256 and realm)")
        if old is None and row.upstream_secret is None:
            raise SipUserError("no upstream_secret (an export made without secrets cannot "
                               "create users)")  # fmt: skip
        if row.level1 is not None:
            realm, (md5, sha256) = self.realm, row.level1
        else:
            assert old is not None
            realm, md5, sha256 = old.realm, old.ha1_md5, old.ha1_sha256
        if row.upstream_secret is not None:
            if same_secret(row.username, realm, md5, row.upstream_secret):
                raise SipUserError(EQUAL)
            sealed = self.seal(row.username, row.upstream_secret)
        else:
            assert old is not None
            if row.password is not None and row.password == self.unseal(old):
                raise SipUserError(EQUAL)
            sealed = old.upstream_secret
        device = (old.device_mac if old is not None else None) if row.device_mac == KEEP else \
            row.device_mac
        enabled = row.enabled if row.enabled is not None else (old is None or old.enabled)
        return SipUserRecord(row.username, realm, md5, sha256, row.extension,
                             row.upstream_username, sealed, device, enabled,
                             old.created_at if old is not None else now, now)  # fmt: skip

    async def export_csv(
        self, actor: Actor, *, include_secrets: bool = False,
        records: Sequence[SipUserRecord] | None = None,
    ) -> str:  # fmt: skip
        """Every user (or those of ``records``) in the export format: HA1 values, and the
        level-2 secrets in clear only with ``include_secrets``; the export is audited."""
        if records is None:
            records = await self.repo.list()
        await self.audit.record(actor, "sipuser.export", f"{len(records)} SIP user(s)",
                                "with HA1 values" + (" and the upstream secrets in clear"
                                                     if include_secrets else ""))  # fmt: skip
        return csvrows.to_text(EXPORT_COLUMNS, (
            (r.username, r.extension, r.upstream_username,
             self.unseal(r) if include_secrets else "",
             format_mac(r.device_mac) if r.device_mac else "",
             "true" if r.enabled else "false", r.realm, r.ha1_md5, r.ha1_sha256)
            for r in records
        ))  # fmt: skip


def missing(username: str) -> str:
    """What is said of a user that does not exist (or is hidden from the caller: web.grants)."""
    return f"no SIP user {username[:70]!r}"


def _mac(mac: str | None) -> str:
    return "none" if mac is None else format_mac(mac)


def _describe(record: SipUserRecord) -> str:
    return (f"extension {record.extension} as {record.upstream_username}, device "
            f"{_mac(record.device_mac)}, {'enabled' if record.enabled else 'disabled'}")
