"""The OpenAPI document against the routes: every /api/v1 route is described, every
operation lists its refusals, and every operation — walked from the document — refuses a
caller who is not logged in (401), and a state change without the CSRF header (403)."""

from __future__ import annotations

import re
from pathlib import Path

from adminweb import Admin
from apiclient import caller, run

from voxgate.services.devices import DeviceService
from voxgate.web.api.openapi import document

METHODS = ("get", "post", "patch", "put", "delete")
SAMPLE = {"mac": "00:04:f2:00:00:0a", "number": "201", "username": "alice", "kind": "block",
          "name": "devices"}


def operations() -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, item in document()["paths"].items()
            if path.startswith("/api/v1/") for method in METHODS if method in item]


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)


def test_every_route_is_described_with_its_refusals(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        app = admin.server.application()
        routes = {(r.method, r.resource.canonical) for r in app.router.routes()
                  if r.resource is not None and r.resource.canonical.startswith("/api/v1/")
                  and r.method != "HEAD"}  # fmt: skip
        assert routes == set(operations())
        doc = document()
        for method, path in operations():
            answers = doc["paths"][path][method.lower()]["responses"]
            if path in ("/api/v1/openapi.json", "/api/v1/session"):
                continue
            assert {"401", "403"} <= set(answers), (method, path)
            if "{" in path or method in ("POST", "PATCH"):
                assert {"404", "422"} & set(answers), (method, path)

    run(tmp_path, body)


def test_every_operation_refuses_strangers_and_missing_csrf(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        stranger = admin.client()
        root = await caller(admin, "root")
        for method, path in operations():
            if path == "/api/v1/openapi.json":
                continue
            async with stranger.request(method, concrete(path)) as answer:
                assert answer.status == 401, (method, path)
                assert (await answer.json())["error"]
            if method != "GET":
                status, error = await root.call(method, concrete(path), csrf_header=False,
                                                json={})  # fmt: skip
                assert status == 403 and "CSRF" in error["error"], (method, path)

    run(tmp_path, body)
