"""Extensions: add, change, delete, list; CSV import (all or nothing) and export.

Secrets become HA1 values for MD5 and SHA-256 in the configured realm at once
(RFC 3261 §22.4, RFC 8760); the clear secret is never stored.  An export
carries the HA1 values, so export → import moves extensions between nodes
that share the realm.
"""

from __future__ import annotations

import asyncio
import builtins
import csv
import io
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from sqlalchemy.exc import IntegrityError

from voxgate.services import csvrows
from voxgate.services.audit import Actor, AuditLog
from voxgate.services.secrets_policy import generate_secret, weakness
from voxgate.sip.digest import ha1
from voxgate.storage.engine import Store
from voxgate.storage.repos.extensions import ExtensionRecord, ExtensionRepo

NUMBER_RE: Final = re.compile(r"[0-9]{2,15}")
HEX32: Final = re.compile(r"[0-9a-f]{32}")
HEX64: Final = re.compile(r"[0-9a-f]{64}")
MAX_NAME: Final = 64
MAX_CONTACTS_LIMIT: Final = 100
#: Columns of an export (and of an import carrying HA1 values instead of secrets).
EXPORT_COLUMNS: Final = ("number", "display_name", "enabled", "max_contacts", "realm", "ha1_md5",
                         "ha1_sha256")  # fmt: skip
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


class ExtensionError(Exception):
    """A refused change; the message says what and why."""


class CsvImportError(ExtensionError):
    """A refused import: every bad line, nothing written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} bad row(s), nothing imported:\n" + "\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did."""

    added: int
    updated: int


def check_number(number: str) -> str:
    """The number, or :class:`ExtensionError` if it is not 2-15 digits."""
    if NUMBER_RE.fullmatch(number) is None:
        raise ExtensionError(f"bad extension number {number!r}: use 2 to 15 digits")
    return number


def check_name(name: str) -> str:
    """A display name: printable, at most 64 characters, no quotes or backslashes."""
    if len(name) > MAX_NAME or any(not c.isprintable() or c in '"\\' for c in name):
        raise ExtensionError(f"bad display name {name!r}: printable, no quotes, at most {MAX_NAME}")
    return name


def check_max_contacts(value: int | None) -> int | None:
    """``None`` (the configured default) or 1..100."""
    if value is not None and not 1 <= value <= MAX_CONTACTS_LIMIT:
        raise ExtensionError(f"max contacts must be 1 to {MAX_CONTACTS_LIMIT}")
    return value


def hashes(number: str, realm: str, secret: str) -> tuple[str, str]:
    """HA1 for MD5 and SHA-256."""
    return ha1("MD5", number, realm, secret), ha1("SHA-256", number, realm, secret)


