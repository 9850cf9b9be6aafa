"""``/api/v1/admins``: the accounts of the web administration and their grants (ADMIN-2,
ADMIN-5), through :class:`~voxgate.services.admins.AdminService` — the service ``voxgate
admin`` uses.  System administrators only.

A password is given (checked for strength: ``422`` with the reason) or generated, and then
returned once; either way it must be changed at the first login unless ``must_change`` is
false.  A reset sets a generated one.  Refused whatever the values (``409``): deleting,
disabling or demoting the last enabled system administrator, and one's own account (deleted,
disabled, another role, a password reset: another system administrator does that).  An
account deleted, disabled, given another role or a new password loses its open sessions at
once.  Every change is an audit event (the service writes it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from voxgate.policy.devices import format_mac
from voxgate.services.admins import (
    ACCESS,
    FORMS,
    GRANT_KINDS,
    ROLES,
    SYSTEM_FORMS,
    USERNAME_PATTERN,
    AccountExistsError,
    AdminAccount,
    AdminError,
    RefusedChangeError,
    UnknownAccountError,
    WeakPasswordError,
    check_grant,
    check_max_age,
    check_role,
    check_username,
)
from voxgate.services.secrets_policy import generate_secret
from voxgate.storage.repos.admins import AdminGrantRecord
from voxgate.web.api import describe as d
from voxgate.web.api.v1 import (
    ApiError,
    Services,
    answering,
    boolean,
    invalid,
    json_object,
    not_found,
    string,
    unknown_fields,
)
from voxgate.web.context import actor_of, context_of
from voxgate.web.grants import grants_of

BASE: Final = "/api/v1/admins"
ADD_FIELDS: Final = ("username", "role", "password", "must_change", "enabled",
                     "password_max_age_days")  # fmt: skip
PATCH_FIELDS: Final = ("role", "enabled", "must_change", "password_max_age_days")
GRANT_FIELDS: Final = ("kind", "name", "access")


def routes(services: Services) -> list[web.RouteDef]:
    """The resource's routes."""
    one = BASE + "/{username}"
    return [
        web.get(BASE, answering(services, list_accounts)),
        web.post(BASE, answering(services, add_account)),
        web.get(one, answering(services, get_account)),
        web.patch(one, answering(services, change_account)),
        web.delete(one, answering(services, delete_account)),
        web.post(one + "/password", answering(services, reset_password)),
        web.get(one + "/grants", answering(services, list_grants)),
        web.post(one + "/grants", answering(services, add_grant)),
        web.delete(one + "/grants/{kind}/{name}", answering(services, revoke_grant)),
    ]


def to_json(account: AdminAccount, default_days: int) -> dict[str, Any]:
    """An account as the API shows it (never the hash)."""

    def when(value: Any) -> str | None:
        return None if value is None else str(value.isoformat())

    return {
        "username": account.username, "role": account.role, "enabled": account.enabled,
        "must_change": account.must_change,
        "password_changed_at": when(account.password_changed_at),
        "password_max_age_days": account.password_max_age_days,
        "password_expires_at": when(account.password_expires_at(default_days)),
        "last_login_at": when(account.last_login_at), "last_login_from": account.last_login_from,
        "created_at": when(account.created_at),
    }  # fmt: skip


def grant_json(grant: AdminGrantRecord) -> dict[str, str]:
    """A grant as the API shows it (a device by its MAC with colons)."""
    name = format_mac(grant.name) if grant.kind == "device" else grant.name
    return {"kind": grant.kind, "name": name, "access": grant.access}


async def _system(request: web.Request) -> None:
    (await grants_of(request)).require_system("managing accounts")


def _username(request: web.Request) -> str:
    try:
        return check_username(request.match_info["username"])
    except AdminError as err:
        raise invalid("username", str(err)) from None


def _max_age(body: Mapping[str, Any]) -> int | None:
    value = body.get("password_max_age_days")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise invalid("password_max_age_days", "password_max_age_days must be an integer "
                      "(0: never expires) or null (the configured limit)")  # fmt: skip
    try:
        return check_max_age(value)
    except AdminError as err:
        raise invalid("password_max_age_days", str(err)) from None


def _refused(err: AdminError) -> ApiError:
    """A refusal the service made once the fields were checked."""
    if isinstance(err, UnknownAccountError):
        return not_found(str(err))
    if isinstance(err, AccountExistsError | RefusedChangeError):
        return ApiError(409, str(err))
    if isinstance(err, WeakPasswordError):
        return invalid("password", err.feedback)
    return ApiError(422, str(err))


