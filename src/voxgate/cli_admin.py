"""The ``voxgate admin`` commands: accounts of the web administration (ADMIN-2, ADMIN-5).

``cli.py`` builds the parser and runs the commands with an open store; this module adds
the sub-commands and holds their handlers.  A password comes from standard input (asked
twice on a terminal) or is generated with ``--generate-password`` and printed once.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from voxgate.config.schema import Settings

if TYPE_CHECKING:  # imported when a command runs, not at start-up
    from voxgate.services.admins import AdminAccount, AdminService
    from voxgate.storage.engine import Store

DataCommand = Callable[[argparse.Namespace, Settings, "Store"], Awaitable[int]]
Wrap = Callable[[DataCommand], Callable[[argparse.Namespace], int]]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
ROLES: Final = ("system", "group", "user")  # voxgate.services.admins.ROLES, for argparse


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    data: Wrap, config_option: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add ``admin`` to the top-level ``commands``."""
    admin = commands.add_parser(
        "admin", help="accounts of the web administration",
        description="Accounts that log in to the web administration (https, admin.port): "
        "system administrators (everything), group administrators (granted forms over granted "
        "extensions and devices) and end users (their own extensions and devices).",
    )  # fmt: skip
    sub = admin.add_subparsers(title="admin commands", metavar="COMMAND")

    add = sub.add_parser(
        "add", help="create an account",
        description="The password is read from standard input (asked twice on a terminal) "
        "or generated with --generate-password and printed once; by default it must be "
        "changed at the first login.",
    )  # fmt: skip
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, required=True,
                     help="system, group (administrator) or user (end user)")  # fmt: skip
    _password_options(add)
    add.add_argument("--disabled", action="store_true", help="create it disabled")
    add.add_argument("--max-age", type=int, metavar="DAYS",
                     help="password valid for DAYS (0 never; default admin.password_max_age_days)")
    add.set_defaults(command_name="admin add", handler=data(_add))

    listing = sub.add_parser("list", help="the accounts")
    listing.set_defaults(command_name="admin list", handler=data(_list))

    show = sub.add_parser("show", help="one account and its grants")
    show.add_argument("username")
    show.set_defaults(command_name="admin show", handler=data(_show))

    change = sub.add_parser(
        "set", help="change an account's role, state or grants",
        description="Grants: --grant form:devices:write, --grant extension:201:read, --grant "
        "device:00:04:f2:a1:b2:c3:write; --revoke KIND:NAME removes one.",
    )  # fmt: skip
    change.add_argument("username")
    change.add_argument("--role", choices=ROLES)
    state = change.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="enabled", action="store_const", const=True)
    state.add_argument("--disable", dest="enabled", action="store_const", const=False)
    must = change.add_mutually_exclusive_group()
    must.add_argument("--must-change", dest="must_change", action="store_const", const=True,
                      help="the password must be changed at the next login")
    must.add_argument("--no-must-change", dest="must_change", action="store_const", const=False)
    change.add_argument("--max-age", metavar="DAYS|default",
                        help="password valid for DAYS (0 never); default: the configured limit")
    change.add_argument("--grant", action="append", default=[], metavar="KIND:NAME:ACCESS")
    change.add_argument("--revoke", action="append", default=[], metavar="KIND:NAME")
    change.set_defaults(command_name="admin set", handler=data(_set))

    remove = sub.add_parser("del", help="delete an account (never the last system administrator)")
    remove.add_argument("username")
    remove.set_defaults(command_name="admin del", handler=data(_delete))

    passwd = sub.add_parser(
        "passwd", help="set an account's password",
        description="From standard input (asked twice on a terminal) or generated with "
        "--generate-password and printed once; it must be changed at the next login unless "
        "--no-must-change.",
    )  # fmt: skip
    passwd.add_argument("username")
    _password_options(passwd)
    passwd.set_defaults(command_name="admin passwd", handler=data(_passwd))
    for parser in (add, listing, show, change, remove, passwd):
        config_option(parser)


def _password_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generate-password", action="store_true",
                        help="generate a strong password and print it once")  # fmt: skip
    parser.add_argument("--no-must-change", dest="must_change", action="store_false",
                        help="do not ask for a new password at the first login")  # fmt: skip


def _service(store: Store) -> AdminService:
    from voxgate.services.admins import AdminService  # noqa: PLC0415

    return AdminService(store)


def _read_password(command: str) -> str | None:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print(f"voxgate: {command}: the two passwords differ", file=sys.stderr)
        return None
    return first


