"""The installer password (AUTH-3): one row of the ``meta`` table holding its slow hash and
who set it when (no table of its own: there is only ever one)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from voxgate.storage.engine import Store
from voxgate.storage.tables import MetaRow

KEY = "installer_password"


@dataclass(frozen=True, slots=True)
class InstallerRecord:
    """The stored installer password: its hash (``scrypt$…``), when and by whom it was set."""

    hash: str
    set_at: datetime
    set_by: str


class InstallerRepo:
    """Read, write and clear the installer password's row."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self) -> InstallerRecord | None:
        """The stored password, or ``None`` when none is set."""
        async with self.store.sessions() as session:
            value = await session.scalar(select(MetaRow.value).where(MetaRow.key == KEY))
        if value is None:
            return None
        data = json.loads(value)
        return InstallerRecord(str(data["hash"]), datetime.fromisoformat(data["set_at"]),
                               str(data["set_by"]))  # fmt: skip

    async def put(self, record: InstallerRecord) -> None:
        """Store ``record``, replacing the one there is."""
        value = json.dumps({"hash": record.hash, "set_at": record.set_at.isoformat(),
                            "set_by": record.set_by})  # fmt: skip
        async with self.store.sessions.begin() as session:
            row = await session.get(MetaRow, KEY)
            if row is None:
                session.add(MetaRow(key=KEY, value=value))
            else:
                row.value = value

    async def clear(self) -> bool:
        """Remove the password; whether one was set."""
        async with self.store.sessions.begin() as session:
            result = await session.execute(delete(MetaRow).where(MetaRow.key == KEY))
            return bool(getattr(result, "rowcount", 0))
