"""The ``voxgate`` command: ``init``, ``check-config``, ``serve``.

Exit status: 0 success, 1 the command failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from voxgate import __version__
from voxgate.config import certificates
from voxgate.config.init import CONFIG_NAME, InitError, init_data_dir
from voxgate.config.load import ConfigError, load_settings
from voxgate.config.schema import Listener, Settings
from voxgate.observability.logging import configure_logging

DEFAULT_DATA_DIR: Final = Path("data")
DEFAULT_CONFIG: Final = DEFAULT_DATA_DIR / CONFIG_NAME

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_CONFIG: Final = 2


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
        prog="voxgate", description="Teleworker SIP border gateway with an embedded PBX.",
    )
    parser.add_argument("--version", action="version", version=f"voxgate {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    init = commands.add_parser(
        "init", help="create a data directory: default config, TLS certificate and key",
    )
    init.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, metavar="DIR",
                      help=f"data directory to create (default: ./{DEFAULT_DATA_DIR})")
    init.add_argument("--force", action="store_true",
                      help="replace an existing config (keeps a .bak; never replaces keys)")
    init.set_defaults(handler=_init)

    check = commands.add_parser("check-config", help="validate and explain a config file")
    check.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG, metavar="FILE",
                       help=f"config file (default: ./{DEFAULT_CONFIG})")
    check.set_defaults(handler=_check_config)

    serve = commands.add_parser("serve", help="run the node")
    serve.add_argument("--config", type=Path, default=DEFAULT_CONFIG, metavar="FILE",
                       help=f"config file (default: ./{DEFAULT_CONFIG})")
    serve.set_defaults(handler=_serve)
    return parser


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
    print("certificate SHA-256 fingerprint: "
          + certificates.fingerprint(result.certificate.read_bytes()))
    print(f"next: voxgate check-config {result.config_path}")
    print(f"      voxgate serve --config {result.config_path}")
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
    if any(listener.transport == "tls" for listener in settings.enabled_listeners):
        tls = settings.tls
        print(f"  tls:      {tls.certificate} (TLS >= {tls.min_version}, "
              f"client certificates {tls.verify_client})")
    for listener in settings.enabled_listeners:
        address = ipaddress.ip_address(listener.address)
        if listener.transport != "tls" and (address.is_unspecified or address.is_global):
            print(f"  warning:  {_endpoint(listener)} carries SIP unencrypted and may face the "
                  "Internet; bind plain transports to a LAN address")
    return EXIT_OK


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
