"""The ``voxgate device`` and ``voxgate sipuser`` commands (AUTH-1…AUTH-5), and
``voxgate ext add N --remote``.

``cli.py`` builds the parser and runs the commands with an open store; this
module adds the sub-commands and holds their handlers.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from voxgate.config.schema import Settings
from voxgate.policy.devices import format_mac

if TYPE_CHECKING:  # imported when a command runs, not at start-up
    from voxgate.services.audit import Actor
    from voxgate.services.devices import DeviceService
    from voxgate.services.sipusers import SipUserAdded, SipUserService
    from voxgate.storage.engine import Store
    from voxgate.storage.repos.devices import DeviceRecord

    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

DataCommand = Callable[[argparse.Namespace, Settings, "Store"], Awaitable[int]]
Wrap = Callable[[DataCommand], Callable[[argparse.Namespace], int]]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
STDIN: Final = "-"


def add_commands(
    commands: Commands, data: Wrap, config_option: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add ``device`` and ``sipuser`` to the top-level ``commands``."""
    _device_commands(commands, data, config_option)
    _sipuser_commands(commands, data, config_option)


def _device_commands(
    commands: Commands, data: Wrap, config_option: Callable[[argparse.ArgumentParser], None]
) -> None:
    device = commands.add_parser(
        "device", help="the device table (which phones may reach the call control)",
        description="Devices by MAC address. A device the edge meets for the first time is "
        "added disabled, with its address as description; enable it to let it in.",
    )  # fmt: skip
    sub = device.add_subparsers(title="device commands", metavar="COMMAND")

    listing = sub.add_parser("list", help="list the devices")
    listing.add_argument("--search", metavar="S", help="part of the MAC or of the description")
    listing.add_argument("--disabled", action="store_true", help="only disabled devices")
    listing.add_argument("--limit", type=int, metavar="N", help="at most N devices")
    listing.add_argument("--offset", type=int, default=0, metavar="N", help="skip N devices")
    listing.set_defaults(command_name="device list", handler=data(_device_list))

    show = sub.add_parser("show", help="show one device")
    show.add_argument("mac")
    show.set_defaults(command_name="device", handler=data(_device_show))

    add = sub.add_parser("add", help="add a device by MAC (disabled unless --enable)")
    add.add_argument("mac", help="aa:bb:cc:dd:ee:ff, aa-bb-…, aabb.ccdd.eeff or aabbccddeeff")
    add.add_argument("--description", default="", metavar="D", help="at most 128 characters")
    add.add_argument("--enable", action="store_true", help="let it reach the call control now")
    add.set_defaults(command_name="device add", handler=data(_device_add))

    enable = sub.add_parser("enable", help="let a device reach the call control")
    enable.add_argument("mac")
    enable.set_defaults(command_name="device enable", handler=data(_device_enable))

    disable = sub.add_parser("disable", help="stop a device from reaching the call control")
    disable.add_argument("mac")
    disable.set_defaults(command_name="device disable", handler=data(_device_disable))

    change = sub.add_parser("set", help="change a device's description")
    change.add_argument("mac")
    change.add_argument("--description", required=True, metavar="D")
    change.set_defaults(command_name="device set", handler=data(_device_set))

    remove = sub.add_parser("del", help="delete a device (it is learned again, disabled)")
    remove.add_argument("mac")
    remove.set_defaults(command_name="device del", handler=data(_device_del))

    imp = sub.add_parser(
        "import", help="import devices from CSV (all or nothing)",
        description="Columns mac,description,enabled (the header row names them). Every bad "
        "row is reported with its line number and nothing is imported.",
    )  # fmt: skip
    imp.add_argument("file", type=Path)
    imp.add_argument("--update", action="store_true", help="change devices that exist")
    imp.set_defaults(command_name="device import", handler=data(_device_import))

    exp = sub.add_parser("export", help="export the devices as CSV")
    exp.add_argument("file", type=Path, nargs="?", help="output file (default: stdout)")
    exp.set_defaults(command_name="device export", handler=data(_device_export))
    for parser in (listing, show, add, enable, disable, change, remove, imp, exp):
        config_option(parser)


