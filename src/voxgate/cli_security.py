"""The ``voxgate netlist``, ``voxgate registrations`` and ``voxgate audit`` commands (NET-1,
AUTH-6, the audit log).

``cli.py`` builds the parser and runs the commands with an open store; this
module adds the sub-commands and holds their handlers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from voxgate.config.schema import Settings

if TYPE_CHECKING:  # imported when a command runs, not at start-up
    from voxgate.services.audit import Actor
    from voxgate.services.netlists import NetlistService
    from voxgate.storage.engine import Store

DataCommand = Callable[[argparse.Namespace, Settings, "Store"], Awaitable[int]]
Wrap = Callable[[DataCommand], Callable[[argparse.Namespace], int]]

EXIT_OK: Final = 0
STDIN: Final = "-"


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    data: Wrap, config_option: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Add ``netlist`` and ``audit`` to the top-level ``commands``."""
    netlist = commands.add_parser(
        "netlist", help="IP allow and block lists",
        description="Allow and block lists of IPv4/IPv6 netblocks, applied to every SIP "
        "listener; a running node picks up changes within seconds.",
    )  # fmt: skip
    sub = netlist.add_subparsers(title="netlist commands", metavar="COMMAND")

    listing = sub.add_parser("list", help="the netlists and their sizes")
    config_option(listing)
    listing.set_defaults(command_name="netlist list", handler=data(_list))

    imp = sub.add_parser(
        "import", help="import a netlist file (replaces the netlist of the same title)",
        description="The file: '# title' on the first line, then one netblock a line, "
        "'# comment' after it. Every bad line is reported and nothing is imported.",
    )  # fmt: skip
    _kind(imp)
    imp.add_argument("file", help="netlist file, - for standard input")
    imp.add_argument("--title", help="netlist title (default: the file's title line)")
    config_option(imp)
    imp.set_defaults(command_name="netlist import", handler=data(_import))

    add = sub.add_parser("add", help="add one netblock")
    _kind(add)
    add.add_argument("netblock", help="192.0.2.0/24, 2001:db8::/32 or one address")
    add.add_argument("--comment", default="", help="why it is listed")
    add.add_argument("--title", default="manual", help="netlist to add it to (default: manual)")
    config_option(add)
    add.set_defaults(command_name="netlist add", handler=data(_add))

    remove = sub.add_parser("del", help="delete a netblock, or a whole netlist with --list")
    _kind(remove)
    what = remove.add_mutually_exclusive_group(required=True)
    what.add_argument("netblock", nargs="?", help="the netblock to delete (from every netlist)")
    what.add_argument("--list", metavar="TITLE", help="delete this whole netlist")
    remove.add_argument("--title", help="delete the netblock from this netlist only")
    config_option(remove)
    remove.set_defaults(command_name="netlist del", handler=data(_delete))

    exp = sub.add_parser("export", help="a list in the netlist text format")
    _kind(exp)
    exp.add_argument("--title", help="only this netlist")
    exp.add_argument("file", type=Path, nargs="?", help="output file (default: stdout)")
    config_option(exp)
    exp.set_defaults(command_name="netlist export", handler=data(_export))

    regs = commands.add_parser(
        "registrations", help="the registration log (who registered as which extension, from "
        "where, with which device and credential), newest first",
    )  # fmt: skip
    regs.add_argument("--extension", help="only this extension")
    regs.add_argument("--device", help="only this device (MAC)")
    regs.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    config_option(regs)
    regs.set_defaults(command_name="registrations", handler=data(_registrations))

    audit = commands.add_parser("audit", help="the audit log, newest first")
    audit.add_argument("--limit", type=int, default=50, help="how many events (default 50)")
    audit.add_argument("--action", help="only actions starting with this, e.g. security.")
    config_option(audit)
    audit.set_defaults(command_name="audit", handler=data(_audit))


def _kind(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--allow", dest="kind", action="store_const", const="allow",
                       help="the allow list (never blocked, locked out or rate-limited)")
    group.add_argument("--block", dest="kind", action="store_const", const="block",
                       help="the block list (dropped before anything else)")  # fmt: skip


def _service(store: Store) -> NetlistService:
    from voxgate.services.netlists import NetlistService  # noqa: PLC0415

    return NetlistService(store)


def _actor() -> Actor:
    from voxgate.services.audit import Actor  # noqa: PLC0415

    return Actor.cli()


async def _list(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del args, settings
    summaries = await _service(store).summaries()
    if not summaries:
        print("no netlists (voxgate netlist import --block FILE, or netlist add)")
        return EXIT_OK
    width = max(len(s.title) for s in summaries)
    print(f"{'list':6} {'title':{width}} netblocks")
    for summary in summaries:
        print(f"{summary.kind:6} {summary.title:{width}} {summary.size}")
    return EXIT_OK


async def _import(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    if args.file == STDIN:
        text, source = sys.stdin.read(), "<stdin>"
    else:
        path = Path(args.file)
        text, source = path.read_text(encoding="utf-8"), path.name
    done = await _service(store).import_text(args.kind, text, source, _actor(), title=args.title)
    print(f"{done.kind} list {done.title!r}: {done.netblocks} netblocks "
          f"(replaced {done.replaced})")  # fmt: skip
    return EXIT_OK


async def _add(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    added = await _service(store).add(args.kind, args.netblock, _actor(), comment=args.comment,
                                      title=args.title)  # fmt: skip
    print(f"added {args.netblock} to the {args.kind} list" if added else
          f"{args.netblock} is already in {args.kind} list {args.title!r}")  # fmt: skip
    return EXIT_OK


async def _delete(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    service = _service(store)
    if args.list is not None:
        count = await service.delete_list(args.kind, args.list, _actor())
        print(f"deleted {args.kind} netlist {args.list!r} ({count} netblocks)")
    else:
        await service.delete(args.kind, args.netblock, _actor(), title=args.title)
        print(f"deleted {args.netblock} from the {args.kind} list")
    return EXIT_OK


async def _export(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    text = await _service(store).export_text(args.kind, args.title)
    if args.file is None:
        sys.stdout.write(text)
    else:
        args.file.write_text(text, encoding="utf-8")
    return EXIT_OK


async def _audit(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    from voxgate.services.audit import AuditLog  # noqa: PLC0415

    for event in await AuditLog(store).recent(limit=args.limit, action_prefix=args.action):
        detail = f"  {event.detail}" if event.detail else ""
        print(f"{event.at.isoformat(timespec='seconds')}  {event.actor} ({event.source})  "
              f"{event.action}  {event.target}{detail}")  # fmt: skip
    return EXIT_OK


async def _registrations(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del settings
    from voxgate.policy.devices import format_mac, normalize_mac  # noqa: PLC0415
    from voxgate.storage.repos.registration_events import RegistrationEventRepo  # noqa: PLC0415

    device = normalize_mac(args.device) if args.device else None
    rows = await RegistrationEventRepo(store).recent(args.extension, args.limit, device=device)
    for r in rows:
        mac = format_mac(r.device) if r.device else "-"
        why = f"  ({r.reason})" if r.reason else ""
        print(f"{r.at.isoformat(timespec='seconds')}  {r.recorded_by:4}  {r.outcome:12}  "
              f"ext {r.extension or '-':6} as {r.credential:16} device {mac}  from "
              f"{r.transport} {r.source_ip}:{r.source_port}{why}")  # fmt: skip
    if not rows:
        print("no registrations recorded")
    return EXIT_OK
