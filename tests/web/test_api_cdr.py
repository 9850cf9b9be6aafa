"""/api/v1/cdr over real HTTPS: filters (time, caller and callee prefix, disposition, talk
time), paging, the CSV export (the CLI's, media counters included); a group administrator
sees only the calls of its extensions; the refusals: not logged in, missing grant, a bad
filter value (named, never a server error)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adminweb import Admin
from apiclient import Caller, caller, run

from voxgate.services.devices import DeviceService
from voxgate.storage.repos.cdr import CdrRecord, CdrRepo

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def call(n: int, src: str, dst: str, disposition: str, hours: int) -> CdrRecord:
    start = T0 + timedelta(hours=hours)
    return CdrRecord(f"c{n}@x", src, "", dst, start, None, start + timedelta(seconds=5), 0.0,
                     disposition, 486 if disposition == "busy" else 200, "", "192.0.2.1:5061")


CALLS = [call(1, "301", "302", "answered", 0), call(2, "302", "303", "busy", 1),
         call(3, "303", "301", "answered", 2), call(4, "304", "305", "no-answer", 3)]


def test_filters_paging_export_and_scope(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        await CdrRepo(admin.server.store).add_many(CALLS)
        root = await caller(admin, "root")

        async def ids(query: str, who: Caller = root) -> list[str]:
            status, page = await who.call("GET", "/api/v1/cdr" + query)
            assert status == 200, page
            return [r["call_id"] for r in page["items"]]

        assert await ids("") == ["c4@x", "c3@x", "c2@x", "c1@x"]
        assert await ids("?caller=301") == ["c1@x"]
        assert await ids("?callee=301") == ["c3@x"]
        assert await ids("?disposition=answered") == ["c3@x", "c1@x"]
        assert await ids("?since=2026-11-01T10:00:00Z&until=2026-11-01T12:00:00Z") == [
            "c3@x", "c2@x"]
        assert await ids("?since=2026-11-01T11:00:00%2B01:00") == ["c4@x", "c3@x", "c2@x"]
        status, page = await root.call("GET", "/api/v1/cdr?limit=1&offset=1")
        assert (page["total"], [r["call_id"] for r in page["items"]]) == (4, ["c3@x"])
        assert page["items"][0]["started_at"] == "2026-11-01T11:00:00+00:00"
        status, text = await root.call("GET", "/api/v1/cdr/export?disposition=answered")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert status == 200 and [r["call_id"] for r in rows] == ["c1@x", "c3@x"]
        assert rows[0]["wan_packets"] == "" and rows[0]["caller"] == "301"
        status, text = await root.call("GET", "/api/v1/cdr/export?caller=999")
        assert text.splitlines() == [text.splitlines()[0]] and text.startswith("call_id,")

        group = await caller(admin, "grp", "group", (("form", "cdr", "read"),
                                                     ("extension", "301", "read")))
        assert await ids("", group) == ["c3@x", "c1@x"]
        status, text = await group.call("GET", "/api/v1/cdr/export")
        assert [r["call_id"] for r in csv.DictReader(io.StringIO(text))] == ["c1@x", "c3@x"]

        status, error = await root.call("GET", "/api/v1/cdr?until=soon")
        assert (status, error["field"]) == (422, "until")
        async with admin.client().get("/api/v1/cdr/export") as answer:
            assert answer.status == 401
        user = await caller(admin, "eve", "user", (("extension", "301", "read"),
                                                   ("form", "cdr", "read")))
        status, error = await user.call("GET", "/api/v1/cdr")
        assert (status, error["error"]) == (403, "eve has no read grant for the cdr form")
        nogrant = await caller(admin, "ng", "group", (("extension", "301", "read"),))
        status, _ = await nogrant.call("GET", "/api/v1/cdr/export")
        assert status == 403

    run(tmp_path, body)


def test_prefixes_talk_time_and_bad_values(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        later = T0 + timedelta(hours=5)
        talked = [
            CdrRecord(f"t{n}@x", number, "", "201", later + timedelta(minutes=n), later,
                      later + timedelta(minutes=n, seconds=seconds), float(seconds), "answered",
                      200, "", "192.0.2.1:5061")
            for n, (number, seconds) in enumerate([("301", 20), ("3011", 95), ("+4930", 600)])
        ]  # fmt: skip
        await CdrRepo(admin.server.store).add_many([*CALLS, *talked])
        root = await caller(admin, "root")

        async def ids(query: str) -> list[str]:
            status, page = await root.call("GET", "/api/v1/cdr" + query)
            assert status == 200, page
            assert page["total"] == len(page["items"])
            return [r["call_id"] for r in page["items"]]

        assert await ids("?caller=301") == ["t1@x", "t0@x", "c1@x"]
        assert await ids("?caller=30&callee=20") == ["t1@x", "t0@x"]
        assert await ids("?caller=%2B49") == ["t2@x"]
        assert await ids("?min_duration=90") == ["t2@x", "t1@x"]
        assert await ids("?min_duration=1:36&disposition=answered") == ["t2@x"]
        assert await ids("?disposition=busy") == ["c2@x"]
        status, text = await root.call("GET", "/api/v1/cdr/export?caller=301&min_duration=10")
        assert [r["call_id"] for r in csv.DictReader(io.StringIO(text))] == ["t0@x", "t1@x"]
        status, text = await root.call("GET", "/api/v1/cdr/export?caller=301")
        assert [r["call_id"] for r in csv.DictReader(io.StringIO(text))] == ["c1@x", "t0@x", "t1@x"]

        for query, field, reason in [
            ("disposition=answerd", "disposition", "disposition: not one of answered, busy, "),
            ("min_duration=-5", "min_duration", "min_duration: not a number of seconds from 0"),
            ("since=0001-01-01T00:00:00%2B01:00", "since", "since: not an ISO 8601 time"),
            ("callee=" + "9" * 65, "callee", "callee: longer than 64 characters"),
            ("caller=%00", "caller", "caller: holds a control character"),
        ]:
            for path in ("/api/v1/cdr", "/api/v1/cdr/export"):
                status, error = await root.call("GET", f"{path}?{query}")
                assert (status, error["field"]) == (422, field), (path, query, error)
                assert error["error"].startswith(reason), error

        async with root.http.get("/api/v1/cdr/export") as answer:
            assert answer.status == 200
            assert re.fullmatch(r'attachment; filename="voxgate-cdr-\d{8}-\d{6}\.csv"',
                                answer.headers["Content-Disposition"])
            assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"

    run(tmp_path, body)