def _sipuser_commands(
    commands: Commands, data: Wrap, config_option: Callable[[argparse.ArgumentParser], None]
) -> None:
    sipuser = commands.add_parser(
        "sipuser", help="SIP users of the edge (device and call-control credentials)",
        description="A SIP user is what a remote device registers with at the edge (level 1) "
        "and the extension and credentials the edge uses toward the call control for it "
        "(level 2). The two secrets are different.",
    )  # fmt: skip
    sub = sipuser.add_subparsers(title="sipuser commands", metavar="COMMAND")

    add = sub.add_parser(
        "add", help="create a SIP user (prints generated secrets once)",
        description="Without --password the device password is generated and printed once. "
        "With --embedded (an extension of the embedded call control) a new level-2 secret "
        "becomes that extension's registration secret and is never shown.",
    )  # fmt: skip
    add.add_argument("username")
    add.add_argument("--extension", required=True, metavar="N",
                     help="the call-control extension it maps to")  # fmt: skip
    _password_options(add)
    add.add_argument("--embedded", action="store_true",
                     help="N is an extension of the embedded call control: set a new generated "
                     "registration secret on it and use that upstream")  # fmt: skip
    add.add_argument("--upstream-username", metavar="U",
                     help="digest username toward the call control (default: N)")  # fmt: skip
    add.add_argument("--upstream-secret", metavar="S|-",
                     help="secret toward the call control; '-' reads stdin (default: "
                     "generated and printed once)")  # fmt: skip
    add.add_argument("--device", metavar="MAC", help="usable from this device only")
    add.add_argument("--disabled", action="store_true", help="create it disabled")
    add.set_defaults(command_name="sipuser add", handler=data(_sipuser_add))

    listing = sub.add_parser("list", help="list the SIP users")
    listing.add_argument("--search", metavar="S", help="part of the username or extension")
    listing.set_defaults(command_name="sipuser list", handler=data(_sipuser_list))

    show = sub.add_parser("show", help="show one SIP user (no secrets)")
    show.add_argument("username")
    show.set_defaults(command_name="sipuser", handler=data(_sipuser_show))

    change = sub.add_parser("set", help="change a SIP user")
    change.add_argument("username")
    _password_options(change)
    change.add_argument("--extension", metavar="N")
    change.add_argument("--upstream-username", metavar="U")
    change.add_argument("--upstream-secret", metavar="S|-", help="'-' reads stdin")
    device = change.add_mutually_exclusive_group()
    device.add_argument("--device", metavar="MAC", help="usable from this device only")
    device.add_argument("--no-device", action="store_true", help="usable from any device")
    state = change.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="enabled", action="store_const", const=True)
    state.add_argument("--disable", dest="enabled", action="store_const", const=False)
    change.set_defaults(command_name="sipuser set", handler=data(_sipuser_set))

    remove = sub.add_parser("del", help="delete a SIP user")
    remove.add_argument("username")
    remove.set_defaults(command_name="sipuser del", handler=data(_sipuser_del))

    imp = sub.add_parser(
        "import", help="import SIP users from CSV (all or nothing)",
        description="Columns username,password,extension,upstream_username,upstream_secret,"
        "device_mac,enabled (or an export's realm,ha1_md5,ha1_sha256 instead of password).",
    )  # fmt: skip
    imp.add_argument("file", type=Path)
    imp.add_argument("--update", action="store_true", help="change users that exist")
    imp.set_defaults(command_name="sipuser import", handler=data(_sipuser_import))

    exp = sub.add_parser("export", help="export the SIP users as CSV (HA1 values)")
    exp.add_argument("file", type=Path, nargs="?", help="output file (default: stdout)")
    exp.add_argument("--include-secrets", action="store_true",
                     help="also the level-2 secrets in clear (the file then opens the call "
                     "control: keep it safe)")  # fmt: skip
    exp.set_defaults(command_name="sipuser export", handler=data(_sipuser_export))
    for parser in (add, listing, show, change, remove, imp, exp):
        config_option(parser)


def _password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password", metavar="S|-", help="device password; '-' reads stdin")
    group.add_argument("--generate-password", action="store_true",
                       help="generate a strong device password and print it once")  # fmt: skip


# -- helpers -------------------------------------------------------------------------------
def _actor() -> Actor:
    from voxgate.services.audit import Actor  # noqa: PLC0415

    return Actor.cli()


def _devices(store: Store) -> DeviceService:
    from voxgate.services.devices import DeviceService  # noqa: PLC0415

    return DeviceService(store)


