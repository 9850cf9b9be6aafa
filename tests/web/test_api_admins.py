"""/api/v1/admins over real HTTPS: accounts listed, added (a password given and checked for
strength, or generated and returned once), changed, reset, deleted; grants added, changed and
revoked; every change an audit event.  The refusals: not a system administrator (403, audited
as admin.denied), CSRF missing (403), one's own account (409), bad values (422 naming the
field), unknown (404), taken (409).  An account disabled, deleted, given another role or a new
password loses its open sessions at once."""

from __future__ import annotations

from pathlib import Path

from adminweb import GOOD, ME, Admin, login
from apiclient import caller, run

from voxgate.services.devices import DeviceService

BASE = "/api/v1/admins"
STRONG = "Hc5-tRw2-Qm8v-Usr"


def test_accounts_added_changed_reset_deleted_with_audit(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        status, gina = await root.call("POST", BASE, json={"username": "gina", "role": "group"})
        assert status == 201, gina
        generated = gina.pop("generated_password")
        assert len(generated) == 20
        assert (gina["username"], gina["role"], gina["enabled"], gina["must_change"]) == (
            "gina", "group", True, True)
        assert gina["password_expires_at"] is None and gina["last_login_at"] is None
        status, where, _ = await login(admin.client(), "gina", generated)
        assert (status, where) == (303, "/password")  # must change it first

        status, hugo = await root.call("POST", BASE, json={
            "username": "hugo", "role": "user", "password": STRONG, "must_change": False,
            "password_max_age_days": 90})
        assert status == 201 and "generated_password" not in hugo
        assert hugo["must_change"] is False and hugo["password_expires_at"] is not None

        for payload, field in [
            ({"username": "ivy", "role": "user", "password": "password123"}, "password"),
            ({"username": "ivy", "role": "user", "password": "ivy-ivy-ivy"}, "password"),
            ({"username": "bad name", "role": "user"}, "username"),
            ({"username": "ivy", "role": "root"}, "role"),
            ({"username": "ivy"}, "role"),
            ({"username": "ivy", "role": "user", "password_max_age_days": 5000},
             "password_max_age_days"),
            ({"username": "ivy", "role": "user", "shell": True}, "shell"),
        ]:
            status, error = await root.call("POST", BASE, json=payload)
            assert (status, error["field"]) == (422, field), (payload, error)
        status, error = await root.call("POST", BASE, json={
            "username": "ivy", "role": "user", "password": "password123"})
        assert error["reason"] == ("password is too weak: this is a very common password; use at "
                                   "least 10 characters that are hard to guess")
        status, error = await root.call("POST", BASE, json={"username": "hugo", "role": "user"})
        assert (status, error["error"]) == (409, "account 'hugo' exists")
        assert "generated_password" not in error

        status, page = await root.call("GET", BASE)
        assert (page["total"], [a["username"] for a in page["items"]]) == (
            3, ["gina", "hugo", "root"])
        assert all("hash" not in str(a) and GOOD not in str(a) for a in page["items"])

        status, changed = await root.call("PATCH", f"{BASE}/gina", json={
            "password_max_age_days": 30, "role": "user"})
        assert status == 200 and changed["role"] == "user"
        assert changed["password_max_age_days"] == 30 and changed["password_expires_at"]
        for payload, field in [({}, "body"), ({"enabled": "no"}, "enabled"),
                               ({"role": "boss"}, "role"),
                               ({"password_max_age_days": -1}, "password_max_age_days"),
                               ({"password_max_age_days": True}, "password_max_age_days")]:
            status, error = await root.call("PATCH", f"{BASE}/gina", json=payload)
            assert (status, error["field"]) == (422, field), payload
        status, error = await root.call("PATCH", f"{BASE}/nobody", json={"enabled": False})
        assert (status, error["error"]) == (404, "no account 'nobody'")

        status, reset = await root.call("POST", f"{BASE}/gina/password")
        assert status == 200 and reset["must_change"] is True
        assert reset["generated_password"] != generated
        assert (await login(admin.client(), "gina", generated))[0] == 401
        assert (await login(admin.client(), "gina", reset["generated_password"]))[:2] == (
            303, "/password")

        status, _ = await root.call("DELETE", f"{BASE}/hugo")
        assert status == 204
        status, error = await root.call("GET", f"{BASE}/hugo")
        assert (status, error["error"]) == (404, "no account 'hugo'")
        status, _ = await root.call("DELETE", f"{BASE}/hugo")
        assert status == 404
        events = [(e.actor, e.source, e.action, e.target)
                  for e in reversed(await admin.audit.recent(action_prefix="admin."))
                  if e.action not in ("admin.login", "admin.login_failed")]
        assert events == [("cli:tester", "local", "admin.add", "root")] + [
            ("admin:root", "127.0.0.1", action, target) for action, target in (
                ("admin.add", "gina"), ("admin.add", "hugo"), ("admin.change", "gina"),
                ("admin.password", "gina"), ("admin.delete", "hugo"))]
        assert not any(generated in e.detail or STRONG in e.detail
                       for e in await admin.audit.recent())

    run(tmp_path, body)


def test_grants_added_changed_and_revoked(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        await admin.admins.add("gina", GOOD, "group", ME)
        grants = f"{BASE}/gina/grants"
        status, grant = await root.call("POST", grants, json={
            "kind": "form", "name": "devices", "access": "read"})
        assert (status, grant) == (200, {"kind": "form", "name": "devices", "access": "read",
                                         "changed": True})
        status, grant = await root.call("POST", grants, json={
            "kind": "form", "name": "devices", "access": "write"})
        assert grant["changed"] is True
        status, grant = await root.call("POST", grants, json={
            "kind": "form", "name": "devices", "access": "write"})
        assert grant["changed"] is False
        status, grant = await root.call("POST", grants, json={
            "kind": "device", "name": "00-04-F2-A1-B2-C3", "access": "write"})
        assert (status, grant["name"]) == (200, "00:04:f2:a1:b2:c3")
        await root.call("POST", grants, json={"kind": "extension", "name": "201",
                                              "access": "read"})
        for payload, field in [
            ({"kind": "form", "name": "admins", "access": "read"}, "name"),
            ({"kind": "form", "name": "tls", "access": "write"}, "name"),
            ({"kind": "form", "name": "shell", "access": "read"}, "name"),
            ({"kind": "device", "name": "zz", "access": "read"}, "name"),
            ({"kind": "extension", "name": "2x", "access": "read"}, "name"),
            ({"kind": "group", "name": "x", "access": "read"}, "kind"),
            ({"kind": "form", "name": "cdr", "access": "all"}, "access"),
            ({"kind": "form", "name": "cdr"}, "access"),
        ]:
            status, error = await root.call("POST", grants, json=payload)
            assert (status, error["field"]) == (422, field), (payload, error)
        status, error = await root.call("POST", grants, json={
            "kind": "form", "name": "admins", "access": "read"})
        assert "for system administrators only: it cannot be granted" in error["reason"]
        status, error = await root.call("POST", f"{BASE}/nobody/grants", json={
            "kind": "form", "name": "cdr", "access": "read"})
        assert status == 404

        status, listed = await root.call("GET", grants)
        assert listed["items"] == [
            {"kind": "device", "name": "00:04:f2:a1:b2:c3", "access": "write"},
            {"kind": "extension", "name": "201", "access": "read"},
            {"kind": "form", "name": "devices", "access": "write"}]
        status, account = await root.call("GET", f"{BASE}/gina")
        assert account["grants"] == listed["items"]
        status, _ = await root.call("DELETE", f"{grants}/device/00:04:f2:a1:b2:c3")
        assert status == 204
        status, error = await root.call("DELETE", f"{grants}/device/00:04:f2:a1:b2:c3")
        assert (status, error["error"]) == (404, "gina has no device grant for 00:04:f2:a1:b2:c3")
        status, error = await root.call("DELETE", f"{grants}/device/nope")
        assert (status, error["field"]) == (422, "name")
        status, _ = await root.call("DELETE", f"{grants}/form/devices")
        assert status == 204
        status, listed = await root.call("GET", grants)
        assert listed["items"] == [{"kind": "extension", "name": "201", "access": "read"}]
        details = [(e.action, e.detail)
                   for e in reversed(await admin.audit.recent(action_prefix="admin."))
                   if e.actor == "admin:root" and e.action != "admin.login"]
        assert details == [
            ("admin.grant", "form devices: read"), ("admin.grant", "form devices: write"),
            ("admin.grant", "device 00:04:f2:a1:b2:c3: write"),
            ("admin.grant", "extension 201: read"),
            ("admin.revoke", "device 00:04:f2:a1:b2:c3"), ("admin.revoke", "form devices")]

    run(tmp_path, body)


def test_refusals_group_admin_csrf_and_own_account(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        group = await caller(admin, "gina", "group", (("form", "devices", "write"),
                                                      ("form", "audit", "read")))
        user = await caller(admin, "hugo", "user")
        calls = [("GET", BASE, None), ("POST", BASE, {"username": "x", "role": "system"}),
                 ("GET", f"{BASE}/root", None), ("PATCH", f"{BASE}/gina", {"role": "system"}),
                 ("DELETE", f"{BASE}/root", None), ("POST", f"{BASE}/root/password", None),
                 ("GET", f"{BASE}/gina/grants", None),
                 ("POST", f"{BASE}/gina/grants", {"kind": "form", "name": "netlists",
                                                  "access": "write"}),
                 ("DELETE", f"{BASE}/gina/grants/form/devices", None)]
        for who in (group, user):
            for method, path, payload in calls:
                status, error = await who.call(method, path, json=payload)
                assert status == 403, (method, path)
                assert error["error"].endswith("managing accounts is for system administrators "
                                               "only")
        assert [a.username for a in await admin.admins.accounts()] == ["gina", "hugo", "root"]
        assert (await admin.admins.get("gina")).role == "group"
        denied = await admin.audit.recent(action_prefix="admin.denied")
        assert len(denied) == 2 * len(calls)
        assert {e.actor for e in denied} == {"admin:gina", "admin:hugo"}
        assert denied[-1].target == "GET /api/v1/admins"

        for method, path, payload in calls[1:]:
            if method != "GET":
                status, error = await root.call(method, path, json=payload, csrf_header=False)
                assert status == 403 and "CSRF" in error["error"], (method, path)

        for method, path, payload in [("DELETE", f"{BASE}/root", None),
                                      ("PATCH", f"{BASE}/root", {"enabled": False}),
                                      ("PATCH", f"{BASE}/root", {"role": "group"}),
                                      ("POST", f"{BASE}/root/password", None)]:
            status, error = await root.call(method, path, json=payload)
            assert status == 409, (method, path)
            assert "own" in error["error"]
        status, changed = await root.call("PATCH", f"{BASE}/root", json={
            "password_max_age_days": 180})
        assert status == 200 and changed["enabled"] and changed["role"] == "system"
        status, _ = await root.call("GET", "/api/v1/session")
        assert status == 200  # still logged in

    run(tmp_path, body)


def test_an_account_losing_access_loses_its_sessions_at_once(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        sessions = admin.server.context.sessions
        root = await caller(admin, "root")
        gina = await caller(admin, "gina", "group", (("form", "devices", "read"),))
        hugo = await caller(admin, "hugo", "group")
        ivy = await caller(admin, "ivy", "user")
        jo = await caller(admin, "jo", "group")
        assert sessions.count("group") == 3 and sessions.count("user") == 1

        status, _ = await gina.call("GET", "/api/v1/devices")
        assert status == 200
        status, _ = await root.call("PATCH", f"{BASE}/gina", json={"enabled": False})
        assert status == 200
        assert sessions.count("group") == 2  # ended now, not at gina's next request
        status, error = await gina.call("GET", "/api/v1/devices")
        assert (status, error["error"]) == (401, "not logged in, or the session has expired")
        assert (await login(admin.client(), "gina", GOOD))[0] == 401  # disabled

        await root.call("PATCH", f"{BASE}/hugo", json={"role": "user"})
        await root.call("POST", f"{BASE}/ivy/password")
        await root.call("DELETE", f"{BASE}/jo")
        assert sessions.count() == 1  # root's
        for who in (hugo, ivy, jo):
            status, _ = await who.call("GET", "/api/v1/session")
            assert status == 401

        # what does not take access away keeps the session
        kim = await caller(admin, "kim", "group")
        await root.call("PATCH", f"{BASE}/kim", json={"password_max_age_days": 10})
        await root.call("POST", f"{BASE}/kim/grants", json={"kind": "form", "name": "cdr",
                                                            "access": "read"})
        status, _ = await kim.call("GET", "/api/v1/cdr")
        assert status == 200
        await root.call("DELETE", f"{BASE}/kim/grants/form/cdr")
        status, error = await kim.call("GET", "/api/v1/cdr")
        assert (status, error["error"]) == (403, "kim has no read grant for the cdr form")
        assert (await login(admin.client(), "hugo", GOOD))[:2] == (303, "/")  # as a user now

    run(tmp_path, body)