def _password(args: argparse.Namespace) -> str | None:
    """The password to set: generated (printed once) or read."""
    if args.generate_password:
        from voxgate.services.secrets_policy import generate_secret  # noqa: PLC0415

        password = generate_secret()
        print(f"password: {password}  (shown once; it is stored only as a hash)")
        return password
    return _read_password(args.command_name)


async def _add(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    from voxgate.services.admins import AdminError  # noqa: PLC0415
    from voxgate.services.audit import Actor  # noqa: PLC0415

    service = _service(store)
    if await service.find(args.username) is not None:  # before a generated password is shown
        raise AdminError(f"account {args.username!r} exists")
    password = _password(args)
    if password is None:
        return EXIT_FAILED
    account = await service.add(
        args.username, password, args.role, Actor.cli(), must_change=args.must_change,
        enabled=not args.disabled, max_age_days=args.max_age,
    )  # fmt: skip
    print(f"added {account.role} account {account.username}"
          + (" (password to be changed at the first login)" if account.must_change else ""))
    return EXIT_OK


def _line(account: AdminAccount, default_days: int) -> str:
    expires = account.password_expires_at(default_days)
    password = ("must change" if account.must_change else
                f"expires {expires.date().isoformat()}" if expires else "no expiry")  # fmt: skip
    last = (f"{account.last_login_at.isoformat(timespec='seconds')} from {account.last_login_from}"
            if account.last_login_at else "never")  # fmt: skip
    state = "enabled" if account.enabled else "disabled"
    return f"{account.username:<20} {account.role:<7} {state:<9} {password:<18} {last}"


async def _list(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del args
    accounts = await _service(store).accounts()
    print(f"{'USERNAME':<20} {'ROLE':<7} {'STATE':<9} {'PASSWORD':<18} LAST LOGIN")
    for account in accounts:
        print(_line(account, settings.admin.password_max_age_days))
    print(f"{len(accounts)} account(s)")
    return EXIT_OK


async def _show(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    service = _service(store)
    account = await service.get(args.username)
    print(_line(account, settings.admin.password_max_age_days))
    for grant in await service.grants(args.username):
        print(f"  grant {grant.kind}:{grant.name}:{grant.access}")
    return EXIT_OK


async def _set(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    from voxgate.services.audit import Actor  # noqa: PLC0415

    service, actor = _service(store), Actor.cli()
    max_age: int | str | None = "keep"
    if args.max_age is not None:
        if args.max_age == "default":
            max_age = None
        elif args.max_age.isdigit():
            max_age = int(args.max_age)
        else:
            print("voxgate: admin set: --max-age takes a number of days or 'default'",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
    grants = [text.split(":") for text in args.grant]
    revokes = [text.split(":", 1) for text in args.revoke]
    if any(len(g) < 3 for g in grants) or any(len(r) != 2 for r in revokes):
        print("voxgate: admin set: --grant KIND:NAME:ACCESS, --revoke KIND:NAME", file=sys.stderr)
        return EXIT_USAGE
    changes = (args.role, args.enabled, args.must_change)
    if any(c is not None for c in changes) or max_age != "keep":
        await service.change(args.username, actor, role=args.role, enabled=args.enabled,
                             must_change=args.must_change, max_age_days=max_age)  # fmt: skip
    elif not grants and not revokes:
        print("voxgate: admin set: nothing to change", file=sys.stderr)
        return EXIT_USAGE
    for parts in grants:  # a MAC holds colons: the kind first, the access last
        await service.grant(args.username, parts[0], ":".join(parts[1:-1]), parts[-1], actor)
    for kind, name in revokes:
        await service.revoke(args.username, kind, name, actor)
    print(f"changed account {args.username}")
    return EXIT_OK


async def _delete(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    from voxgate.services.audit import Actor  # noqa: PLC0415

    await _service(store).delete(args.username, Actor.cli())
    print(f"deleted account {args.username}")
    return EXIT_OK


async def _passwd(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    from voxgate.services.audit import Actor  # noqa: PLC0415

    service = _service(store)
    await service.get(args.username)  # before a generated password is shown
    password = _password(args)
    if password is None:
        return EXIT_FAILED
    await service.set_password(args.username, password, Actor.cli(),
                               must_change=args.must_change)  # fmt: skip
    print(f"password of {args.username} set"
          + (" (to be changed at the next login)" if args.must_change else ""))
    return EXIT_OK
