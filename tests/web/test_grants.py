"""The grant rule of ADMIN-5 (voxgate.web.grants), table by table."""

from __future__ import annotations

import pytest

from voxgate.storage.repos.admins import AdminGrantRecord as G
from voxgate.web.grants import ForbiddenError, Grants

MAC = "0004f200000a"


def test_system_may_do_everything() -> None:
    grants = Grants("root", "system")
    assert grants.allows_form("admins", "write") and grants.allows("device", MAC, "write")
    assert grants.in_scope("device") is None
    grants.require_system("anything")


def test_group_needs_the_form_and_the_scope_write_implies_read() -> None:
    grants = Grants.of("g", "group", [G("form", "devices", "read"), G("form", "devices", "write"),
                                      G("device", MAC, "write"), G("extension", "201", "read")])
    assert grants.allows_form("devices", "write") and grants.allows_form("devices", "read")
    assert not grants.allows_form("netlists", "read")
    assert grants.allows("device", MAC, "read") and grants.allows("device", MAC, "write")
    assert not grants.allows("extension", "201", "write")
    assert grants.in_scope("device") == {MAC} and grants.in_scope("extension") == {"201"}
    with pytest.raises(ForbiddenError, match="g has no read grant for the netlists form"):
        grants.require_form("netlists", "read")
    with pytest.raises(ForbiddenError, match="device x is not in the write scope of g"):
        grants.require("devices", "write", "device", "0004f200000b", "x")
    with pytest.raises(ForbiddenError, match="for system administrators only"):
        grants.require_system("importing devices")


def test_a_weaker_grant_does_not_lower_a_stronger_one() -> None:
    grants = Grants.of("g", "group", [G("form", "cdr", "write"), G("form", "cdr", "read")])
    assert grants.allows_form("cdr", "write")


def test_end_user_reads_its_own_devices_and_changes_nothing() -> None:
    grants = Grants.of("u", "user", [G("device", MAC, "write"), G("form", "netlists", "write")])
    assert grants.allows_form("devices", "read") and grants.allows("device", MAC, "read")
    assert not grants.allows_form("devices", "write") and not grants.allows("device", MAC, "write")
    assert not grants.allows_form("netlists", "read")
