"""CSV import and export of /api/v1/extensions and /api/v1/sipusers over real HTTPS: a good
file imports (audit row), a file with bad rows is 422 with every bad line and imports
nothing, an export imports back as is, existing rows need update=true; the refusals: no
grant or a read grant only (403), an import row outside a group administrator's scope (a bad
row), CSRF missing (403), not logged in (401)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from adminweb import Admin
from apiclient import caller, run

from voxgate.services.devices import DeviceService
from voxgate.sip.digest import ha1

SECRET = "Tq7-vWx2-Kp9m-Ext"
PASSWORD = "Rb4-nYc8-Zf3h-Dev"
UPSTREAM = "Lm6-pQs1-Jd5w-Up2"
CSV = {"Content-Type": "text/csv"}


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_extensions_import_export_round_trip(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        good = (
            "number,display_name,secret,enabled,max_contacts\n"
            f"201,Front desk,{SECRET}1,true,\n202,Back office,{SECRET}2,no,3\n"
        )
        status, done = await root.call("POST", "/api/v1/extensions/import", data=good, headers=CSV)
        assert (status, done) == (200, {"added": 2, "updated": 0})
        status, page = await root.call("GET", "/api/v1/extensions")
        assert [(e["number"], e["enabled"], e["max_contacts"]) for e in page["items"]] == [
            ("201", True, None),
            ("202", False, 3),
        ]

        status, text = await root.call("GET", "/api/v1/extensions/export")
        assert status == 200 and SECRET not in text
        exported = rows(text)
        assert list(exported[0]) == [
            "number",
            "display_name",
            "enabled",
            "max_contacts",
            "realm",
            "ha1_md5",
            "ha1_sha256",
        ]
        assert exported[0]["ha1_md5"] == ha1("MD5", "201", "pbx.test", SECRET + "1")
        status, error = await root.call("POST", "/api/v1/extensions/import", data=text)
        assert status == 422 and error["problems"] == [
            {"line": 2, "reason": "extension 201 exists already (use update=true to change it)"},
            {"line": 3, "reason": "extension 202 exists already (use update=true to change it)"},
        ]
        for number in ("201", "202"):
            assert (await root.call("DELETE", f"/api/v1/extensions/{number}"))[0] == 204
        status, done = await root.call("POST", "/api/v1/extensions/import", data=text)
        assert (status, done) == (200, {"added": 2, "updated": 0})
        status, again = await root.call("GET", "/api/v1/extensions/export")
        assert again == text  # the same extensions, the same secrets (HA1)
        status, done = await root.call(
            "POST",
            "/api/v1/extensions/import?update=true",
            data=text.replace("Front desk", "Reception"),
        )
        assert (status, done) == (200, {"added": 0, "updated": 2})
        assert (await root.call("GET", "/api/v1/extensions/201"))[1]["display_name"] == "Reception"
        events = [
            e.action for e in reversed(await admin.audit.recent(action_prefix="extension.import"))
        ]
        assert events == ["extension.import"] * 3

    run(tmp_path, body)


def test_extensions_import_with_bad_rows_imports_nothing(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        bad = (
            "number,display_name,secret,enabled,max_contacts\n"
            f"201,Front desk,{SECRET}1,true,\n"
            "202,Back office,qwertyuiop,true,\n"
            f"2x3,Kitchen,{SECRET}3,true,\n"
            f"204,Lab,{SECRET}4,maybe,\n"
            f"201,Again,{SECRET}5,true,\n"
        )
        status, error = await root.call("POST", "/api/v1/extensions/import", data=bad)
        assert status == 422 and error["error"] == "4 bad row(s), nothing imported"
        assert [p["line"] for p in error["problems"]] == [3, 4, 5, 6]
        assert error["problems"][0]["reason"].startswith("secret is too weak")
        assert error["problems"][1]["reason"] == "bad extension number '2x3': use 2 to 15 digits"
        assert error["problems"][2]["reason"] == "enabled 'maybe' is not true or false"
        assert error["problems"][3]["reason"] == "extension 201 already on line 2"
        assert (await root.call("GET", "/api/v1/extensions"))[1]["total"] == 0
        status, error = await root.call("POST", "/api/v1/extensions/import", data="name\nx\n")
        assert status == 422 and error["problems"] == [
            {"line": 1, "reason": "the header needs a 'number' column"}
        ]
        status, error = await root.call(
            "POST", "/api/v1/extensions/import?update=perhaps", data=bad
        )
        assert (status, error["field"]) == (422, "update")
        status, error = await root.call("POST", "/api/v1/extensions/import", data=b"\xff\xfe")
        assert (status, error["field"]) == (422, "body")
        assert await admin.audit.recent(action_prefix="extension.") == []

    run(tmp_path, body)


def test_extensions_csv_refusals_and_scope(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        file = f"number,secret\n201,{SECRET}1\n301,{SECRET}2\n"
        status, _ = await root.call("POST", "/api/v1/extensions/import", data=file,
                                    csrf_header=False)  # fmt: skip
        assert status == 403
        async with admin.client().get("/api/v1/extensions/export") as answer:
            assert answer.status == 401
        nothing = await caller(admin, "nogrant", "group")
        reader = await caller(
            admin, "reader", "group", (("form", "extensions", "read"), ("extension", "201", "read"))
        )
        user = await caller(admin, "enduser", "user", (("extension", "201", "read"),))
        for who in (nothing, reader, user):
            status, error = await who.call("POST", "/api/v1/extensions/import", data=file)
            assert status == 403 and "no write grant for the extensions form" in error["error"]
            status, error = await who.call("GET", "/api/v1/extensions/export")
            assert status == 403 and "no write grant for the extensions form" in error["error"]
        assert (await root.call("GET", "/api/v1/extensions"))[1]["total"] == 0
        denied = await admin.audit.recent(action_prefix="admin.denied")
        assert len(denied) == 6 and denied[0].target == "GET /api/v1/extensions/export"

        group = await caller(
            admin,
            "grp",
            "group",
            (
                ("form", "extensions", "write"),
                ("extension", "201", "write"),
                ("extension", "202", "read"),
            ),
        )
        status, error = await group.call("POST", "/api/v1/extensions/import", data=file)
        assert status == 422 and error["problems"] == [
            {"line": 3, "reason": "extension 301 is not in the write scope of grp"}
        ]
        status, done = await group.call(
            "POST", "/api/v1/extensions/import", data=f"number,secret\n201,{SECRET}1\n"
        )
        assert (status, done) == (200, {"added": 1, "updated": 0})
        for number in ("202", "301"):
            await root.call(
                "POST", "/api/v1/extensions", json={"number": number, "secret": SECRET + number}
            )
        status, text = await group.call("GET", "/api/v1/extensions/export")
        assert [r["number"] for r in rows(text)] == ["201"]  # 202 is read only: no HA1
        status, text = await root.call("GET", "/api/v1/extensions/export")
        assert [r["number"] for r in rows(text)] == ["201", "202", "301"]

    run(tmp_path, body)


def test_sipusers_import_export_and_refusals(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        header = (
            "username,password,extension,upstream_username,upstream_secret,device_mac,enabled\n"
        )
        good = (
            header + f"alice,{PASSWORD},201,,{UPSTREAM},00:04:f2:00:00:0a,true\n"
            f"bob,{PASSWORD}b,202,202-bob,{UPSTREAM}b,,\n"
        )
        status, done = await root.call("POST", "/api/v1/sipusers/import", data=good, headers=CSV)
        assert (status, done) == (200, {"added": 2, "updated": 0})
        status, user = await root.call("GET", "/api/v1/sipusers/bob")
        assert (user["extension"], user["upstream_username"], user["enabled"]) == (
            "202",
            "202-bob",
            True,
        )

        status, text = await root.call("GET", "/api/v1/sipusers/export")
        assert status == 200 and PASSWORD not in text and UPSTREAM not in text
        exported = rows(text)
        assert [(r["username"], r["device_mac"], r["upstream_secret"]) for r in exported] == [
            ("alice", "00:04:f2:00:00:0a", ""),
            ("bob", "", ""),
        ]
        assert exported[0]["ha1_md5"] == ha1("MD5", "alice", "edge.test", PASSWORD)
        # an export without the upstream secrets updates users; it cannot create them
        status, done = await root.call(
            "POST", "/api/v1/sipusers/import?update=true", data=text.replace(",true,", ",false,")
        )
        assert (status, done) == (200, {"added": 0, "updated": 2})
        assert (await root.call("GET", "/api/v1/sipusers/alice"))[1]["enabled"] is False
        await root.call("DELETE", "/api/v1/sipusers/bob")
        status, error = await root.call("POST", "/api/v1/sipusers/import?update=true", data=text)
        assert status == 422 and error["problems"] == [
            {
                "line": 3,
                "reason": (
                    "no upstream_secret (an export made without secrets cannot create users)"
                ),
            }
        ]
        assert (await root.call("GET", "/api/v1/sipusers"))[1]["total"] == 1

        bad = (
            header + f"carol,{PASSWORD},203,,{UPSTREAM},,\n"
            f"dave,{PASSWORD},204,,{PASSWORD},,\n"
            f"erin,{PASSWORD},205,,{UPSTREAM},00:11,\n"
            f"alice,{PASSWORD},201,,{UPSTREAM},,\n"
        )
        status, error = await root.call("POST", "/api/v1/sipusers/import", data=bad)
        assert status == 422 and [p["line"] for p in error["problems"]] == [3, 4, 5]
        assert "must differ" in error["problems"][0]["reason"]
        assert error["problems"][2]["reason"] == (
            "SIP user alice exists already (use update=true to change it)"
        )
        assert (await root.call("GET", "/api/v1/sipusers"))[1]["total"] == 1

        status, _ = await root.call("POST", "/api/v1/sipusers/import", data=good,
                                    csrf_header=False)  # fmt: skip
        assert status == 403
        reader = await caller(admin, "reader", "group", (("form", "sipusers", "read"),))
        for path, method in (
            ("/api/v1/sipusers/import", "POST"),
            ("/api/v1/sipusers/export", "GET"),
        ):
            status, error = await reader.call(method, path, data=good)
            assert (status, error["error"]) == (
                403,
                "reader has no write grant for the sipusers form",
            )
        group = await caller(
            admin, "grp", "group", (("form", "sipusers", "write"), ("extension", "203", "write"))
        )
        status, error = await group.call(
            "POST",
            "/api/v1/sipusers/import",
            data=(
                header + f"carol,{PASSWORD},203,,{UPSTREAM},,\nfrank,{PASSWORD},209,,{UPSTREAM},,\n"
            ),
        )
        assert status == 422 and error["problems"] == [
            {"line": 3, "reason": "extension 209 is not in the write scope of grp"}
        ]
        status, error = await group.call(
            "POST", "/api/v1/sipusers/import?update=true", data=(header + "alice,,203,,,,\n")
        )  # alice's extension 201 is out of its reach
        assert status == 422 and error["problems"] == [
            {"line": 2, "reason": "extension 201 is not in the write scope of grp"}
        ]
        status, done = await group.call(
            "POST",
            "/api/v1/sipusers/import",
            data=(header + f"carol,{PASSWORD},203,,{UPSTREAM},,\n"),
        )
        assert (status, done) == (200, {"added": 1, "updated": 0})
        status, text = await group.call("GET", "/api/v1/sipusers/export")
        assert [r["username"] for r in rows(text)] == ["carol"]
        events = [
            (e.action, e.actor)
            for e in reversed(await admin.audit.recent(action_prefix="sipuser.import"))
        ]
        assert events == [("sipuser.import", "admin:root")] * 2 + [("sipuser.import", "admin:grp")]

    run(tmp_path, body)
