"""The progress of CSV imports (voxgate.web.progress): entries per session and import id,
bounded, forgotten after the import ends; and what the device service reports into them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from voxgate.services.audit import Actor
from voxgate.services.devices import DeviceImportError, DeviceService
from voxgate.storage.engine import Store
from voxgate.storage.repos.devices import WRITE_CHUNK
from voxgate.web.progress import KEEP, MAX_IMPORTS, ImportTracker

ID = "Abcdefghijklmnop"
ACTOR = Actor("admin:root", "127.0.0.1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_belongs_to_its_session_and_follows_the_reports() -> None:
    tracker = ImportTracker()
    report = tracker.start("session-a", ID)
    assert report is not None
    assert tracker.get("session-a", ID) is not None
    assert tracker.get("session-b", ID) is None  # another session cannot read it
    report("checking", 500, 2001)
    assert tracker.get("session-a", ID).as_json() == {  # type: ignore[union-attr]
        "phase": "checking", "done": 500, "total": 2001}
    report("writing", 1000, 2000)
    tracker.end("session-a", ID)
    assert tracker.get("session-a", ID).as_json()["phase"] == "done"  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["", "short", "x" * 17, "abcdefghijklmno!", "../../etc/passwd"])
def test_an_id_that_is_not_one_gets_no_entry(bad: str) -> None:
    tracker = ImportTracker()
    assert tracker.start("s", bad) is None
    assert len(tracker) == 0
    tracker.end("s", bad)  # nothing to end: no error


def test_ended_imports_are_forgotten_and_the_oldest_go_first() -> None:
    clock = Clock()
    tracker = ImportTracker(clock)
    tracker.start("s", ID)
    tracker.end("s", ID)
    clock.now += KEEP - 1
    assert tracker.get("s", ID) is not None
    clock.now += 2
    assert tracker.get("s", ID) is None
    ids = [f"{n:016d}" for n in range(MAX_IMPORTS + 5)]
    for import_id in ids:
        tracker.start("s", import_id)  # under way: never forgotten for age, only for room
    assert len(tracker) == MAX_IMPORTS
    assert tracker.get("s", ids[0]) is None and tracker.get("s", ids[-1]) is not None


def test_the_device_import_reports_checking_then_writing(tmp_path: Path) -> None:
    asyncio.run(device_import_reports(tmp_path))


async def device_import_reports(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await store.upgrade()
        service = DeviceService(store)
        rows = 2 * WRITE_CHUNK + 17
        text = "mac,description\n" + "".join(f"0004f2{i:06x},desk {i}\n" for i in range(rows))
        reports: list[tuple[str, int, int]] = []
        done = await service.import_csv(text, ACTOR, progress=lambda *r: reports.append(r))
        assert done.added == rows
        checking = [r for r in reports if r[0] == "checking"]
        writing = [r for r in reports if r[0] == "writing"]
        assert checking and all(total == rows + 2 for _, _, total in checking)
        assert [d for _, d, _ in checking] == sorted(d for _, d, _ in checking)
        assert writing == [("writing", WRITE_CHUNK, rows), ("writing", 2 * WRITE_CHUNK, rows),
                           ("writing", rows, rows)]  # fmt: skip
        assert reports.index(checking[-1]) < reports.index(writing[0])

        # a refused import stops after the check: nothing written, no "writing" report
        reports.clear()
        with pytest.raises(DeviceImportError):
            await service.import_csv(text, ACTOR, progress=lambda *r: reports.append(r))
        assert reports and {phase for phase, _, _ in reports} == {"checking"}
        assert await service.count() == rows
    finally:
        await store.close()