class ExtensionService:
    """Use cases on extensions, for one realm."""

    def __init__(self, store: Store, realm: str) -> None:
        self.repo = ExtensionRepo(store)
        self.realm = realm
        self.audit = AuditLog(store)

    async def all(self) -> builtins.list[ExtensionRecord]:
        """Every extension."""
        return await self.repo.snapshot()

    async def list(
        self, *, search: str | None = None, offset: int = 0, limit: int | None = None,
        scope: Collection[str] | None = None,
    ) -> builtins.list[ExtensionRecord]:  # fmt: skip
        """Extensions by number whose number or display name has ``search``; a page of them
        when ``limit`` is given; ``scope``: only these numbers (an account's scope grants),
        ``None`` every extension."""
        return await self.repo.list(search=search, offset=offset, limit=limit, numbers=scope)

    async def count(
        self, *, search: str | None = None, scope: Collection[str] | None = None
    ) -> int:
        """How many extensions :meth:`list` would give without paging."""
        return await self.repo.count(search=search, numbers=scope)

    async def get(self, number: str) -> ExtensionRecord:
        """One extension, or :class:`ExtensionError`."""
        record = await self.repo.get(check_number(number))
        if record is None:
            raise ExtensionError(f"no extension {number}")
        return record

    async def add(
        self, number: str, secret: str, *, display_name: str = "", enabled: bool = True,
        max_contacts: int | None = None, actor: Actor | None = None,
    ) -> ExtensionRecord:  # fmt: skip
        """Create an extension with a strong secret (an audit event when ``actor`` is given;
        a SIP user's service that creates one writes its own)."""
        check_number(number)
        check_name(display_name)
        check_max_contacts(max_contacts)
        problem = weakness(secret, context=(number, display_name))
        if problem is not None:
            raise ExtensionError(problem)
        taken = ExtensionError(f"extension {number} exists already")
        if await self.repo.get(number) is not None:
            raise taken
        now = datetime.now(UTC)
        md5, sha256 = hashes(number, self.realm, secret)
        record = ExtensionRecord(number, display_name, self.realm, md5, sha256, enabled,
                                 max_contacts, now, now)  # fmt: skip
        try:
            await self.repo.add([record])
        except IntegrityError:  # added meanwhile by another admin (the unique number)
            raise taken from None
        if actor is not None:
            state = "enabled" if enabled else "disabled"
            await self.audit.record(actor, "extension.add", number,
                                    f"{state}, display name {display_name!r}")  # fmt: skip
        return record

    async def change(
        self, number: str, *, secret: str | None = None, display_name: str | None = None,
        enabled: bool | None = None, max_contacts: int | str | None = "keep",
        actor: Actor | None = None,
    ) -> ExtensionRecord:  # fmt: skip
        """Change some fields; ``max_contacts=None`` returns to the configured default (an
        audit event when ``actor`` is given)."""
        record = await self.get(number)
        values: dict[str, object] = {"updated_at": datetime.now(UTC)}
        if display_name is not None:
            values["display_name"] = check_name(display_name)
        if enabled is not None:
            values["enabled"] = enabled
        if max_contacts != "keep":
            values["max_contacts"] = check_max_contacts(
                max_contacts if isinstance(max_contacts, int) else None
            )
        if secret is not None:
            name = str(values.get("display_name", record.display_name))
            problem = weakness(secret, context=(number, name))
            if problem is not None:
                raise ExtensionError(problem)
            values["ha1_md5"], values["ha1_sha256"] = hashes(number, self.realm, secret)
            values["realm"] = self.realm
        await self.repo.update(number, **values)
        if actor is not None:
            what = [name if name != "ha1_md5" else "new secret" for name in values
                    if name not in ("updated_at", "ha1_sha256", "realm")]  # fmt: skip
            await self.audit.record(actor, "extension.set", number, ", ".join(what))
        return await self.get(number)

    async def delete(self, number: str, *, actor: Actor | None = None) -> None:
        """Delete an extension (an audit event when ``actor`` is given)."""
        if not await self.repo.delete(check_number(number)):
            raise ExtensionError(f"no extension {number}")
        if actor is not None:
            await self.audit.record(actor, "extension.delete", number)

    # -- CSV --------------------------------------------------------------------------------
    async def import_csv(
        self, source: Path | str, *, update: bool = False, actor: Actor | None = None,
        refuse: Callable[[str], str | None] | None = None,
        progress: csvrows.Progress | None = None,
    ) -> ImportReport:  # fmt: skip
        """Import rows ``number,display_name,secret,enabled,max_contacts`` (or the export's HA1
        columns instead of ``secret``) from a file or from CSV text.

        Every bad row is reported with its line number; nothing is written unless every row
        is good (one transaction), so a failed import can be fixed and run again as it is.
        ``refuse`` says why a number may not be written by the caller (``None``: it may), for
        an administrator limited to some extensions.  The rows are checked in a worker thread
        (each secret costs a strength estimate and two hashes), so that a large file does not
        hold up the event loop it shares with SIP.  ``progress`` hears how far the check and
        the write are.
        """
        text = _read(source) if isinstance(source, Path) else source.removeprefix("\ufeff")
        records, problems = await asyncio.to_thread(self._parse, text, progress)
        refused: set[int] = set()
        if refuse is not None:
            for line, r in records:
                if (why := refuse(r.number)) is not None:
                    problems.append(f"line {line}: {why}")
                    refused.add(line)
        numbers = [r.number for _, r in records]
        existing = await self.repo.existing(numbers)
        if not update:  # (not said of a refused row: whether it exists is not the caller's)
            problems.extend(
                f"line {line}: extension {r.number} exists already (use --update to change it)"
                for line, r in records if r.number in existing and line not in refused
            )  # fmt: skip
        if problems:
            raise CsvImportError(sorted(problems, key=_line_of))
        add = [r for _, r in records if r.number not in existing]
        change = [r for _, r in records if r.number in existing]
        if progress is not None:
            progress("writing", 0, len(records))
        try:
            await self.repo.write(add=add, replace=change)
        except IntegrityError:  # a number was added by someone else since the check above
            raise ExtensionError("an extension in the file was added meanwhile; nothing "
                                 "imported, run the import again") from None  # fmt: skip
        if progress is not None:
            progress("writing", len(records), len(records))
        if actor is not None:
            name = source.name if isinstance(source, Path) else "CSV text"
            await self.audit.record(actor, "extension.import", name,
                                    f"{len(add)} added, {len(change)} changed")  # fmt: skip
        return ImportReport(added=len(add), updated=len(change))

    def _parse(self, text: str, progress: csvrows.Progress | None = None
               ) -> tuple[builtins.list[tuple[int, ExtensionRecord]],
                          builtins.list[str]]:  # fmt: skip
        # newline=None: a lone CR ends a line too, as in csvrows (and as an editor shows it)
        reader = csv.reader(io.StringIO(text, newline=None))
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            return [], ["line 1: empty file (a header row is required)"]
        except csv.Error as err:
            return [], [f"line 1: not CSV ({err})"]
        missing = _missing_columns(header)
        if missing:
            return [], [f"line 1: {missing}"]
        records: builtins.list[tuple[int, ExtensionRecord]] = []
        problems: builtins.list[str] = []
        lines = text.count("\n") + 1  # about (a quoted line break counts too)
        seen: dict[str, int] = {}
        now = datetime.now(UTC)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as err:  # e.g. a quote never closed: the rest cannot be read
                problems.append(f"line {reader.line_num}: not CSV ({err})")
                break
            line = reader.line_num
            if progress is not None and line % csvrows.PROGRESS_STEP == 0:
                progress("checking", min(line, lines), lines)
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                problems.append(f"line {line}: {len(row)} fields, the header has {len(header)}")
                continue
            fields = {h: cell.strip() for h, cell in zip(header, row, strict=True)}
            try:
                record = self._record(fields, now)
            except ExtensionError as err:
                problems.append(f"line {line}: {err}")
                continue
            if record.number in seen:
                problems.append(f"line {line}: extension {record.number} already on line "
                                f"{seen[record.number]}")  # fmt: skip
                continue
            seen[record.number] = line
            records.append((line, record))
        return records, problems

    def _record(self, fields: dict[str, str], now: datetime) -> ExtensionRecord:
        number = check_number(fields["number"])
        name = check_name(fields.get("display_name", ""))
        enabled = _flag(fields.get("enabled", ""))
        limit_text = fields.get("max_contacts", "")
        if limit_text and not limit_text.isdigit():
            raise ExtensionError(f"max_contacts {limit_text!r} is not a number")
        limit = check_max_contacts(int(limit_text) if limit_text else None)
        if fields.get("secret"):
            problem = weakness(fields["secret"], context=(number, name))
            if problem is not None:
                raise ExtensionError(problem)
            md5, sha256 = hashes(number, self.realm, fields["secret"])
        else:
            md5, sha256 = fields.get("ha1_md5", "").lower(), fields.get("ha1_sha256", "").lower()
            if not md5 and not sha256:
                raise ExtensionError("no secret (give secret, or ha1_md5 + ha1_sha256 + realm)")
            if HEX32.fullmatch(md5) is None or HEX64.fullmatch(sha256) is None:
                raise ExtensionError("ha1_md5 must be 32 and ha1_sha256 64 hex digits")
            if fields.get("realm", "") != self.realm:
                raise ExtensionError(
                    f"realm {fields.get('realm', '')!r} is not this node's realm {self.realm!r}; "
                    "HA1 values only work in the realm they were made for"
                )
        return ExtensionRecord(number, name, self.realm, md5, sha256, enabled, limit, now, now)

    async def export(self, records: Sequence[ExtensionRecord], actor: Actor) -> str:
        """``records`` in the export format, the export audited (its HA1 values register a
        phone as well as the secrets do)."""
        text = self.export_csv(records)
        await self.audit.record(actor, "extension.export", f"{len(records)} extension(s)",
                                "with HA1 values")  # fmt: skip
        return text

    @staticmethod
    def export_csv(records: Iterable[ExtensionRecord]) -> str:
        """The export format (HA1 values, no clear secrets exist)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for r in records:
            writer.writerow([r.number, r.display_name, "true" if r.enabled else "false",
                             "" if r.max_contacts is None else r.max_contacts, r.realm, r.ha1_md5,
                             r.ha1_sha256])  # fmt: skip
        return out.getvalue()


def _read(path: Path) -> str:
    """A CSV file's text (a UTF-8 byte-order mark, as spreadsheets write, is dropped)."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ExtensionError(f"cannot read {path}: {err}") from err


def _missing_columns(header: Sequence[str]) -> str | None:
    if "number" not in header:
        return "the header needs a 'number' column"
    if "secret" not in header and not {"ha1_md5", "ha1_sha256", "realm"} <= set(header):
        return "the header needs a 'secret' column (or ha1_md5, ha1_sha256 and realm)"
    unknown = set(header) - {"number", "display_name", "secret", "enabled", "max_contacts",
                             "realm", "ha1_md5", "ha1_sha256"}  # fmt: skip
    if unknown:
        return f"unknown column(s) {', '.join(sorted(unknown))}"
    if len(set(header)) != len(header):
        return "a column appears twice"
    return None


def _flag(text: str) -> bool:
    value = text.lower()
    if value in ("", *_TRUE):
        return True
    if value in _FALSE:
        return False
    raise ExtensionError(f"enabled {text!r} is not true or false")


def _line_of(problem: str) -> int:
    head = problem.split(":", 1)[0].removeprefix("line ")
    return int(head) if head.isdigit() else 0


__all__ = [
    "CsvImportError",
    "ExtensionError",
    "ExtensionService",
    "ImportReport",
    "generate_secret",
]
