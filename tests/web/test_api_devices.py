"""/api/v1/devices over real HTTPS: list with search and paging, show, add, change, delete,
CSV import (all or nothing, line-numbered problems) and export; the refusals: not logged in,
CSRF missing, missing grant, out of scope, bad values, unknown device."""

from __future__ import annotations

from pathlib import Path

from adminweb import ME, Admin
from apiclient import caller, run

from voxgate.services.devices import DeviceService
from voxgate.web.security import MAX_IMPORT

A, B, C = "00:04:f2:00:00:0a", "00:04:f2:00:00:0b", "00:04:f2:00:00:0c"


async def three(devices: DeviceService) -> None:
    await devices.add(A, ME, description="hall phone")
    await devices.add(B, ME, description="desk", enabled=True)
    await devices.add(C, ME, description="kitchen")


def test_list_search_paging_show(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        await three(devices)
        root = await caller(admin, "root")
        status, page = await root.call("GET", "/api/v1/devices")
        assert status == 200 and page["total"] == 3
        assert [d["mac"] for d in page["items"]] == [A, B, C]
        assert page["items"][1]["enabled"] is True and page["items"][1]["description"] == "desk"
        status, page = await root.call("GET", "/api/v1/devices?q=ph")
        assert (page["total"], [d["mac"] for d in page["items"]]) == (1, [A])
        status, page = await root.call("GET", "/api/v1/devices?offset=1&limit=1")
        assert (page["total"], page["offset"], page["limit"]) == (3, 1, 1)
        assert [d["mac"] for d in page["items"]] == [B]
        status, device = await root.call("GET", "/api/v1/devices/0004F200000C")
        assert status == 200 and device["mac"] == C and device["description"] == "kitchen"
        status, error = await root.call("GET", "/api/v1/devices?limit=0")
        assert status == 422 and error["field"] == "limit"
        assert error["reason"] == "limit must be from 1 to 1000"
        status, error = await root.call("GET", "/api/v1/devices/00:04:f2:00:00:99")
        assert (status, error["error"]) == (404, "no device 00:04:f2:00:00:99")
        status, error = await root.call("GET", "/api/v1/devices/not-a-mac")
        assert status == 422 and error["field"] == "mac" and "not a MAC" in error["reason"]

    run(tmp_path, body)


def test_add_change_delete_with_audit(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        root = await caller(admin, "root")
        status, device = await root.call("POST", "/api/v1/devices",
                                         json={"mac": "0004f200000a", "description": "lobby"})
        assert status == 201 and (device["mac"], device["enabled"]) == (A, False)
        status, error = await root.call("POST", "/api/v1/devices", json={"mac": A})
        assert (status, error["error"]) == (409, f"device {A} exists already")
        status, device = await root.call("PATCH", f"/api/v1/devices/{A}",
                                         json={"enabled": True, "description": "lobby 2"})
        assert status == 200 and device["enabled"] is True and device["description"] == "lobby 2"
        assert (await devices.get(A)).enabled
        status, _ = await root.call("DELETE", f"/api/v1/devices/{A}")
        assert status == 204
        status, _ = await root.call("DELETE", f"/api/v1/devices/{A}")
        assert status == 404
        events = list(reversed(await admin.audit.recent(action_prefix="device.")))
        assert [e.action for e in events] == ["device.add", "device.set", "device.enable",
                                              "device.delete"]
        assert {(e.actor, e.source, e.target) for e in events} == {
            ("admin:root", "127.0.0.1", A)}

    run(tmp_path, body)


def test_validation_errors_name_the_field(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        await three(devices)
        root = await caller(admin, "root")
        cases = [
            ("POST", "/api/v1/devices", {"description": "x"}, "mac", "mac is required"),
            ("POST", "/api/v1/devices", {"mac": "zz"}, "mac", "not a MAC address: 'zz'"),
            ("POST", "/api/v1/devices", {"mac": A, "enabled": "yes"}, "enabled",
             "enabled must be true or false"),
            ("POST", "/api/v1/devices", {"mac": "0004f2000001", "colour": 1}, "colour",
             "unknown field 'colour': use mac, enabled, description"),
            ("PATCH", f"/api/v1/devices/{A}", {"description": "x" * 129}, "description",
             "description is too long: 129 characters, at most 128"),
            ("PATCH", f"/api/v1/devices/{A}", [1], "body", "the body must be a JSON object"),
        ]
        for method, path, json, field, reason in cases:
            status, error = await root.call(method, path, json=json)
            assert (status, error["field"], error["reason"]) == (422, field, reason), json
        status, error = await root.call("PATCH", f"/api/v1/devices/{A}", data=b"{nope",
                                        headers={"Content-Type": "application/json"})
        assert (status, error["field"]) == (422, "body")
        assert await admin.audit.recent(action_prefix="device.set") == []

    run(tmp_path, body)


def test_refusals_not_logged_in_and_csrf(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        await three(devices)
        stranger = admin.client()
        for method, path in [("GET", "/api/v1/devices"), ("GET", f"/api/v1/devices/{A}"),
                             ("GET", "/api/v1/devices/export"), ("DELETE", f"/api/v1/devices/{A}"),
                             ("POST", "/api/v1/devices/import")]:
            async with stranger.request(method, path) as answer:
                assert answer.status == 401, (method, path)
        root = await caller(admin, "root")
        for method, path, json in [("PATCH", f"/api/v1/devices/{A}", {"enabled": True}),
                                   ("DELETE", f"/api/v1/devices/{A}", None),
                                   ("POST", "/api/v1/devices", {"mac": "0004f2000001"})]:
            status, error = await root.call(method, path, json=json, csrf_header=False)
            assert status == 403 and "CSRF" in error["error"]
        assert not (await devices.get(A)).enabled and await devices.count() == 3
        admin.clock[0] += admin.server.settings.session_idle_timeout  # the session expires
        status, error = await root.call("GET", "/api/v1/devices")
        assert (status, error["error"]) == (401, "not logged in, or the session has expired")
        status, _ = await root.call("DELETE", f"/api/v1/devices/{A}")
        assert status == 401 and await devices.count() == 3

    run(tmp_path, body)


def test_group_admin_sees_and_changes_only_its_scope(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        await three(devices)
        group = await caller(admin, "grp", "group", (
            ("form", "devices", "write"), ("device", A, "write"), ("device", B, "read"),
            ("device", "00:04:f2:00:00:0d", "write")))
        status, page = await group.call("GET", "/api/v1/devices")
        assert (status, page["total"]) == (200, 2)
        assert [d["mac"] for d in page["items"]] == [A, B]
        status, text = await group.call("GET", "/api/v1/devices/export")
        assert status == 200 and text.splitlines()[0].startswith("mac,description,enabled")
        assert [row.split(",")[0] for row in text.splitlines()[1:]] == [A, B]
        status, _ = await group.call("PATCH", f"/api/v1/devices/{A}", json={"enabled": True})
        assert status == 200
        status, error = await group.call("PATCH", f"/api/v1/devices/{B}", json={"enabled": True})
        assert (status, error["error"]) == (403, f"device {B} is not in the write scope of grp")
        status, error = await group.call("GET", f"/api/v1/devices/{C}")
        assert (status, error["error"]) == (403, f"device {C} is not in the read scope of grp")
        status, _ = await group.call("POST", "/api/v1/devices", json={"mac": "0004f200000d"})
        assert status == 201
        status, _ = await group.call("POST", "/api/v1/devices", json={"mac": "0004f200000e"})
        assert status == 403
        status, error = await group.call("POST", "/api/v1/devices/import", data="mac\n")
        assert (status, error["error"]) == (403, "importing devices is for system "
                                                 "administrators only")
        denied = await admin.audit.recent(action_prefix="admin.denied")
        assert len(denied) == 4 and denied[0].actor == "admin:grp"
        assert denied[0].target == "POST /api/v1/devices/import"

        reader = await caller(admin, "ro", "group", (("form", "devices", "read"),
                                                     ("device", A, "write")))
        status, error = await reader.call("DELETE", f"/api/v1/devices/{A}")
        assert (status, error["error"]) == (403, "ro has no write grant for the devices form")
        nothing = await caller(admin, "none", "group", (("device", A, "write"),))
        status, error = await nothing.call("GET", "/api/v1/devices")
        assert (status, error["error"]) == (403, "none has no read grant for the devices form")

    run(tmp_path, body)


def test_end_user_reads_only_its_own_devices(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        await three(devices)
        user = await caller(admin, "eve", "user", (("device", C, "write"),
                                                   ("form", "devices", "write")))
        status, page = await user.call("GET", "/api/v1/devices")
        assert [d["mac"] for d in page["items"]] == [C]
        status, _ = await user.call("GET", f"/api/v1/devices/{C}")
        assert status == 200
        status, _ = await user.call("GET", f"/api/v1/devices/{A}")
        assert status == 403
        status, _ = await user.call("PATCH", f"/api/v1/devices/{C}", json={"enabled": True})
        assert status == 403
        assert not (await devices.get(C)).enabled

    run(tmp_path, body)


def test_import_all_or_nothing_and_export(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        await devices.add(A, ME)
        root = await caller(admin, "root")
        bad = ("mac,description,enabled\n0004f2000001,one,true\nnot-a-mac,two,\n"
               f"0004f2000003,three,maybe\n{A},again,\n")
        status, error = await root.call("POST", "/api/v1/devices/import", data=bad,
                                        headers={"Content-Type": "text/csv"})
        assert status == 422 and error["error"] == "3 bad row(s), nothing imported"
        lines = [(p["line"], p["reason"]) for p in error["problems"]]
        assert [line for line, _ in lines] == [3, 4, 5]
        assert "not a MAC" in lines[0][1] and "maybe" in lines[1][1]
        assert lines[2][1] == f"device {A} exists already (use update=true to change it)"
        assert await devices.count() == 1
        status, error = await root.call("POST", "/api/v1/devices/import", data="colour\nred\n")
        assert status == 422 and error["problems"][0]["line"] == 1
        good = f"mac,description,enabled\n0004f2000001,one,true\n{A},hall,true\n"
        status, done = await root.call("POST", "/api/v1/devices/import?update=true", data=good)
        assert (status, done) == (200, {"added": 1, "updated": 1})
        assert (await devices.get(A)).description == "hall"
        status, text = await root.call("GET", "/api/v1/devices/export")
        assert status == 200 and len(text.splitlines()) == 3
        [event] = await admin.audit.recent(action_prefix="device.import")
        assert (event.actor, event.detail) == ("admin:root", "1 added, 1 changed")

    run(tmp_path, body)


def test_import_larger_than_a_form(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        root = await caller(admin, "root")
        rows = "".join(f"0004f2{n:06x},{'desk phone on floor ' * 3}{n},false\n"
                       for n in range(1, 3001))  # fmt: skip
        text = "mac,description,enabled\n" + rows
        assert len(text) > 3 * 64 * 1024  # more than the server's form limit
        status, done = await root.call("POST", "/api/v1/devices/import", data=text,
                                       headers={"Content-Type": "text/csv"})
        assert (status, done) == (200, {"added": 3000, "updated": 0})
        assert await devices.count() == 3000

    run(tmp_path, body)


def test_an_import_over_the_limit_is_refused_whole(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        root = await caller(admin, "root")
        text = "mac,description,enabled\n" + "0004f2000001,x,false\n" * (MAX_IMPORT // 20 + 1)
        status, _ = await root.call("POST", "/api/v1/devices/import", data=text,
                                    headers={"Content-Type": "text/csv"})
        assert status == 413 and await devices.count() == 0
        # any other route keeps the form limit, even for a logged-in session
        status, _ = await root.call("POST", "/api/v1/devices", data="x" * (65 * 1024),
                                    headers={"Content-Type": "application/json"})
        assert status == 413

    run(tmp_path, body)