def _default_days(request: web.Request) -> int:
    return context_of(request).settings.password_max_age_days


async def list_accounts(request: web.Request, services: Services) -> web.StreamResponse:
    """Every account, by user name."""
    del services
    await _system(request)
    accounts = await context_of(request).admins.accounts()
    days = _default_days(request)
    return web.json_response({"total": len(accounts),
                              "items": [to_json(a, days) for a in accounts]})  # fmt: skip


async def get_account(request: web.Request, services: Services) -> web.StreamResponse:
    """One account and its grants."""
    del services
    await _system(request)
    username = _username(request)
    admins = context_of(request).admins
    try:
        account = await admins.get(username)
        grants = await admins.grants(username)
    except AdminError as err:
        raise _refused(err) from None
    return web.json_response({**to_json(account, _default_days(request)),
                              "grants": [grant_json(g) for g in grants]})  # fmt: skip


async def add_account(request: web.Request, services: Services) -> web.StreamResponse:
    """Add an account with the given password, or a generated one returned once."""
    del services
    await _system(request)
    body = await json_object(request)
    unknown_fields(body, ADD_FIELDS)
    username = string(body, "username", required=True) or ""
    try:
        check_username(username)
    except AdminError as err:
        raise invalid("username", str(err)) from None
    try:
        role = check_role(string(body, "role", required=True) or "")
    except AdminError as err:
        raise invalid("role", str(err)) from None
    given = string(body, "password")
    must_change = boolean(body, "must_change")
    enabled = boolean(body, "enabled")
    max_age = _max_age(body)
    password = generate_secret() if given is None else given
    try:
        account = await context_of(request).admins.add(
            username, password, role, actor_of(request),
            must_change=True if must_change is None else must_change,
            enabled=True if enabled is None else enabled, max_age_days=max_age,
        )  # fmt: skip
    except AdminError as err:
        raise _refused(err) from None
    answer = to_json(account, _default_days(request))
    if given is None:
        answer["generated_password"] = password
    return web.json_response(answer, status=201)


async def change_account(request: web.Request, services: Services) -> web.StreamResponse:
    """Change the role, enabled, must_change or the password age limit (null: the
    configured one)."""
    del services
    await _system(request)
    username = _username(request)
    body = await json_object(request)
    unknown_fields(body, PATCH_FIELDS)
    role = string(body, "role")
    if role is not None:
        try:
            check_role(role)
        except AdminError as err:
            raise invalid("role", str(err)) from None
    enabled, must_change = boolean(body, "enabled"), boolean(body, "must_change")
    max_age: int | str | None = _max_age(body) if "password_max_age_days" in body else "keep"
    if role is None and enabled is None and must_change is None and max_age == "keep":
        raise invalid("body", f"nothing to change: use {', '.join(PATCH_FIELDS)}")
    try:
        account = await context_of(request).admins.change(
            username, actor_of(request), role=role, enabled=enabled, must_change=must_change,
            max_age_days=max_age,
        )  # fmt: skip
    except AdminError as err:
        raise _refused(err) from None
    return web.json_response(to_json(account, _default_days(request)))


async def delete_account(request: web.Request, services: Services) -> web.StreamResponse:
    """Delete an account and its grants."""
    del services
    await _system(request)
    username = _username(request)
    try:
        await context_of(request).admins.delete(username, actor_of(request))
    except AdminError as err:
        raise _refused(err) from None
    return web.Response(status=204)


async def reset_password(request: web.Request, services: Services) -> web.StreamResponse:
    """Set a generated password, to be changed at the next login; returned once."""
    del services
    await _system(request)
    username = _username(request)
    password = generate_secret()
    try:
        await context_of(request).admins.set_password(username, password, actor_of(request),
                                                      must_change=True)  # fmt: skip
    except AdminError as err:
        raise _refused(err) from None
    return web.json_response({"username": username, "generated_password": password,
                              "must_change": True})  # fmt: skip


async def list_grants(request: web.Request, services: Services) -> web.StreamResponse:
    """The account's grants."""
    del services
    await _system(request)
    username = _username(request)
    try:
        grants = await context_of(request).admins.grants(username)
    except AdminError as err:
        raise _refused(err) from None
    return web.json_response({"items": [grant_json(g) for g in grants]})


