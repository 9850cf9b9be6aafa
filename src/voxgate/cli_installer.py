"""The ``voxgate installer`` commands: the installer password (AUTH-3).

``cli.py`` builds the parser and runs the commands with an open store; this module adds
the sub-commands and holds their handlers.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from voxgate.config.schema import Settings

if TYPE_CHECKING:  # imported when a command runs, not at start-up
    from voxgate.services.installer import InstallerService
    from voxgate.storage.engine import Store

DataCommand = Callable[[argparse.Namespace, Settings, "Store"], Awaitable[int]]
Wrap = Callable[[DataCommand], Callable[[argparse.Namespace], int]]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    data: Wrap, config_option: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add ``installer`` to the top-level ``commands``."""
    installer = commands.add_parser(
        "installer", help="the installer password (phones that present it are enabled)",
        description="With an installer password set, a phone that fetches its configuration "
        "from the provisioning server ([provisioning]) and gives user name 'installer' and "
        "this password is enabled in the device table.",
    )  # fmt: skip
    sub = installer.add_subparsers(title="installer commands", metavar="COMMAND")

    change = sub.add_parser(
        "set", help="set the installer password (from standard input, or generated)",
        description="Reads the password from standard input (asked twice on a terminal), or "
        "generates one with --generate-password and prints it once. It is stored as a slow "
        "hash only.",
    )  # fmt: skip
    change.add_argument("--generate-password", action="store_true",
                        help="generate a strong password and print it once")  # fmt: skip
    change.set_defaults(command_name="installer set", handler=data(_set))

    clear = sub.add_parser("clear", help="remove the installer password (turns it off)")
    clear.set_defaults(command_name="installer clear", handler=data(_clear))

    show = sub.add_parser("show", help="whether an installer password is set, when, by whom")
    show.set_defaults(command_name="installer show", handler=data(_show))
    for parser in (change, clear, show):
        config_option(parser)


def _service(store: Store) -> InstallerService:
    from voxgate.services.installer import InstallerService  # noqa: PLC0415

    return InstallerService(store)


def _read_password() -> str | None:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("installer password: ")
    if getpass.getpass("again: ") != first:
        print("voxgate: installer set: the two passwords differ", file=sys.stderr)
        return None
    return first


async def _set(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    from voxgate.services.audit import Actor  # noqa: PLC0415

    service = _service(store)
    if args.generate_password:
        generated = await service.generate(Actor.cli())
        print(f"installer password: {generated}  (shown once; it is stored only as a hash)")
        return EXIT_OK
    password = _read_password()
    if password is None:
        return EXIT_FAILED
    await service.set(password, Actor.cli())
    print("installer password set")
    return EXIT_OK


async def _clear(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del args, settings
    from voxgate.services.audit import Actor  # noqa: PLC0415

    if await _service(store).clear(Actor.cli()):
        print("installer password cleared: only administrators enable devices now")
    else:
        print("no installer password was set")
    return EXIT_OK


async def _show(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del args
    status = await _service(store).status()
    if status is None:
        print("installer password: not set")
    else:
        print(f"installer password: set {status.set_at.isoformat(timespec='seconds')} by "
              f"{status.set_by}")  # fmt: skip
    provisioning = settings.provisioning
    state = (f"on, https port {provisioning.port}" if provisioning.enabled else
             "off (provisioning.enabled = false: phones cannot present it)")  # fmt: skip
    print(f"provisioning server: {state}")
    return EXIT_OK
