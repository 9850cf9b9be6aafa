"""The ``voxgate`` command: ``init``, ``check-config``, ``serve``, ``db``, ``ext``, ``cdr``,
``netlist`` and ``audit`` (those two in :mod:`voxgate.cli_security`), ``device`` and
``sipuser`` (in :mod:`voxgate.cli_devices`), ``installer`` (in :mod:`voxgate.cli_installer`),
``admin`` (in :mod:`voxgate.cli_admin`), ``tls`` (in :mod:`voxgate.cli_tls`).

Exit status: 0 success, 1 the command failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ipaddress
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from voxgate import __version__, cli_admin, cli_devices, cli_installer, cli_security, cli_tls
from voxgate.config import certificates
from voxgate.config.init import CONFIG_NAME, InitError, init_data_dir
from voxgate.config.load import ConfigError, load_settings
from voxgate.config.schema import Listener, Settings
from voxgate.observability.logging import configure_logging

if TYPE_CHECKING:  # imported when a data command runs, not at start-up
    from voxgate.services.audit import Actor
    from voxgate.services.extensions import ExtensionService
    from voxgate.storage.engine import Store

DEFAULT_DATA_DIR: Final = Path("data")
DEFAULT_CONFIG: Final = DEFAULT_DATA_DIR / CONFIG_NAME

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_CONFIG: Final = 2
#: ``--secret -`` reads the secret from standard input (it stays out of the process list).
STDIN: Final = "-"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``voxgate`` command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_CONFIG
    return handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxgate",
        description="Teleworker SIP border gateway with an embedded PBX.",
    )
    parser.add_argument("--version", action="version", version=f"voxgate {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    init = commands.add_parser(
        "init",
        help="create a data directory: default config, TLS certificate and key, database and "
        "the first administrator (its password printed once)",
    )
    init.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help=f"data directory to create (default: ./{DEFAULT_DATA_DIR})",
    )
    init.add_argument(
        "--force",
        action="store_true",
        help="replace an existing config (keeps a .bak; never replaces keys)",
    )
    init.set_defaults(handler=_init)

    check = commands.add_parser("check-config", help="validate and explain a config file")
    check.add_argument(
        "config",
        type=Path,
        nargs="?",
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"config file (default: ./{DEFAULT_CONFIG})",
    )
    check.set_defaults(handler=_check_config)

    serve = commands.add_parser("serve", help="run the node")
    serve.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"config file (default: ./{DEFAULT_CONFIG})",
    )
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(title="db commands", metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="apply the database migrations")
    _config_option(upgrade)
    upgrade.set_defaults(handler=_data(_db_upgrade))

    _ext_parser(commands)
    cli_security.add_commands(commands, _data, _config_option)
    cli_devices.add_commands(commands, _data, _config_option)
    cli_installer.add_commands(commands, _data, _config_option)
    cli_admin.add_commands(commands, _data, _config_option)
    cli_tls.add_commands(commands, _data, _config_option)

    cdr = commands.add_parser("cdr", help="call records")
    cdr_commands = cdr.add_subparsers(title="cdr commands", metavar="COMMAND")
    export = cdr_commands.add_parser("export", help="call records as CSV")
    _config_option(export)
    export.add_argument("--format", choices=("csv",), default="csv")
    for option, metavar, text in (
        ("since", "ISO", "calls started at or after (ISO 8601; UTC if no offset)"),
        ("until", "ISO", "calls started before"),
        ("caller", "PREFIX", "callers starting with PREFIX (the whole number for one caller)"),
        ("callee", "PREFIX", "callees starting with PREFIX"),
        ("disposition", "WORD", "how calls ended: answered, busy, no-answer, …"),
        ("min_duration", "SECONDS", "calls that talked at least SECONDS (or m:ss)"),
    ):  # fmt: skip
        export.add_argument("--" + option.replace("_", "-"), type=_cdr_filter(option),
                            metavar=metavar, help=text)  # fmt: skip
    export.add_argument("file", type=Path, nargs="?", help="output file (default: stdout)")
    export.set_defaults(handler=_data(_cdr_export))
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"config file (default: ./{DEFAULT_CONFIG})",
    )


def _ext_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ext = commands.add_parser("ext", help="extensions of the embedded call control")
    sub = ext.add_subparsers(title="ext commands", metavar="COMMAND")

    add = sub.add_parser("add", help="create an extension")
    add.add_argument("number")
    add.add_argument("--name", default="", help="display name")
    _secret_options(add)
    add.add_argument("--disabled", action="store_true", help="create it disabled")
    add.add_argument(
        "--max-contacts",
        type=int,
        metavar="N",
        help="registered contacts allowed (default: pbx.max_contacts)",
    )
    add.add_argument(
        "--remote",
        action="store_true",
        help="for a remote device: also create a SIP user of the edge (secrets generated, "
        "the device password printed once)",
    )
    add.add_argument("--username", help="with --remote: the SIP user's name (default: NUMBER)")
    add.set_defaults(command_name="ext add", handler=_data(_ext_add))

    listing = sub.add_parser("list", help="list the extensions")
    listing.set_defaults(command_name="ext list", handler=_data(_ext_list))

    show = sub.add_parser("show", help="show one extension")
    show.add_argument("number")
    show.set_defaults(command_name="ext", handler=_data(_ext_show))

    change = sub.add_parser("set", help="change an extension")
    change.add_argument("number")
    change.add_argument("--name", help="display name")
    _secret_options(change)
    state = change.add_mutually_exclusive_group()
    state.add_argument("--enable", dest="enabled", action="store_const", const=True)
    state.add_argument("--disable", dest="enabled", action="store_const", const=False)
    change.add_argument(
        "--max-contacts",
        metavar="N|default",
        help="registered contacts allowed; 'default' uses pbx.max_contacts",
    )
    change.set_defaults(command_name="ext set", handler=_data(_ext_set))

    remove = sub.add_parser("del", help="delete an extension")
    remove.add_argument("number")
    remove.set_defaults(command_name="ext", handler=_data(_ext_del))

    imp = sub.add_parser("import", help="import extensions from CSV (all or nothing)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--update", action="store_true", help="change extensions that exist")
    imp.set_defaults(command_name="ext import", handler=_data(_ext_import))

    exp = sub.add_parser("export", help="export extensions as CSV (HA1 values, no secrets)")
    exp.add_argument("file", type=Path, nargs="?", help="output file (default: stdout)")
    exp.set_defaults(command_name="ext export", handler=_data(_ext_export))
    for parser in (add, listing, show, change, remove, imp, exp):
        _config_option(parser)


def _secret_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--secret", metavar="S|-", help="registration secret; '-' reads stdin")
    group.add_argument(
        "--generate-secret", action="store_true", help="generate a strong secret and print it once"
    )


def _init(args: argparse.Namespace) -> int:
    try:
        result = init_data_dir(args.data, force=args.force)
    except (InitError, OSError) as exc:
        print(f"voxgate: init: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in result.created:
        print(f"created  {path}")
    for path in result.replaced:
        print(f"replaced {path} (previous version saved as {path.name}.bak)")
    for path in result.kept:
        print(f"kept     {path} (existing, not regenerated)")
    print(
        "certificate SHA-256 fingerprint: "
        + certificates.fingerprint(result.certificate.read_bytes())
    )
    config = result.config_path
    status = _first_admin(config)
    if status != EXIT_OK:
        return status
    print(f"next: voxgate check-config {config}")
    print(f"      voxgate ext add 201 --remote --username alice --config {config}"
          "   # a remote phone's extension and SIP user")  # fmt: skip
    print(f"      voxgate device add <MAC of the phone> --enable --config {config}")
    print(f"      voxgate serve --config {config}")
    return EXIT_OK


def _first_admin(config: Path) -> int:
    """Create the database and, when it has no account, the first system administrator;
    its password is printed once."""
    settings = _load(config)
    if settings is None:
        return EXIT_CONFIG
    return asyncio.run(_with_store(_create_first_admin, argparse.Namespace(
        command_name="init"), settings))  # fmt: skip


async def _create_first_admin(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del args
    from voxgate.services.admins import FIRST_ADMIN, AdminService  # noqa: PLC0415
    from voxgate.services.audit import Actor  # noqa: PLC0415

    password = await AdminService(store).create_first_admin(Actor.cli())
    admin = settings.admin
    where = f"https://<this host>:{admin.port}/" if admin.enabled else "(admin.enabled = false)"
    if password is None:
        print(f"kept     the administrator accounts (voxgate admin list); web administration "
              f"at {where}")  # fmt: skip
        return EXIT_OK
    print(f"created  administrator {FIRST_ADMIN!r} (system) with password: {password}")
    print("         shown once: it is stored only as a hash, and must be changed at the first "
          f"login at {where}")  # fmt: skip
    return EXIT_OK


def _load(path: Path) -> Settings | None:
    try:
        return load_settings(path)
    except ConfigError as exc:
        print(f"voxgate: config error: {exc.key}: {exc.reason}", file=sys.stderr)
        return None


def _endpoint(listener: Listener) -> str:
    host = f"[{listener.address}]" if ":" in listener.address else listener.address
    return f"{listener.transport} {host}:{listener.effective_port}"


def _shown_url(url: str) -> str:
    """A database URL without its password."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def _check_config(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_CONFIG
    print("OK: " + ", ".join(_endpoint(listener) for listener in settings.enabled_listeners))
    disabled = [listener for listener in settings.sip.listeners if not listener.enabled]
    if disabled:
        print("  disabled: " + ", ".join(_endpoint(listener) for listener in disabled))
    print(f"  config:   {args.config.resolve()}")
    print(f"  data_dir: {settings.node.data_dir}")
    print(f"  log:      {settings.log.level}, {settings.log.format}")
    print(f"  database: {_shown_url(settings.store_url)}")
    edge = settings.edge
    if edge.enabled:
        public = f", public address {edge.public_address}" if edge.public_address else ""
        devices = "only enabled devices" if edge.require_device else "any device"
        print(f"  edge:     on the listeners above (realm {edge.realm}, {devices}{public}); "
              f"call control at {edge.upstream_host}:{edge.upstream_port}")
    else:
        print("  edge:     off (the listeners above serve the call control)")
    if settings.pbx.enabled:
        pbx = settings.pbx
        where = f" on {pbx.listen_address}:{pbx.listen_port} (udp, tcp)," if edge.enabled else ""
        print(f"  pbx:     {where} realm {pbx.realm}, digest {pbx.digest_algorithms}, "
              f"registrations {pbx.min_expires}-{pbx.max_expires} s, no answer after "
              f"{pbx.no_answer_timeout} s")
    else:
        print("  pbx:      off")
    if any(listener.transport == "tls" for listener in settings.enabled_listeners):
        tls = settings.tls
        print(
            f"  tls:      {tls.certificate} (TLS >= {tls.min_version}, "
            f"client certificates {tls.verify_client})"
        )
    for listener in settings.enabled_listeners:
        address = ipaddress.ip_address(listener.address)
        if listener.transport != "tls" and (address.is_unspecified or address.is_global):
            print(
                f"  warning:  {_endpoint(listener)} carries SIP unencrypted and may face the "
                "Internet; bind plain transports to a LAN address"
            )
    return EXIT_OK


