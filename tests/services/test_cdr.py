"""Call records through the CLI's and the web's service, on SQLite and PostgreSQL: each filter
(start time, caller and callee prefix, disposition, minimum talk time, the group scope) in
the store's query, the filters as typed in a page, a query string or an option, the media
counters of a page's calls, and the CSV export of exactly the filtered set."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from voxgate.pbx.callstate import Disposition
from voxgate.services.cdr import DISPOSITIONS, EXPORT_COLUMNS, FILTERS, CdrService, read_filter
from voxgate.services.times import utc_time
from voxgate.storage.engine import Store
from voxgate.storage.repos.cdr import CdrFilter, CdrRecord, CdrRepo
from voxgate.storage.repos.media import MediaRecord, MediaRepo, SideCounters

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def call(n: int, caller: str, callee: str, disposition: str, minutes: int, talked: float = 0.0,
         name: str = "") -> CdrRecord:  # fmt: skip
    start = T0 + timedelta(minutes=minutes)
    answered = start + timedelta(seconds=3) if disposition == "answered" else None
    return CdrRecord(f"c{n}@pbx", caller, name, callee, start, answered,
                     start + timedelta(seconds=3 + talked), talked, disposition,
                     200 if disposition == "answered" else 486, "", "192.0.2.9:5061",
                     callee_call_id=f"c{n}-b@pbx")  # fmt: skip


CALLS = [
    call(1, "201", "202", "answered", 0, 95.0, "Alice"),
    call(2, "202", "+493012345", "busy", 10),
    call(3, "2010", "201", "answered", 20, 12.0),
    call(4, "+493099887", "201", "no-answer", 30),
    call(5, "alice", "301", "cancelled", 40),
    call(6, "Alice", "301", "answered", 50, 600.0),
    call(7, "301", "202", "failed", 60),
    call(8, "201", "100%_x", "unknown-number", 70),
]


def run(url: str, body: Callable[[CdrService], Awaitable[None]]) -> None:
    async def main() -> None:
        store = await Store.open(url)
        try:
            await CdrRepo(store).add_many(CALLS)
            await body(CdrService(store))
        finally:
            await store.close()

    asyncio.run(main())


async def ids(service: CdrService, **values: str) -> list[str]:
    which, problems = read_filter(values)
    assert problems == []
    total, records = await service.page(which, limit=100)
    assert total == len(records) == await service.count(which)
    return [r.call_id.removesuffix("@pbx") for r in records]


def test_each_filter_is_a_condition_of_the_query(store_url: str) -> None:
    async def body(service: CdrService) -> None:
        assert await ids(service) == ["c8", "c7", "c6", "c5", "c4", "c3", "c2", "c1"]
        # times: [since, until), UTC without a zone, a date alone is its midnight
        assert await ids(service, since="2026-11-02T08:20", until="2026-11-02T08:50") == [
            "c5", "c4", "c3"]  # fmt: skip
        assert await ids(service, since="2026-11-02T09:20:00+01:00") == ["c8", "c7", "c6", "c5",
                                                                         "c4", "c3"]  # fmt: skip
        assert await ids(service, until="2026-11-02") == []
        assert await ids(service, since="2026-11-02", until="2026-11-03") != []
        # caller and callee: a prefix, case-sensitive, % and _ are plain characters
        assert await ids(service, caller="201") == ["c8", "c3", "c1"]
        assert await ids(service, caller="2010") == ["c3"]
        assert await ids(service, caller="+4930") == ["c4"]
        assert await ids(service, caller="alice") == ["c5"]
        assert await ids(service, caller="A") == ["c6"]
        assert await ids(service, callee="100%") == ["c8"]
        assert await ids(service, callee="100_") == []
        assert await ids(service, callee="1%") == []
        assert await ids(service, caller="20", callee="20") == ["c3", "c1"]
        # how the call ended; talk time (seconds or m:ss)
        assert await ids(service, disposition="answered") == ["c6", "c3", "c1"]
        assert await ids(service, disposition="no-answer") == ["c4"]
        assert await ids(service, min_duration="90") == ["c6", "c1"]
        assert await ids(service, min_duration="1:35") == ["c6", "c1"]
        assert await ids(service, min_duration="1:36") == ["c6"]
        assert await ids(service, min_duration="0") == [c.call_id[:2] for c in reversed(CALLS)]
        # every filter at once
        assert await ids(service, since="2026-11-02T08:00", until="2026-11-02T09:00",
                         caller="2", disposition="answered", min_duration="10") == ["c3", "c1"]  # fmt: skip
        # a group administrator's scope: calls from or to its extensions, exactly
        scoped = read_filter({"disposition": "answered"}, frozenset({"201"}))[0]
        assert [r.call_id for r in await service.newest(scoped)] == ["c3@pbx", "c1@pbx"]
        assert await service.count(CdrFilter(parties=frozenset())) == 0

    run(store_url, body)


def test_pages_newest_first_and_the_media_of_their_calls(store_url: str) -> None:
    async def body(service: CdrService) -> None:
        which = CdrFilter()
        assert [r.call_id for r in await service.newest(which, offset=2, limit=3)] == [
            "c6@pbx", "c5@pbx", "c4@pbx"]  # fmt: skip
        assert await service.newest(which, offset=8) == []
        # the relay knew c1 by its callee leg's Call-ID, c6 by its own
        wan = SideCounters(packets=4800, lost=12, dropped_auth=3, jitter_ms=2.5,
                           source="203.0.113.5:40002")  # fmt: skip
        await MediaRepo(service.repo.store).add_many([
            MediaRecord("edge-1", "c1-b@pbx", T0, wan, SideCounters(packets=4790)),
            MediaRecord("c6@pbx", "edge-6", T0, SideCounters(packets=5), SideCounters()),
        ])  # fmt: skip
        page = await service.newest(which)
        media = await service.media_of(page)
        found = {r.call_id: m for r, m in zip(page, media, strict=True) if m is not None}
        assert set(found) == {"c1@pbx", "c6@pbx"}
        assert found["c1@pbx"].wan == wan and found["c6@pbx"].wan.packets == 5
        assert await service.media_of([]) == []

    run(store_url, body)


def test_the_export_is_exactly_the_filtered_set_oldest_first(store_url: str) -> None:
    async def body(service: CdrService) -> None:
        await MediaRepo(service.repo.store).add_many([MediaRecord(
            "edge-1", "c1-b@pbx", T0, SideCounters(packets=4800, lost=2), SideCounters())])  # fmt: skip
        out = io.StringIO()
        drained: list[int] = []

        async def drain() -> None:
            drained.append(len(out.getvalue()))

        which = read_filter({"caller": "201", "disposition": "answered"})[0]
        await service.write_csv(out, which, drain=drain)
        rows = list(csv.reader(io.StringIO(out.getvalue())))
        assert rows[0] == list(EXPORT_COLUMNS)
        assert [r[0] for r in rows[1:]] == ["c1@pbx", "c3@pbx"]
        first = dict(zip(rows[0], rows[1], strict=True))
        assert (first["duration"], first["wan_packets"], first["wan_lost"]) == ("95.0", "4800", "2")
        assert dict(zip(rows[0], rows[2], strict=True))["wan_packets"] == ""
        assert drained  # the web answer sends each part
        nothing = io.StringIO()
        await service.write_csv(nothing, read_filter({"callee": "999"})[0])
        assert nothing.getvalue().splitlines() == [",".join(EXPORT_COLUMNS)]

    run(store_url, body)


@pytest.mark.parametrize(("values", "problems"), [
    ({"since": "yesterday"}, [("since", "not an ISO 8601 time, e.g. 2026-12-01T08:00:00Z: "
                                        "'yesterday'")]),
    ({"until": "0001-01-01T00:00:00+01:00"}, [("until", "not an ISO 8601 time, e.g. "
                                                        "2026-12-01T08:00:00Z: "
                                                        "'0001-01-01T00:00:00+01:00'")]),
    ({"disposition": "answerd"}, [("disposition", "not one of answered, busy, no-answer, "
                                                  "cancelled, rejected, failed, unavailable, "
                                                  "unknown-number")]),
    ({"min_duration": "-1"}, [("min_duration", "not a number of seconds from 0 to 10000000")]),
    ({"min_duration": "nan"}, [("min_duration", "not a number of seconds from 0 to 10000000")]),
    ({"min_duration": "200000:00"}, [("min_duration", "not a number of seconds from 0 to "
                                                      "10000000")]),
    ({"min_duration": "1:75"}, [("min_duration", "not a number of seconds (90) or minutes and "
                                                 "seconds (1:30)")]),
    ({"caller": "2" * 65}, [("caller", "longer than 64 characters")]),
    ({"callee": "20\x001"}, [("callee", "holds a control character")]),
    ({"since": "x", "caller": "20", "min_duration": "y"}, [
        ("since", "not an ISO 8601 time, e.g. 2026-12-01T08:00:00Z: 'x'"),
        ("min_duration", "not a number of seconds (90) or minutes and seconds (1:30)")]),
])  # fmt: skip
def test_a_bad_value_is_named_and_its_filter_left_out(
        values: dict[str, str], problems: list[tuple[str, str]]) -> None:  # fmt: skip
    which, found = read_filter(values)
    assert [(p.name, p.reason) for p in found] == problems
    for name in FILTERS:
        if name in {p[0] for p in problems} or name not in values:
            assert getattr(which, name) is None, name
    if "caller" in values and not any(p[0] == "caller" for p in problems):
        assert which.caller == values["caller"]


def test_blank_values_are_no_condition_and_times_come_out_utc() -> None:
    which, problems = read_filter({"since": " ", "caller": "", "disposition": "",
                                   "until": "2026-11-02 10:00", "min_duration": " 75.5 "})  # fmt: skip
    assert problems == []
    assert which == CdrFilter(until=datetime(2026, 11, 2, 10, 0, tzinfo=UTC), min_duration=75.5)
    assert utc_time("2026-11-02T11:00:00+01:00") == datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert utc_time("2026-11-02T10:00:00Z").tzinfo is UTC


def test_the_dispositions_are_the_call_controls() -> None:
    assert tuple(d.value for d in Disposition) == DISPOSITIONS