def _grant(kind: str, name: str, access: str) -> AdminGrantRecord:
    try:
        return check_grant(kind, name, access)
    except AdminError as err:
        field = ("kind" if kind not in GRANT_KINDS else "access" if access not in ACCESS
                 else "name")  # fmt: skip
        raise invalid(field, str(err)) from None


async def add_grant(request: web.Request, services: Services) -> web.StreamResponse:
    """Add a grant, or change the access of the account's grant of that kind and name."""
    del services
    await _system(request)
    username = _username(request)
    body = await json_object(request)
    unknown_fields(body, GRANT_FIELDS)
    grant = _grant(string(body, "kind", required=True) or "",
                   string(body, "name", required=True) or "",
                   string(body, "access", required=True) or "")  # fmt: skip
    try:
        changed = await context_of(request).admins.grant(username, grant.kind, grant.name,
                                                         grant.access, actor_of(request))
    except AdminError as err:
        raise _refused(err) from None
    return web.json_response({**grant_json(grant), "changed": changed})


async def revoke_grant(request: web.Request, services: Services) -> web.StreamResponse:
    """Remove the account's grant of that kind and name."""
    del services
    await _system(request)
    username = _username(request)
    kind, name = request.match_info["kind"], request.match_info["name"]
    if not (kind == "form" and name in SYSTEM_FORMS):  # those only go (granted before)
        _grant(kind, name, "read")  # 422 naming the bad part
    admins = context_of(request).admins
    try:
        await admins.get(username)
        removed = await admins.revoke(username, kind, name, actor_of(request))
    except AdminError as err:
        raise _refused(err) from None
    if not removed:
        raise not_found(f"{username} has no {kind} grant for {name}")
    return web.Response(status=204)


_TIME_OR_NULL: Final = {"type": ["string", "null"]}
_ACCOUNT_PROPERTIES: Final = {
    "username": {"type": "string"},
    "role": {"type": "string", "enum": list(ROLES)},
    "enabled": {"type": "boolean"}, "must_change": {"type": "boolean"},
    "password_changed_at": {"type": "string"},
    "password_max_age_days": {"type": ["integer", "null"],
                              "description": "null: admin.password_max_age_days"},
    "password_expires_at": _TIME_OR_NULL, "last_login_at": _TIME_OR_NULL,
    "last_login_from": {"type": ["string", "null"]}, "created_at": {"type": "string"},
}  # fmt: skip
_ACCOUNT_REQUIRED: Final = list(_ACCOUNT_PROPERTIES)
_GRANT_PROPERTIES: Final = {
    "kind": {"type": "string", "enum": list(GRANT_KINDS)},
    "name": {"type": "string", "description": "a form, an extension number or a device's MAC",
             "examples": ["devices", "201", "00:04:f2:00:01:00"]},
    "access": {"type": "string", "enum": list(ACCESS)},
}
_GRANT: Final = {
    "type": "object", "required": ["kind", "name", "access"], "properties": _GRANT_PROPERTIES,
}
_MAX_AGE: Final = {"type": ["integer", "null"], "minimum": 0, "maximum": 3650}
_USERNAME: Final = d.path("username", "the account's user name",
                          {"type": "string", "pattern": f"^{USERNAME_PATTERN.pattern}$"})
