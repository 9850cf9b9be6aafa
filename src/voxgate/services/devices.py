"""The device table (AUTH-1, AUTH-2, AUTH-5): devices added by hand or from a CSV file,
enabled and disabled by an administrator, and learned by the edge on first contact.

A device is known by its MAC (:func:`voxgate.policy.devices.normalize_mac` form: 12
lower-case hex digits).  One the edge learns on its first contact starts **disabled**
with its source address as description, and cannot reach the call control until an
administrator enables it.  Administrative changes bump the ``devices_generation``
counter (running nodes rebuild their snapshot) and write an audit event; the edge's
"seen again" note does neither, so a registering fleet costs one UPDATE per device
and no reloads.
"""

from __future__ import annotations

import builtins
import ipaddress
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from sqlalchemy.exc import IntegrityError

from voxgate.policy.devices import IdentitySource, MacError, format_mac, normalize_mac
from voxgate.services import csvrows
from voxgate.services.audit import NODE, Actor, AuditLog
from voxgate.storage.engine import Store
from voxgate.storage.repos.devices import DeviceRecord, DeviceRepo

#: ``identity`` of a device an administrator added (by hand or from a file).
ADMIN: Final = "admin"
MAX_DESCRIPTION: Final = 128
MAX_USER_AGENT: Final = 512
IMPORT_COLUMNS: Final = ("mac", "description", "enabled")
#: Columns of an export; an export imports as is (the columns after ``enabled`` are
#: information and are ignored on import).
EXPORT_COLUMNS: Final = (*IMPORT_COLUMNS, "identity", "last_source", "user_agent",
                         "first_seen_at", "last_seen_at", "created_at")  # fmt: skip


class DeviceError(Exception):
    """A refused change; the message says what and why."""


