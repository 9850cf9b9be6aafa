"""GET /api/v1/audit over real HTTPS: newest first, filters by actor, action, time, paging;
the refusals: not logged in, missing grant, bad time."""

from __future__ import annotations

from pathlib import Path

from adminweb import ME, Admin
from apiclient import caller, run

from voxgate.services.devices import DeviceService


def test_filters_and_refusals(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        await devices.add("00:04:f2:00:00:0a", ME)
        root = await caller(admin, "root")
        status, _ = await root.call("PATCH", "/api/v1/devices/00:04:f2:00:00:0a",
                                    json={"enabled": True})
        assert status == 200
        status, page = await root.call("GET", "/api/v1/audit?action=device.")
        assert status == 200
        assert [(e["action"], e["actor"]) for e in page["items"]] == [
            ("device.enable", "admin:root"), ("device.add", "cli:tester")]
        assert page["items"][0]["source"] == "127.0.0.1"
        status, page = await root.call("GET", "/api/v1/audit?actor=admin:root")
        assert [e["action"] for e in page["items"]] == ["device.enable", "admin.login"]
        status, page = await root.call("GET", "/api/v1/audit?action=device.&limit=1&offset=1")
        assert [e["action"] for e in page["items"]] == ["device.add"]
        status, page = await root.call("GET", "/api/v1/audit?since=2999-01-01T00:00:00Z")
        assert page["items"] == []
        status, page = await root.call("GET", "/api/v1/audit?until=2000-01-01T00:00:00")
        assert page["items"] == []
        status, error = await root.call("GET", "/api/v1/audit?since=yesterday")
        assert (status, error["field"]) == (422, "since")
        async with admin.client().get("/api/v1/audit") as answer:
            assert answer.status == 401
        group = await caller(admin, "grp", "group", (("form", "devices", "write"),))
        status, error = await group.call("GET", "/api/v1/audit")
        assert (status, error["error"]) == (403, "grp has no read grant for the audit form")
        auditor = await caller(admin, "aud", "group", (("form", "audit", "read"),))
        status, page = await auditor.call("GET", "/api/v1/audit?action=device.enable")
        assert status == 200 and len(page["items"]) == 1

    run(tmp_path, body)
