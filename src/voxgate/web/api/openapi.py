"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 document of the API and the pages' form
posts.  Each resource module adds its paths here as it comes."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from voxgate import __version__
from voxgate.web.api import resources

JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"


def routes() -> list[web.RouteDef]:
    """The document's route."""
    return [web.get("/api/v1/openapi.json", get_document)]


async def get_document(request: web.Request) -> web.StreamResponse:
    """The document (public: it holds no secret)."""
    del request
    return web.json_response(document())


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _page(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _see_other(description: str) -> dict[str, Any]:
    return {"description": description,
            "headers": {"Location": {"schema": {"type": "string"}}}}  # fmt: skip


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {FORM: {"schema": schema}}}


_STRING: Final = {"type": "string"}
_CSRF: Final = {"type": "string", "description": "the session's (or login form's) CSRF token"}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "voxgate administration", "version": __version__,
            "description": "REST API of the voxgate web administration. Authenticate with "
            "POST /login (a session cookie); send the session's csrf_token in X-CSRF-Token "
            "with every POST, PUT, PATCH and DELETE.",
        },
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "__Host-voxgate-session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
            "schemas": {
                "Error": {"type": "object", "properties": {"error": _STRING},
                          "required": ["error"]},
                "Session": {
                    "type": "object",
                    "properties": {
                        "username": _STRING,
                        "role": {"type": "string", "enum": ["system", "group", "user"]},
                        "csrf_token": _STRING, "must_change_password": {"type": "boolean"},
                        "source": _STRING, "idle_timeout": {"type": "integer"},
                    },
                    "required": ["username", "role", "csrf_token", "must_change_password",
                                 "source", "idle_timeout"],
                },
                **resources.schemas(),
            },
        },
        "security": [{"session": []}],
        "paths": {
            "/api/v1/session": {"get": {
                "summary": "The caller's session: user, role, CSRF token",
                "responses": {
                    "200": {"description": "the session", "content": {JSON: {"schema": {
                        "$ref": "#/components/schemas/Session"}}}},
                    "401": _error("not logged in, or the session has expired"),
                },
            }},
            "/api/v1/openapi.json": {"get": {
                "summary": "This document", "security": [],
                "responses": {"200": {"description": "the OpenAPI document",
                                      "content": {JSON: {"schema": {"type": "object"}}}}},
            }},
            "/login": {
                "get": {"summary": "The login form; sets the login token cookie",
                        "security": [],
                        "parameters": [{"name": "next", "in": "query", "required": False,
                                        "schema": _STRING}],
                        "responses": {"200": _page("the form")}},
                "post": {
                    "summary": "Log in: opens a session (cookie)", "security": [],
                    "requestBody": _form({"username": _STRING, "password": _STRING,
                                          "csrf_token": _CSRF, "next": _STRING},
                                         ["username", "password", "csrf_token"]),
                    "responses": {
                        "303": _see_other("logged in: to the next page, or /password"),
                        "401": _page("wrong user name or password"),
                        "403": _page("login token missing or wrong"),
                        "429": _page("too many failed logins from this address"),
                        "503": _page("a session limit is reached"),
                    },
                },
            },
            "/logout": {"post": {
                "summary": "End the session", "security": [{"session": [], "csrf": []}],
                "responses": {"303": _see_other("to /login"), "403": _page("CSRF token")},
            }},
            "/password": {
                "get": {"summary": "The password change form",
                        "responses": {"200": _page("the form"), "303": _see_other("to /login")}},
                "post": {
                    "summary": "Change the caller's password",
                    "security": [{"session": [], "csrf": []}],
                    "requestBody": _form({"current": _STRING, "new": _STRING, "again": _STRING,
                                          "csrf_token": _CSRF},
                                         ["current", "new", "again", "csrf_token"]),
                    "responses": {"303": _see_other("changed: to the dashboard"),
                                  "400": _page("refused: why (strength feedback)"),
                                  "403": _page("CSRF token missing or wrong")},
                },
            },
            "/": {"get": {"summary": "The dashboard",
                          "responses": {"200": _page("the dashboard"),
                                        "303": _see_other("to /login or /password")}}},
            **resources.paths(),
        },
    }
