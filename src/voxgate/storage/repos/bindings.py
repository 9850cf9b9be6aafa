"""Persisted registrations: the location service writes behind, and reads them back at start."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import TextClause, bindparam, delete, select, text

from voxgate.storage.engine import Store
from voxgate.storage.repos._session import Within, core_connection
from voxgate.storage.tables import BindingRow


@dataclass(frozen=True, slots=True)
class BindingRecord:
    """One binding row (see :class:`~voxgate.storage.tables.BindingRow`)."""

    aor: str
    contact: str
    instance: str | None
    reg_id: int | None
    expires_at: datetime
    call_id: str
    cseq: int
    q: float | None
    transport: str
    source_ip: str
    source_port: int
    local: str
    user_agent: str | None
    registered_at: datetime


_FIELDS = tuple(BindingRecord.__dataclass_fields__)


def _row(record: BindingRecord) -> dict[str, object]:
    """Column values of a record (shallow: ``asdict`` deep-copies, which costs)."""
    return {name: getattr(record, name) for name in _FIELDS}


def _upsert() -> TextClause:
    """INSERT … ON CONFLICT (aor, contact) DO UPDATE: a refresh rewrites its row in place.

    The same text serves SQLite (≥ 3.24) and PostgreSQL.  Text with typed parameters,
    because SQLAlchemy compiles its dialects' ``on_conflict_do_update`` constructs anew for
    every execution (they have no cache key): at 1,000 REGISTERs/s, in batches of a few
    rows, compiling cost more than the rest of the write.
    """
    columns = BindingRow.__table__.c
    names = ", ".join(f'"{name}"' for name in _FIELDS)
    values = ", ".join(f":{name}" for name in _FIELDS)
    updates = ", ".join(f'"{n}" = excluded."{n}"' for n in _FIELDS if n not in ("aor", "contact"))
    # S608: the names are BindingRecord's fields and every value is bound
    sql = (f"INSERT INTO bindings ({names}) VALUES ({values}) "  # noqa: S608
           f"ON CONFLICT (aor, contact) DO UPDATE SET {updates}")  # fmt: skip
    return text(sql).bindparams(*(bindparam(name, type_=columns[name].type) for name in _FIELDS))


_UPSERT: Final = _upsert()


def _sqlite_upsert() -> str:
    """:func:`_upsert` for the DB-API of SQLite: ``?`` placeholders, values in field order."""
    names = ", ".join(f'"{name}"' for name in _FIELDS)
    marks = ", ".join("?" for _ in _FIELDS)
    updates = ", ".join(f'"{n}" = excluded."{n}"' for n in _FIELDS if n not in ("aor", "contact"))
    return (f"INSERT INTO bindings ({names}) VALUES ({marks}) "  # noqa: S608 - as _upsert
            f"ON CONFLICT (aor, contact) DO UPDATE SET {updates}")  # fmt: skip


SQLITE_UPSERT: Final = _sqlite_upsert()


def sqlite_time(value: datetime) -> str:
    """A UTC-aware time as SQLAlchemy's SQLite ``DateTime`` stores it (naive UTC text)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: store UTC-aware times")
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_row(r: BindingRecord) -> tuple[object, ...]:
    return (r.aor, r.contact, r.instance, r.reg_id, sqlite_time(r.expires_at), r.call_id,
            r.cseq, r.q, r.transport, r.source_ip, r.source_port, r.local, r.user_agent,
            sqlite_time(r.registered_at))  # fmt: skip


assert _FIELDS == ("aor", "contact", "instance", "reg_id", "expires_at", "call_id", "cseq", "q",
                   "transport", "source_ip", "source_port", "local", "user_agent",
                   "registered_at"), "keep _sqlite_row in field order"  # fmt: skip


class BindingRepo:
    """The ``bindings`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def load_all(self) -> list[BindingRecord]:
        """Every binding."""
        async with self.store.sessions() as session:
            rows = (await session.execute(select(BindingRow))).scalars().all()
        return [BindingRecord(**{f: getattr(row, f) for f in _FIELDS}) for row in rows]

    async def apply(
        self,
        upserts: Sequence[BindingRecord],
        deletes: Sequence[tuple[str, str]],
        *,
        session: Within | None = None,
    ) -> None:
        """Delete ``deletes`` (aor, contact), then write ``upserts``, in one transaction
        (``session``'s if given).

        Either list may be empty (an unregister batch has only deletes); a key in both ends
        up written.  The writes are one executemany of ``INSERT … ON CONFLICT DO UPDATE``
        (SQLite ≥ 3.24 and PostgreSQL): a refresh costs one statement, not a delete and an
        insert, and the batch one round trip to the database instead of two.
        """
        async with core_connection(self.store, session) as connection:
            if deletes:  # executemany of one DELETE: Core level (the ORM has no bulk DELETE)
                await connection.execute(
                    delete(BindingRow)
                    .where(BindingRow.aor == bindparam("k_aor"))
                    .where(BindingRow.contact == bindparam("k_contact")),
                    [{"k_aor": a, "k_contact": c} for a, c in dict.fromkeys(deletes)],
                )
            # (an empty parameter list would INSERT one row of defaults: none is sent)
            if connection.dialect.name == "sqlite":
                # straight to the DB-API: SQLAlchemy's per-row parameter processing cost the
                # event loop ~25 µs a binding, half of a refresh's write (bench_store_write.py)
                rows = sqlite_rows(upserts)
                if rows:
                    await connection.exec_driver_sql(SQLITE_UPSERT, rows)
                return
            latest = {(b.aor, b.contact): b for b in upserts}  # the last change of a key wins
            if latest:
                await connection.execute(_UPSERT, [_row(b) for b in latest.values()])

    async def purge_expired(self, now: datetime) -> int:
        """Delete bindings expired at ``now``; returns how many."""
        async with self.store.sessions.begin() as session:
            result = await session.execute(delete(BindingRow).where(BindingRow.expires_at <= now))
        return int(getattr(result, "rowcount", 0) or 0)

    async def count(self) -> int:
        """How many bindings are stored."""
        async with self.store.sessions() as session:
            rows = (await session.execute(select(BindingRow.id))).all()
        return len(rows)


#: With :data:`SQLITE_UPSERT`, what the call control's own SQLite writer runs
#: (``SqlPbxStore._write_in_thread``).
SQLITE_DELETE: Final = "DELETE FROM bindings WHERE aor = ? AND contact = ?"


def sqlite_rows(upserts: Sequence[BindingRecord]) -> list[tuple[object, ...]]:
    """The DB-API rows of :data:`SQLITE_UPSERT` (the last change of a key wins)."""
    latest = {(b.aor, b.contact): b for b in upserts}
    return [_sqlite_row(b) for b in latest.values()]