def _sipusers(settings: Settings, store: Store) -> SipUserService:
    """SIP users' (level-1) credentials live in ``edge.realm``; the embedded call control's
    extensions in ``pbx.realm``."""
    from voxgate.services.sipusers import SipUserService  # noqa: PLC0415
    from voxgate.storage.secretbox import read_key_file  # noqa: PLC0415

    key = read_key_file(settings.store.secret_key)
    return SipUserService(store, settings.edge.realm, key, pbx_realm=settings.pbx.realm)


def _secret_arg(value: str | None) -> str | None:
    """A secret option's value; ``-`` reads the next line of standard input."""
    if value == STDIN:
        return sys.stdin.readline().rstrip("\r\n")
    return value


def _usage(command: str, message: str) -> int:
    print(f"voxgate: {command}: {message}", file=sys.stderr)
    return EXIT_USAGE


def _write_private(path: Path | None, text: str) -> int:
    """Write ``text`` to ``path`` with mode 0600 (also when it exists: HA1 values register as
    well as the passwords do) or to stdout."""
    if path is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
    except OSError as exc:
        print(f"voxgate: cannot write {path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _when(value: datetime | None) -> str:
    return "never" if value is None else value.isoformat(timespec="seconds")


# -- device --------------------------------------------------------------------------------
async def _device_list(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    service = _devices(store)
    records = await service.list(search=args.search, disabled_only=args.disabled,
                                 offset=args.offset, limit=args.limit)  # fmt: skip
    total = await service.count(search=args.search, disabled_only=args.disabled)
    print(f"{'MAC':<19}{'ENABLED':<9}{'LEARNED BY':<13}{'LAST SOURCE':<24}DESCRIPTION")
    for r in records:
        print(f"{format_mac(r.mac):<19}{'yes' if r.enabled else 'no':<9}{r.identity:<13}"
              f"{r.last_source or '-':<24}{r.description}")  # fmt: skip
    shown = f"{len(records)} of {total}" if len(records) != total else str(total)
    print(f"{shown} device(s)")
    return EXIT_OK


def _print_device(r: DeviceRecord) -> None:
    print(f"mac:         {format_mac(r.mac)}\nenabled:     {'yes' if r.enabled else 'no'}\n"
          f"description: {r.description}\nlearned by:  {r.identity}\n"
          f"last source: {r.last_source or '-'}\nuser agent:  {r.user_agent or '-'}\n"
          f"first seen:  {_when(r.first_seen_at)}\nlast seen:   {_when(r.last_seen_at)}\n"
          f"created:     {_when(r.created_at)}\nupdated:     {_when(r.updated_at)}")  # fmt: skip


async def _device_show(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    _print_device(await _devices(store).get(args.mac))
    return EXIT_OK


async def _device_add(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    record = await _devices(store).add(args.mac, _actor(), description=args.description,
                                       enabled=args.enable)  # fmt: skip
    print(f"added device {format_mac(record.mac)} ({'enabled' if record.enabled else 'disabled'})")
    return EXIT_OK


async def _device_enable(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    print(f"enabled device {format_mac((await _devices(store).enable(args.mac, _actor())).mac)}")
    return EXIT_OK


async def _device_disable(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    print(f"disabled device {format_mac((await _devices(store).disable(args.mac, _actor())).mac)}")
    return EXIT_OK


async def _device_set(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    record = await _devices(store).set_description(args.mac, args.description, _actor())
    print(f"changed device {format_mac(record.mac)}")
    return EXIT_OK


async def _device_del(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    from voxgate.services.devices import check_mac  # noqa: PLC0415

    await _devices(store).delete(args.mac, _actor())
    print(f"deleted device {format_mac(check_mac(args.mac))}")
    return EXIT_OK


async def _device_import(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    report = await _devices(store).import_csv(args.file, _actor(), update=args.update)
    print(f"imported {report.added} new, {report.updated} changed device(s)")
    return EXIT_OK


async def _device_export(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    return _write_private(args.file, await _devices(store).export_csv())


# -- sipuser -------------------------------------------------------------------------------
def _print_added(added: SipUserAdded) -> None:
    record = added.record
    if added.password is not None:
        print(f"password: {added.password}  (device password, shown once; stored only as a "
              "hash)")  # fmt: skip
    if added.upstream_secret is not None:
        print(f"upstream secret: {added.upstream_secret}  (set it as the secret of "
              f"{record.upstream_username} in the call control)")  # fmt: skip


async def _sipuser_add(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    if args.embedded and (args.upstream_username or args.upstream_secret):
        return _usage("sipuser add", "--embedded generates the upstream credentials: leave out "
                      "--upstream-username and --upstream-secret")  # fmt: skip
    password = _secret_arg(args.password)
    service = _sipusers(settings, store)
    if args.embedded:
        added = await service.add_embedded(
            args.username, _actor(), extension=args.extension, password=password,
            device_mac=args.device, enabled=not args.disabled,
        )  # fmt: skip
        print(f"added SIP user {args.username} for extension {args.extension} of the embedded "
              "call control (new registration secret set on the extension)")  # fmt: skip
    else:
        added = await service.add(
            args.username, _actor(), extension=args.extension, password=password,
            upstream_username=args.upstream_username,
            upstream_secret=_secret_arg(args.upstream_secret), device_mac=args.device,
            enabled=not args.disabled,
        )  # fmt: skip
        print(f"added SIP user {args.username} for extension {args.extension}")
    _print_added(added)
    return EXIT_OK


async def ext_add_remote(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    """``voxgate ext add N --remote``: a new extension of the embedded call control and a SIP
    user for it in one step."""
    if args.secret is not None or args.generate_secret or args.disabled or args.max_contacts:
        return _usage("ext add", "--remote generates the extension's secret: leave out "
                      "--secret, --generate-secret, --disabled and --max-contacts (change them "
                      "later with ext set / sipuser set)")  # fmt: skip
    username = args.username or args.number
    added = await _sipusers(settings, store).add_embedded(
        username, _actor(), extension=args.number, create_extension=True,
        display_name=args.name,
    )  # fmt: skip
    print(f"added extension {args.number} and SIP user {username} for it")
    _print_added(added)
    return EXIT_OK


async def _sipuser_list(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    records = await _sipusers(settings, store).list(search=args.search)
    print(f"{'USERNAME':<24}{'EXTENSION':<11}{'UPSTREAM USER':<16}{'ENABLED':<9}DEVICE")
    for r in records:
        device = format_mac(r.device_mac) if r.device_mac else "any"
        print(f"{r.username:<24}{r.extension:<11}{r.upstream_username:<16}"
              f"{'yes' if r.enabled else 'no':<9}{device}")  # fmt: skip
    print(f"{len(records)} SIP user(s)")
    return EXIT_OK


async def _sipuser_show(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    r = await _sipusers(settings, store).get(args.username)
    print(f"username:          {r.username}\nrealm:             {r.realm}\n"
          f"extension:         {r.extension}\nupstream username: {r.upstream_username}\n"
          f"device:            {format_mac(r.device_mac) if r.device_mac else 'any'}\n"
          f"enabled:           {'yes' if r.enabled else 'no'}\n"
          f"created:           {_when(r.created_at)}\nupdated:           "
          f"{_when(r.updated_at)}")  # fmt: skip
    if r.realm != settings.edge.realm:
        print(f"warning: stored for realm {r.realm!r}, not {settings.edge.realm!r}: set its "
              "password again")  # fmt: skip
    if r.device_mac and await _devices(store).repo.get(r.device_mac) is None:
        print("warning: its device is not in the device table (voxgate device add)")
    return EXIT_OK


async def _sipuser_set(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    from voxgate.services.secrets_policy import generate_secret  # noqa: PLC0415
    from voxgate.services.sipusers import KEEP  # noqa: PLC0415

    password = generate_secret() if args.generate_password else _secret_arg(args.password)
    device = None if args.no_device else (args.device if args.device is not None else KEEP)
    await _sipusers(settings, store).change(
        args.username, _actor(), password=password, extension=args.extension,
        upstream_username=args.upstream_username,
        upstream_secret=_secret_arg(args.upstream_secret), device_mac=device,
        enabled=args.enabled,
    )  # fmt: skip
    print(f"changed SIP user {args.username}")
    if args.generate_password:
        print(f"password: {password}  (device password, shown once; stored only as a hash)")
    return EXIT_OK


async def _sipuser_del(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    await _sipusers(settings, store).delete(args.username, _actor())
    print(f"deleted SIP user {args.username}")
    return EXIT_OK


async def _sipuser_import(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    report = await _sipusers(settings, store).import_csv(args.file, _actor(), update=args.update)
    print(f"imported {report.added} new, {report.updated} changed SIP user(s)")
    return EXIT_OK


async def _sipuser_export(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    text = await _sipusers(settings, store).export_csv(_actor(),
                                                       include_secrets=args.include_secrets)
    return _write_private(args.file, text)
