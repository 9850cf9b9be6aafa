"""/api/v1/netlists over real HTTPS: summaries, entries, add, delete, import (all or
nothing, line-numbered problems), with audit rows; the refusals: not logged in, CSRF
missing, missing grant, bad values, unknown list or netblock."""

from __future__ import annotations

from pathlib import Path

from adminweb import Admin
from apiclient import caller, run

from voxgate.services.devices import DeviceService


def test_add_list_delete_with_audit(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        status, added = await root.call("POST", "/api/v1/netlists/block",
                                        json={"network": "192.0.2.7/24", "comment": "scanner"})
        assert status == 201 and added == {"kind": "block", "title": "manual",
                                           "network": "192.0.2.0/24", "added": True}
        status, again = await root.call("POST", "/api/v1/netlists/block",
                                        json={"network": "192.0.2.0/24"})
        assert status == 200 and again["added"] is False
        status, _ = await root.call("POST", "/api/v1/netlists/allow",
                                    json={"network": "2001:db8::1", "title": "office"})
        assert status == 201
        status, lists = await root.call("GET", "/api/v1/netlists")
        assert lists == [{"kind": "allow", "title": "office", "size": 1},
                         {"kind": "block", "title": "manual", "size": 1}]
        status, entries = await root.call("GET", "/api/v1/netlists/block")
        assert entries == [{"title": "manual", "network": "192.0.2.0/24", "comment": "scanner"}]
        status, gone = await root.call("DELETE",
                                       "/api/v1/netlists/block/entries?network=192.0.2.0/24")
        assert (status, gone) == (200, {"deleted": 1})
        status, error = await root.call("DELETE",
                                        "/api/v1/netlists/block/entries?network=192.0.2.0/24")
        assert (status, error["error"]) == (404, "192.0.2.0/24 is not in the block list")
        status, error = await root.call("GET", "/api/v1/netlists/grey")
        assert status == 404 and "use allow or block" in error["error"]
        events = list(reversed(await admin.audit.recent(action_prefix="netlist.")))
        assert [e.action for e in events] == ["netlist.add", "netlist.add", "netlist.delete"]
        assert {(e.actor, e.source) for e in events} == {("admin:root", "127.0.0.1")}

    run(tmp_path, body)


def test_validation_errors_name_the_field(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        for json, field in [({}, "network"), ({"network": "300.1.1.1"}, "network"),
                            ({"network": "192.0.2.1", "title": " "}, "title"),
                            ({"network": "192.0.2.1", "via": "x"}, "via"),
                            ({"network": 7}, "network")]:
            status, error = await root.call("POST", "/api/v1/netlists/block", json=json)
            assert (status, error["field"]) == (422, field), json
        status, error = await root.call("DELETE", "/api/v1/netlists/block/entries")
        assert (status, error["field"], error["reason"]) == (422, "network",
                                                             "network is required")
        assert await admin.audit.recent(action_prefix="netlist.") == []

    run(tmp_path, body)


def test_import_all_or_nothing(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        bad = "# Blocked ranges\n198.51.100.0/24\nnot-a-net\n203.0.113.0/24 extra words\n"
        status, error = await root.call("POST", "/api/v1/netlists/block/import", data=bad,
                                        headers={"Content-Type": "text/plain"})
        assert status == 422 and error["error"] == "2 bad line(s), nothing imported"
        assert [p["line"] for p in error["problems"]] == [3, 4]
        status, lists = await root.call("GET", "/api/v1/netlists")
        assert lists == []
        good = "# Blocked ranges\n198.51.100.0/24\n203.0.113.0/24  # spam\n"
        status, done = await root.call("POST", "/api/v1/netlists/block/import", data=good)
        assert (status, done) == (200, {"kind": "block", "title": "Blocked ranges",
                                        "netblocks": 2, "replaced": 0})
        status, done = await root.call("POST", "/api/v1/netlists/block/import?title=other",
                                       data="192.0.2.0/24\n")
        assert (status, done["title"], done["netblocks"]) == (200, "other", 1)
        status, entries = await root.call("GET", "/api/v1/netlists/block?title=Blocked ranges")
        assert [e["network"] for e in entries] == ["198.51.100.0/24", "203.0.113.0/24"]
        [_, event] = await admin.audit.recent(action_prefix="netlist.import")
        assert event.actor == "admin:root" and "2 netblocks" in event.detail

    run(tmp_path, body)


def test_refusals(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        stranger = admin.client()
        for method, path in [("GET", "/api/v1/netlists"), ("GET", "/api/v1/netlists/block"),
                             ("POST", "/api/v1/netlists/block"),
                             ("POST", "/api/v1/netlists/block/import")]:
            async with stranger.request(method, path) as answer:
                assert answer.status == 401, (method, path)
        root = await caller(admin, "root")
        status, error = await root.call("POST", "/api/v1/netlists/block", csrf_header=False,
                                        json={"network": "192.0.2.1"})
        assert status == 403 and "CSRF" in error["error"]
        reader = await caller(admin, "ro", "group", (("form", "netlists", "read"),))
        status, _ = await reader.call("GET", "/api/v1/netlists/block")
        assert status == 200
        status, error = await reader.call("POST", "/api/v1/netlists/block",
                                          json={"network": "192.0.2.1"})
        assert (status, error["error"]) == (403, "ro has no write grant for the netlists form")
        status, _ = await reader.call("POST", "/api/v1/netlists/block/import", data="1.2.3.4\n")
        assert status == 403
        user = await caller(admin, "eve", "user", (("form", "netlists", "write"),))
        status, error = await user.call("GET", "/api/v1/netlists")
        assert (status, error["error"]) == (403, "eve has no read grant for the netlists form")
        status, lists = await root.call("GET", "/api/v1/netlists")
        assert lists == []
        assert len(await admin.audit.recent(action_prefix="admin.denied")) == 3

    run(tmp_path, body)