SCHEMAS: Final = {
    "AdminAccount": {"type": "object", "required": _ACCOUNT_REQUIRED,
                     "properties": _ACCOUNT_PROPERTIES},
    "AdminAccountAdded": {
        "type": "object", "required": _ACCOUNT_REQUIRED,
        "properties": {**_ACCOUNT_PROPERTIES, "generated_password": {
            "type": "string", "description": "only when no password was given: shown once"}},
    },
    "AdminAccountWithGrants": {
        "type": "object", "required": [*_ACCOUNT_REQUIRED, "grants"],
        "properties": {**_ACCOUNT_PROPERTIES,
                       "grants": {"type": "array", "items": d.ref("AdminGrant")}},
    },
    "AdminGrant": _GRANT,
}  # fmt: skip
_SYSTEM: Final = " (system administrators only)"
PATHS: Final = {
    BASE: {
        "get": {
            "summary": "Every account" + _SYSTEM,
            "responses": {"200": d.json_body({
                "type": "object", "required": ["total", "items"],
                "properties": {"total": {"type": "integer"}, "items": {
                    "type": "array", "items": d.ref("AdminAccount")}}}, "the accounts"),
                **d.refusals()},
        },
        "post": {
            "summary": "Add an account: with password, or a generated one returned once; it "
                       "must be changed at the first login unless must_change is false"
                       + _SYSTEM,
            "security": d.STATE_CHANGE,
            "requestBody": d.request_json({
                "type": "object", "required": ["username", "role"],
                "additionalProperties": False,
                "properties": {
                    "username": {"type": "string", "pattern": f"^{USERNAME_PATTERN.pattern}$"},
                    "role": {"type": "string", "enum": list(ROLES)},
                    "password": {"type": "string", "minLength": 10, "maxLength": 256,
                                 "description": "at least 10 characters, hard to guess "
                                 "(zxcvbn score 3); absent: generated"},
                    "must_change": {"type": "boolean"}, "enabled": {"type": "boolean"},
                    "password_max_age_days": _MAX_AGE,
                }}),
            "responses": {"201": d.json_body(d.ref("AdminAccountAdded"), "added"),
                          "409": d.error("the user name is taken"),
                          **d.refusals(write=True)},
        },
    },
    BASE + "/{username}": {
        "parameters": [_USERNAME],
        "get": {"summary": "One account and its grants" + _SYSTEM,
                "responses": {"200": d.json_body(d.ref("AdminAccountWithGrants"), "the account"),
                              **d.refusals(found=True, body=True)}},
        "patch": {
            "summary": "Change the role, enabled, must_change or the password age limit"
                       + _SYSTEM,
            "security": d.STATE_CHANGE,
            "requestBody": d.request_json({
                "type": "object", "additionalProperties": False,
                "properties": {"role": {"type": "string", "enum": list(ROLES)},
                               "enabled": {"type": "boolean"},
                               "must_change": {"type": "boolean"},
                               "password_max_age_days": _MAX_AGE}}),
            "responses": {"200": d.json_body(d.ref("AdminAccount"), "the account as changed"),
                          "409": d.error("the last enabled system administrator, or your own "
                                         "account's role or state"),
                          **d.refusals(write=True, found=True)},
        },
        "delete": {
            "summary": "Delete an account and its grants" + _SYSTEM,
            "security": d.STATE_CHANGE,
            "responses": {"204": {"description": "deleted"},
                          "409": d.error("the last enabled system administrator, or your own "
                                         "account"),
                          **d.refusals(write=True, found=True)},
        },
    },
    BASE + "/{username}/password": {
        "parameters": [_USERNAME],
        "post": {
            "summary": "Reset the password: a generated one, returned once, to be changed at "
                       "the next login" + _SYSTEM,
            "security": d.STATE_CHANGE,
            "responses": {
                "200": d.json_body({
                    "type": "object", "required": ["username", "generated_password",
                                                   "must_change"],
                    "properties": {"username": {"type": "string"},
                                   "generated_password": {"type": "string"},
                                   "must_change": {"type": "boolean"}}}, "the new password"),
                "409": d.error("your own account (use the password page)"),
                **d.refusals(write=True, found=True)},
        },
    },
    BASE + "/{username}/grants": {
        "parameters": [_USERNAME],
        "get": {"summary": "The account's grants" + _SYSTEM,
                "responses": {"200": d.json_body({
                    "type": "object", "required": ["items"],
                    "properties": {"items": {"type": "array", "items": d.ref("AdminGrant")}}},
                    "the grants"), **d.refusals(found=True, body=True)}},
        "post": {
            "summary": "Grant a form (" + ", ".join(FORMS) + "), an extension or a device, "
                       "read or write; an existing grant of that kind and name changes its "
                       "access" + _SYSTEM,
            "security": d.STATE_CHANGE,
            "requestBody": d.request_json({**_GRANT, "additionalProperties": False}),
            "responses": {"200": d.json_body({
                "type": "object", "required": ["kind", "name", "access", "changed"],
                "properties": {**_GRANT_PROPERTIES, "changed": {"type": "boolean"}}},
                "the grant, and whether anything changed"),
                **d.refusals(write=True, found=True)},
        },
    },
    BASE + "/{username}/grants/{kind}/{name}": {
        "parameters": [
            _USERNAME,
            d.path("kind", "form, extension or device",
                   {"type": "string", "enum": list(GRANT_KINDS)}),
            d.path("name", "the form, the extension number or the device's MAC"),
        ],
        "delete": {"summary": "Remove one grant" + _SYSTEM, "security": d.STATE_CHANGE,
                   "responses": {"204": {"description": "removed"},
                                 **d.refusals(write=True, found=True)}},
    },
}  # fmt: skip