class DeviceImportError(DeviceError):
    """A refused import: every bad line, nothing written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} bad row(s), nothing imported:\n" + "\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class DeviceImport:
    """What an import did."""

    added: int
    updated: int


def check_mac(text: str) -> str:
    """The normalized MAC, or :class:`DeviceError`."""
    try:
        return normalize_mac(text)
    except MacError as err:
        raise DeviceError(str(err)) from None


def check_description(text: str) -> str:
    """A description: printable, one line, at most 128 characters."""
    if len(text) > MAX_DESCRIPTION:
        raise DeviceError(f"description is too long: {len(text)} characters, at most "
                          f"{MAX_DESCRIPTION}")  # fmt: skip
    if not text.isprintable():
        raise DeviceError("description must be printable, on one line")
    return text


class DeviceService:
    """Use cases on the device table, for the CLI, the web UI and the edge."""

    def __init__(self, store: Store) -> None:
        self.repo = DeviceRepo(store)
        self.audit = AuditLog(store)

    # -- reading ----------------------------------------------------------------------------
    async def get(self, mac: str) -> DeviceRecord:
        """One device, or :class:`DeviceError`."""
        record = await self.repo.get(check_mac(mac))
        if record is None:
            raise DeviceError(f"no device {format_mac(check_mac(mac))}")
        return record

    async def list(
        self, *, search: str | None = None, disabled_only: bool = False, offset: int = 0,
        limit: int | None = None, scope: Collection[str] | None = None,
    ) -> builtins.list[DeviceRecord]:  # fmt: skip
        """Devices by MAC; ``search`` matches a part of the MAC or of the description;
        ``scope``: only these MACs (normalized; an account's scope grants), ``None`` every
        device."""
        return await self.repo.list(search=search, disabled_only=disabled_only, offset=offset,
                                    limit=limit, macs=scope)  # fmt: skip

    async def count(
        self, *, search: str | None = None, disabled_only: bool = False,
        scope: Collection[str] | None = None,
    ) -> int:  # fmt: skip
        """How many devices :meth:`list` gives without paging."""
        return await self.repo.count(search=search, disabled_only=disabled_only, macs=scope)

    async def snapshot(self) -> tuple[builtins.list[tuple[str, bool]], int]:
        """``([(mac, enabled), …], generation)``: what the edge's
        :class:`~voxgate.policy.devices.DeviceTable` is built from."""
        return await self.repo.snapshot()

    async def generation(self) -> int:
        """The device table's change counter."""
        return await self.repo.generation()

    # -- administrative changes -------------------------------------------------------------
    async def add(
        self, mac: str, actor: Actor, *, description: str = "", enabled: bool = False
    ) -> DeviceRecord:
        """Add a device by hand (disabled unless ``enabled``)."""
        now = datetime.now(UTC)
        record = DeviceRecord(check_mac(mac), enabled, check_description(description), ADMIN,
                              None, None, None, None, now, now)  # fmt: skip
        taken = DeviceError(f"device {format_mac(record.mac)} exists already")
        if await self.repo.get(record.mac) is not None:
            raise taken
        try:
            await self.repo.write(add=[record])
        except IntegrityError:  # added meanwhile (by another admin or learned by the edge)
            raise taken from None
        await self.audit.record(actor, "device.add", format_mac(record.mac),
                                _describe(record))  # fmt: skip
        return record

    async def enable(self, mac: str, actor: Actor) -> DeviceRecord:
        """Let a device reach the call control."""
        return await self._change(mac, actor, "device.enable", enabled=True)

    async def disable(self, mac: str, actor: Actor) -> DeviceRecord:
        """Stop a device from reaching the call control."""
        return await self._change(mac, actor, "device.disable", enabled=False)

    async def set_description(self, mac: str, description: str, actor: Actor) -> DeviceRecord:
        """Change a device's description."""
        return await self._change(mac, actor, "device.set",
                                  description=check_description(description))  # fmt: skip

    async def _change(self, mac: str, actor: Actor, action: str, **values: object) -> DeviceRecord:
        normalized = check_mac(mac)
        if not await self.repo.update(normalized, updated_at=datetime.now(UTC), **values):
            raise DeviceError(f"no device {format_mac(normalized)}")
        detail = f"description {values['description']!r}" if "description" in values else ""
        await self.audit.record(actor, action, format_mac(normalized), detail)
        return await self.get(normalized)

    async def delete(self, mac: str, actor: Actor) -> None:
        """Delete a device (if it connects again, the edge learns it again, disabled)."""
        normalized = check_mac(mac)
        if not await self.repo.delete(normalized):
            raise DeviceError(f"no device {format_mac(normalized)}")
        await self.audit.record(actor, "device.delete", format_mac(normalized))

    # -- the edge ---------------------------------------------------------------------------
    async def learn(
        self, mac: str, source_ip: str, identity: IdentitySource, user_agent: str | None, *,
        now: datetime | None = None, enabled: bool = False,
    ) -> bool:  # fmt: skip
        """The edge met device ``mac`` (learned from ``identity``) at ``source_ip``.

        An unknown device is added **disabled** (``enabled=True`` is for the installer
        password, AUTH-3) with the source address as its description, which bumps the change
        counter and writes a ``device.learned`` audit event; returns ``True``.  A known device
        only gets its last address, User-Agent and time updated: one UPDATE, no counter, no
        audit event; returns ``False``."""
        normalized = check_mac(mac)
        try:
            source = str(ipaddress.ip_address(source_ip))
        except ValueError:
            raise DeviceError(f"not an IP address: {source_ip[:60]!r}") from None
        agent = None if user_agent is None else user_agent[:MAX_USER_AGENT]
        when = now or datetime.now(UTC)
        record = DeviceRecord(normalized, enabled, source, identity.value, source, agent, when,
                              when, when, when)  # fmt: skip
        created = await self.repo.learn(record)
        if created:
            detail = f"from {source} by {identity.value}" + (
                ", enabled by the installer password" if enabled else ", disabled"
            ) + (f"; User-Agent {agent!r}" if agent else "")
            await self.audit.record(NODE, "device.learned", format_mac(normalized), detail)
        return created

    # -- CSV --------------------------------------------------------------------------------
    async def import_csv(
        self, source: Path | str, actor: Actor, *, update: bool = False,
        progress: csvrows.Progress | None = None,
    ) -> DeviceImport:
        """Import rows ``mac,description,enabled`` from a file or from CSV text.

        An empty ``enabled`` means disabled for a new device and unchanged for an existing
        one (so does a missing ``description`` column).  Every bad row is reported with its
        line number; nothing is written unless every row is good (one transaction).
        Existing MACs are refused unless ``update``.  ``progress`` hears how far the check
        and the write are."""  # fmt: skip
        try:
            text = csvrows.read_text(source)
        except csvrows.CsvError as err:
            raise DeviceError(str(err)) from None
        problems: list[str] = []
        parsed: list[tuple[int, str, str | None, bool | None]] = []
        seen: dict[str, int] = {}
        for line, fields in csvrows.rows(text, ("mac",), EXPORT_COLUMNS, problems):
            await csvrows.checking(progress, line, text)
            try:
                mac = check_mac(fields["mac"])
                description = (check_description(fields["description"])
                               if "description" in fields else None)  # fmt: skip
                enabled = csvrows.flag(fields.get("enabled", ""), None)
            except (DeviceError, csvrows.CsvError) as err:
                problems.append(f"line {line}: {err}")
                continue
            if mac in seen:
                problems.append(f"line {line}: device {format_mac(mac)} already on line "
                                f"{seen[mac]}")  # fmt: skip
                continue
            seen[mac] = line
            parsed.append((line, mac, description, enabled))
        existing = await self.repo.existing([mac for _, mac, _, _ in parsed])
        if not update:
            problems.extend(
                f"line {line}: device {format_mac(mac)} exists already (use --update to change "
                "it)" for line, mac, _, _ in parsed if mac in existing
            )  # fmt: skip
        if problems:
            raise DeviceImportError(csvrows.by_line(problems))
        now = datetime.now(UTC)
        add: list[DeviceRecord] = []
        change: list[DeviceRecord] = []
        for _, mac, description, enabled in parsed:
            old = existing.get(mac)
            if old is None:
                add.append(DeviceRecord(mac, bool(enabled), description or "", ADMIN, None,
                                        None, None, None, now, now))  # fmt: skip
            else:
                change.append(replace(
                    old, updated_at=now,
                    enabled=old.enabled if enabled is None else enabled,
                    description=old.description if description is None else description,
                ))  # fmt: skip
        try:
            await self.repo.write(add=add, replace=change, progress=None if progress is None else
                                  lambda done: progress("writing", done, len(parsed)))  # fmt: skip
        except IntegrityError:  # a MAC was added (or learned) since the check above
            raise DeviceError("a device in the file was added meanwhile; nothing imported, "
                              "run the import again") from None  # fmt: skip
        name = source.name if isinstance(source, Path) else "CSV text"
        await self.audit.record(actor, "device.import", name,
                                f"{len(add)} added, {len(change)} changed")  # fmt: skip
        return DeviceImport(added=len(add), updated=len(change))

    async def export_csv(self, scope: Collection[str] | None = None) -> str:
        """Every device (in ``scope``, when given) in the export format (imports as is, with
        ``--update`` on a node that has them)."""
        return self.to_csv(await self.repo.list(macs=scope))

    @staticmethod
    def to_csv(records: Iterable[DeviceRecord]) -> str:
        """``records`` in the export format."""

        def when(value: datetime | None) -> str:
            return "" if value is None else value.isoformat()

        return csvrows.to_text(EXPORT_COLUMNS, (
            (format_mac(r.mac), r.description, "true" if r.enabled else "false", r.identity,
             r.last_source or "", r.user_agent or "", when(r.first_seen_at),
             when(r.last_seen_at), when(r.created_at))
            for r in records
        ))  # fmt: skip


def _describe(record: DeviceRecord) -> str:
    state = "enabled" if record.enabled else "disabled"
    return f"{state}, description {record.description!r}" if record.description else state
