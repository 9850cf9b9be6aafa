"""/api/v1/extensions and /api/v1/sipusers over real HTTPS: list, show, add, change, delete
with audit rows; secrets written, never read back; scope by extension grants; the refusals:
not logged in, CSRF missing, missing grant, out of scope, bad values (field and reason),
taken (409), unknown (404)."""

from __future__ import annotations

import json
from pathlib import Path

from adminweb import Admin
from apiclient import caller, run

from voxgate.services.devices import DeviceService

SECRET = "Tq7-vWx2-Kp9m-Ext"
PASSWORD = "Rb4-nYc8-Zf3h-Dev"
UPSTREAM = "Lm6-pQs1-Jd5w-Up2"


def test_extensions_crud_without_secrets(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        status, ext = await root.call("POST", "/api/v1/extensions", json={
            "number": "201", "secret": SECRET, "display_name": "Front desk"})
        assert status == 201 and ext["number"] == "201" and ext["realm"] == "pbx.test"
        assert ext["enabled"] is True and ext["max_contacts"] is None
        status, _ = await root.call("POST", "/api/v1/extensions",
                                    json={"number": "202", "secret": SECRET + "2"})
        status, error = await root.call("POST", "/api/v1/extensions",
                                        json={"number": "201", "secret": SECRET})
        assert (status, error["error"]) == (409, "extension 201 exists already")
        status, page = await root.call("GET", "/api/v1/extensions?q=front")
        assert (page["total"], [e["number"] for e in page["items"]]) == (1, ["201"])
        status, ext = await root.call("PATCH", "/api/v1/extensions/201", json={
            "enabled": False, "max_contacts": 3, "secret": SECRET + "x"})
        assert status == 200 and (ext["enabled"], ext["max_contacts"]) == (False, 3)
        status, ext = await root.call("GET", "/api/v1/extensions/201")
        assert status == 200 and SECRET not in json.dumps(ext) and "ha1" not in json.dumps(ext)
        status, _ = await root.call("DELETE", "/api/v1/extensions/202")
        assert status == 204
        status, error = await root.call("GET", "/api/v1/extensions/202")
        assert (status, error["error"]) == (404, "no extension 202")
        for payload, field in [({"number": "2a", "secret": SECRET}, "number"),
                               ({"number": "203", "secret": "letmein123"}, "secret"),
                               ({"number": "203"}, "secret"),
                               ({"number": "203", "secret": SECRET, "max_contacts": 0},
                                "max_contacts"),
                               ({"number": "203", "secret": SECRET, "display_name": 'a"b'},
                                "display_name")]:
            status, error = await root.call("POST", "/api/v1/extensions", json=payload)
            assert (status, error["field"]) == (422, field), payload
        events = list(reversed(await admin.audit.recent(action_prefix="extension.")))
        assert [e.action for e in events] == ["extension.add", "extension.add", "extension.set",
                                              "extension.delete"]
        assert events[2].detail == "enabled, max_contacts, new secret"
        assert all(e.actor == "admin:root" and SECRET not in e.detail for e in events)

    run(tmp_path, body)


def test_sipusers_crud_scope_and_refusals(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        new = {"username": "alice", "extension": "201", "password": PASSWORD,
               "upstream_secret": UPSTREAM, "device_mac": "0004f200000a"}
        status, user = await root.call("POST", "/api/v1/sipusers", json=new)
        assert status == 201, user
        assert (user["username"], user["extension"], user["device_mac"]) == (
            "alice", "201", "00:04:f2:00:00:0a")
        assert PASSWORD not in json.dumps(user) and UPSTREAM not in json.dumps(user)
        status, _ = await root.call("POST", "/api/v1/sipusers", json={
            **new, "username": "bob", "extension": "202", "device_mac": None})
        assert status == 201
        status, error = await root.call("POST", "/api/v1/sipusers", json=new)
        assert status == 409
        status, error = await root.call("POST", "/api/v1/sipusers", json={
            **new, "username": "carol", "upstream_secret": PASSWORD})
        assert (status, error["field"]) == (422, "upstream_secret")
        for payload, field in [({**new, "username": "bad name"}, "username"),
                               ({**new, "username": "c", "password": "letmein123"}, "password"),
                               ({**new, "username": "c", "device_mac": "zz"}, "device_mac"),
                               ({**new, "username": "c", "extension": "x"}, "extension"),
                               ({"username": "c", "extension": "203"}, "password")]:
            status, error = await root.call("POST", "/api/v1/sipusers", json=payload)
            assert (status, error["field"]) == (422, field), payload
        status, user = await root.call("PATCH", "/api/v1/sipusers/alice",
                                       json={"enabled": False, "device_mac": None})
        assert status == 200 and (user["enabled"], user["device_mac"]) == (False, None)

        group = await caller(admin, "grp", "group", (("form", "sipusers", "write"),
                                                     ("extension", "201", "write")))
        status, page = await group.call("GET", "/api/v1/sipusers")
        assert [u["username"] for u in page["items"]] == ["alice"]
        # a user outside everything grp may read is answered as one that does not exist (so
        # it cannot probe which user names exist); the refusal is audited with the reason
        for method, kwargs in (("GET", {}), ("PATCH", {"json": {"enabled": False}}),
                               ("DELETE", {})):  # fmt: skip
            for name in ("bob", "nobody"):
                status, error = await group.call(method, f"/api/v1/sipusers/{name}", **kwargs)
                assert (status, error["error"]) == (404, f"no SIP user '{name}'"), (method, name)
        assert (await root.call("GET", "/api/v1/sipusers/bob"))[1]["enabled"] is True
        denied = [(e.actor, e.target, e.detail)
                  for e in await admin.audit.recent(action_prefix="admin.denied")]  # fmt: skip
        assert ("admin:grp", "GET /api/v1/sipusers/bob",
                "extension 202 (its extension) is not in the read scope of grp") in denied
        status, error = await group.call("PATCH", "/api/v1/sipusers/alice",
                                         json={"extension": "202"})
        assert status == 403
        status, _ = await group.call("DELETE", "/api/v1/sipusers/alice", csrf_header=False)
        assert status == 403
        status, _ = await group.call("DELETE", "/api/v1/sipusers/alice")
        assert status == 204
        status, error = await root.call("DELETE", "/api/v1/sipusers/alice")
        assert (status, error["error"]) == (404, "no SIP user 'alice'")
        async with admin.client().get("/api/v1/sipusers") as answer:
            assert answer.status == 401
        nope = await caller(admin, "ext", "group", (("form", "extensions", "write"),))
        status, error = await nope.call("GET", "/api/v1/sipusers")
        assert (status, error["error"]) == (403, "ext has no read grant for the sipusers form")
        events = list(reversed(await admin.audit.recent(action_prefix="sipuser.")))
        assert [(e.action, e.actor) for e in events] == [
            ("sipuser.add", "admin:root"), ("sipuser.add", "admin:root"),
            ("sipuser.set", "admin:root"), ("sipuser.delete", "admin:grp")]

    run(tmp_path, body)