# -- data commands: they open the store, migrate it, and run one use case ------------------
DataCommand = Callable[[argparse.Namespace, Settings, "Store"], Awaitable[int]]


def _data(command: DataCommand) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        settings = _load(args.config)
        if settings is None:
            return EXIT_CONFIG
        return asyncio.run(_with_store(command, args, settings))

    return handler


async def _with_store(command: DataCommand, args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 - data commands only

    from voxgate.policy.devices import MacError  # noqa: PLC0415
    from voxgate.policy.netblocks import NetlistError  # noqa: PLC0415
    from voxgate.services.admins import AdminError  # noqa: PLC0415
    from voxgate.services.devices import DeviceError  # noqa: PLC0415
    from voxgate.services.extensions import ExtensionError  # noqa: PLC0415
    from voxgate.services.installer import InstallerError  # noqa: PLC0415
    from voxgate.services.netlists import NetlistChangeError  # noqa: PLC0415
    from voxgate.services.sipusers import SipUserError  # noqa: PLC0415
    from voxgate.storage.engine import Store  # noqa: PLC0415
    from voxgate.storage.secretbox import SecretBoxError  # noqa: PLC0415

    name = getattr(args, "command_name", "voxgate")
    try:
        store = await Store.open(settings.store_url)
    except (SQLAlchemyError, OSError, ValueError) as exc:
        print(f"voxgate: cannot open the database: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        await store.upgrade()
        return await command(args, settings, store)
    except (ExtensionError, NetlistChangeError, NetlistError, MacError, DeviceError, SipUserError,
            SecretBoxError, InstallerError, AdminError) as exc:  # fmt: skip
        print(f"voxgate: {name}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (SQLAlchemyError, OSError) as exc:
        print(f"voxgate: database error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await store.close()


async def _db_upgrade(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del args, settings
    print(f"database at revision {await store.current_revision()}")
    return EXIT_OK


def _read_secret(args: argparse.Namespace) -> str | None:
    if args.generate_secret:
        from voxgate.services.secrets_policy import generate_secret  # noqa: PLC0415

        secret = generate_secret()
        print(f"secret: {secret}  (shown once; it is stored only as a hash)")
        return secret
    if args.secret == STDIN:
        return sys.stdin.readline().rstrip("\r\n")
    value: str | None = args.secret
    return value


def _cli_actor() -> Actor:
    from voxgate.services.audit import Actor  # noqa: PLC0415

    return Actor.cli()


def _extensions(settings: Settings, store: Store) -> ExtensionService:
    from voxgate.services.extensions import ExtensionService  # noqa: PLC0415

    return ExtensionService(store, settings.pbx.realm)


async def _ext_add(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    if args.remote:
        return await cli_devices.ext_add_remote(args, settings, store)
    if args.username is not None:
        print("voxgate: ext add: --username goes with --remote", file=sys.stderr)
        return EXIT_CONFIG
    if args.secret is None and not args.generate_secret:
        print(
            "voxgate: ext add: give --secret S, --secret - (stdin) or --generate-secret",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    secret = _read_secret(args)
    assert secret is not None
    record = await _extensions(settings, store).add(
        args.number, secret, display_name=args.name, enabled=not args.disabled,
        max_contacts=args.max_contacts, actor=_cli_actor(),
    )  # fmt: skip
    print(f"added extension {record.number}")
    return EXIT_OK


async def _ext_list(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del args
    records = await _extensions(settings, store).all()
    print(f"{'NUMBER':<16}{'NAME':<30}{'ENABLED':<9}MAX CONTACTS")
    for r in records:
        limit = "default" if r.max_contacts is None else str(r.max_contacts)
        print(f"{r.number:<16}{r.display_name:<30}{'yes' if r.enabled else 'no':<9}{limit}")
    print(f"{len(records)} extension(s)")
    return EXIT_OK


async def _ext_show(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    r = await _extensions(settings, store).get(args.number)
    limit = f"default ({settings.pbx.max_contacts})" if r.max_contacts is None else r.max_contacts
    print(f"number:       {r.number}\nname:         {r.display_name}\n"
          f"enabled:      {'yes' if r.enabled else 'no'}\nmax contacts: {limit}\n"
          f"realm:        {r.realm}\ncreated:      {r.created_at.isoformat()}\n"
          f"updated:      {r.updated_at.isoformat()}")  # fmt: skip
    if r.realm != settings.pbx.realm:
        print(f"warning: stored for realm {r.realm!r}, not {settings.pbx.realm!r}: set its secret "
              "again")  # fmt: skip
    return EXIT_OK


async def _ext_set(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    limit: int | str | None = "keep"
    if args.max_contacts is not None:
        if args.max_contacts == "default":
            limit = None
        elif args.max_contacts.isdigit():
            limit = int(args.max_contacts)
        else:
            print("voxgate: ext set: --max-contacts takes a number or 'default'", file=sys.stderr)
            return EXIT_CONFIG
    secret = _read_secret(args) if (args.secret is not None or args.generate_secret) else None
    await _extensions(settings, store).change(
        args.number, secret=secret, display_name=args.name, enabled=args.enabled,
        max_contacts=limit, actor=_cli_actor(),
    )  # fmt: skip
    print(f"changed extension {args.number}")
    return EXIT_OK


async def _ext_del(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    await _extensions(settings, store).delete(args.number, actor=_cli_actor())
    print(f"deleted extension {args.number}")
    return EXIT_OK


async def _ext_import(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    report = await _extensions(settings, store).import_csv(args.file, update=args.update,
                                                          actor=_cli_actor())
    print(f"imported {report.added} new, {report.updated} changed extension(s)")
    return EXIT_OK


async def _ext_export(args: argparse.Namespace, settings: Settings, store: Store) -> int:

    service = _extensions(settings, store)
    text = await service.export(await service.all(), _cli_actor())
    return _write_out(args.file, text)


async def _cdr_export(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    """Stream the records the filters select into the file (or stdout) page by page: a year
    of calls need not fit in memory."""
    from voxgate.services.cdr import FILTERS, CdrService, read_filter  # noqa: PLC0415

    del settings
    which, problems = read_filter({name: getattr(args, name) or "" for name in FILTERS})
    assert not problems, problems  # each option was checked when parsed
    try:
        out = sys.stdout if args.file is None else args.file.open("w", newline="")
    except OSError as exc:
        print(f"voxgate: cannot write {args.file}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        await CdrService(store).write_csv(out, which)
    finally:
        if out is not sys.stdout:
            out.close()
    return EXIT_OK


def _write_out(path: Path | None, text: str) -> int:
    """Write ``text`` to ``path`` (created 0600: an extensions export holds HA1 digests, which
    register as well as the secrets do) or to stdout."""
    if path is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(text)
    except OSError as exc:
        print(f"voxgate: cannot write {path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _cdr_filter(name: str) -> Callable[[str], str]:
    """An option's check: the value must read as the call records page and the API read
    filter ``name`` (voxgate.services.cdr.read_filter)."""

    def check(text: str) -> str:
        from voxgate.services.cdr import read_filter  # noqa: PLC0415

        problems = read_filter({name: text})[1]
        if problems:
            raise argparse.ArgumentTypeError(problems[0].reason)
        return text

    return check


def _serve(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_CONFIG
    configure_logging(settings.log.level, settings.log.format)
    try:
        app = importlib.import_module("voxgate.app")  # composition root, imported on demand
    except ModuleNotFoundError as exc:
        if exc.name != "voxgate.app":
            raise
        print("voxgate: serve: this build has no voxgate.app", file=sys.stderr)
        return EXIT_FAILED
    serve: Callable[[Settings], object] = app.serve
    try:
        result = serve(settings)
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else EXIT_OK
