"""Media counters of finished calls through the edge (MEDIA-2, issue 5 item 6): one row per
call, what each side sent and what the relay dropped; joined to the call records by Call-ID."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, or_, select

from voxgate.storage.engine import Store
from voxgate.storage.repos._session import core_connection
from voxgate.storage.tables import MediaRecordRow


@dataclass(frozen=True, slots=True)
class SideCounters:
    """What one side (the devices' WAN side or the call control's LAN side) sent."""

    packets: int = 0
    octets: int = 0
    forwarded: int = 0
    lost: int = 0
    dropped_auth: int = 0
    dropped_source: int = 0
    jitter_ms: float = 0.0
    source: str = ""


@dataclass(frozen=True, slots=True)
class MediaRecord:
    """One finished call's media: the relay's name for it (the edge's Call-ID toward the
    call control or the device) and the other leg's Call-ID, so that a call record of either
    direction finds it."""

    call_id: str
    other_call_id: str
    ended_at: datetime
    wan: SideCounters
    lan: SideCounters


#: Columns of the CDR export that come from the media record (empty without one).
MEDIA_CDR_FIELDS = (
    "wan_packets", "wan_lost", "wan_dropped", "wan_jitter_ms",
    "lan_packets", "lan_lost", "lan_dropped", "lan_jitter_ms",
)  # fmt: skip
_SIDE_FIELDS = tuple(SideCounters.__dataclass_fields__)


def cdr_columns(record: MediaRecord | None) -> list[object]:
    """The :data:`MEDIA_CDR_FIELDS` values of ``record`` ("" each without one)."""
    if record is None:
        return [""] * len(MEDIA_CDR_FIELDS)
    out: list[object] = []
    for side in (record.wan, record.lan):
        out += [side.packets, side.lost, side.dropped_auth + side.dropped_source,
                round(side.jitter_ms, 2)]  # fmt: skip
    return out


class MediaRepo:
    """The ``media_records`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add_many(self, records: Sequence[MediaRecord]) -> None:
        """Append records in one transaction."""
        if not records:
            return
        rows = []
        for record in records:
            row: dict[str, object] = {"call_id": record.call_id,
                                      "other_call_id": record.other_call_id,
                                      "ended_at": record.ended_at}  # fmt: skip
            for prefix, side in (("wan", record.wan), ("lan", record.lan)):
                row.update({f"{prefix}_{name}": getattr(side, name) for name in _SIDE_FIELDS})
            rows.append(row)
        async with core_connection(self.store, None) as connection:
            await connection.execute(insert(MediaRecordRow), rows)

    async def for_calls(self, call_ids: Iterable[str]) -> dict[str, MediaRecord]:
        """The records whose Call-ID or other Call-ID is one of ``call_ids``, by both ids."""
        wanted = sorted(set(call_ids) - {""})
        if not wanted:
            return {}
        row_type = MediaRecordRow
        query = select(row_type).where(
            or_(row_type.call_id.in_(wanted), row_type.other_call_id.in_(wanted))
        )
        async with self.store.sessions() as session:
            rows = (await session.execute(query)).scalars().all()
        out: dict[str, MediaRecord] = {}
        for row in rows:
            sides = [
                SideCounters(**{name: getattr(row, f"{side}_{name}") for name in _SIDE_FIELDS})
                for side in ("wan", "lan")
            ]
            record = MediaRecord(row.call_id, row.other_call_id, row.ended_at, *sides)
            out[row.call_id] = out[row.other_call_id] = record
        return out
