"""The ``voxgate tls`` commands: the certificate of the node's TLS listeners shown, and a
customer certificate installed in its place (the checks and files of
:class:`~voxgate.services.certificates.CertificateService`, as the web administration's TLS
page).

The command writes the files; a node already running reads them at its next ``SIGHUP``
(``kill -HUP <pid of voxgate serve>``): new handshakes then present the new certificate,
established connections keep theirs.  ``cli.py`` builds the parser and runs the commands with
an open store (for the audit log); this module adds the sub-commands and holds their handlers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from voxgate.config.schema import Settings

if TYPE_CHECKING:  # imported when a command runs, not at start-up
    from voxgate.services.certificates import CertificateService, TlsDescription
    from voxgate.storage.engine import Store

DataCommand = Callable[[argparse.Namespace, Settings, "Store"], Awaitable[int]]
Wrap = Callable[[DataCommand], Callable[[argparse.Namespace], int]]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
#: The option each upload comes from, to name it in a refusal.
OPTIONS: Final = {"cert": "--cert", "key": "--key", "chain": "--chain"}


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    data: Wrap,
    config_option: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``tls`` to the top-level ``commands``."""
    tls = commands.add_parser(
        "tls", help="the TLS certificate of SIP over TLS, the web administration and "
        "provisioning: show it, install a customer certificate",
    )  # fmt: skip
    sub = tls.add_subparsers(title="tls commands", metavar="COMMAND")

    show = sub.add_parser("show", help="the certificate in use and the TLS settings")
    show.set_defaults(command_name="tls show", handler=data(_show))

    install = sub.add_parser(
        "install", help="check and install a certificate, its key and chain (PEM)",
        description="Checks everything before writing anything (PEM, the key belongs to the "
        "certificate and has no passphrase, the dates, the key's strength, the chain's order), "
        "lets OpenSSL load the files with the [tls] settings, then replaces the files named by "
        "tls.certificate, tls.private_key (and tls.chain), keeping the replaced ones as "
        "<name>.previous. A running node uses the new certificate after SIGHUP.",
    )  # fmt: skip
    install.add_argument("--cert", type=Path, required=True, metavar="FILE",
                         help="the certificate (PEM), perhaps followed by its chain")  # fmt: skip
    install.add_argument("--key", type=Path, required=True, metavar="FILE",
                         help="its private key (PEM, unencrypted)")  # fmt: skip
    install.add_argument("--chain", type=Path, metavar="FILE",
                         help="the intermediate certificates (PEM), the certificate's issuer "
                         "first")  # fmt: skip
    install.set_defaults(command_name="tls install", handler=data(_install))
    for parser in (show, install):
        config_option(parser)


def _service(settings: Settings, store: Store) -> CertificateService:
    from voxgate.services.certificates import CertificateService  # noqa: PLC0415
    from voxgate.transport.tlsctx import build_server_context  # noqa: PLC0415

    return CertificateService(store, settings.tls, build=build_server_context)


async def _show(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    del args
    tls = _service(settings, store).describe()
    info = tls.certificate
    if info is not None:
        days = tls.days_left or 0
        left = "expired" if days < 0 else f"{days} day{'s' if days != 1 else ''} left"
        chain = (f"{info.chain_length} certificate{'s' if info.chain_length != 1 else ''} after "
                 "it" if info.chain_length else "none")  # fmt: skip
        print(f"certificate:  {tls.certificate_file}\nsubject:      {info.subject}\n"
              f"names:        {', '.join(info.names) or '-'}\nissuer:       {info.issuer}"
              f"{' (self-signed)' if info.self_signed else ''}\n"
              f"valid:        {info.not_before:%Y-%m-%d %H:%M} to {info.not_after:%Y-%m-%d %H:%M} "
              f"UTC ({left})\nsha-256:      {info.fingerprint}\n"
              f"key:          {info.key} ({tls.private_key_file})\nchain:        {chain}"
              f"{f' ({tls.chain_file})' if tls.chain_file else ''}")  # fmt: skip
    _settings(tls)
    for warning in tls.warnings:
        print(f"warning: {warning}")
    if tls.problem:
        print(f"voxgate: tls show: {tls.problem}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _settings(tls: TlsDescription) -> None:
    client = tls.verify_client + (f" (CA {tls.client_ca})" if tls.client_ca else "")
    print(f"tls:          TLS >= {tls.min_version}, TLS 1.2 ciphers {tls.ciphers}, client "
          f"certificates {client}")  # fmt: skip


async def _install(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    from voxgate.services.audit import Actor  # noqa: PLC0415
    from voxgate.services.certificate_checks import CertificateError  # noqa: PLC0415
    from voxgate.services.certificates import InstallError  # noqa: PLC0415

    try:
        cert, key = _read(args.cert, "cert"), _read(args.key, "key")
        chain = None if args.chain is None else _read(args.chain, "chain")
    except _UnreadableError as err:
        print(f"voxgate: tls install: {err}", file=sys.stderr)
        return EXIT_FAILED
    try:
        done = await _service(settings, store).install(cert, key, chain, Actor.cli())
    except CertificateError as err:
        print(f"voxgate: tls install: {OPTIONS[err.field]}: {err}", file=sys.stderr)
        return EXIT_FAILED
    except InstallError as err:
        print(f"voxgate: tls install: {err}", file=sys.stderr)
        return EXIT_FAILED
    info = done.certificate
    print(f"installed {info.subject} (SHA-256 {info.fingerprint}), valid until "
          f"{info.not_after:%Y-%m-%d}, chain of {info.chain_length}")  # fmt: skip
    print("  wrote " + ", ".join(str(path) for path in done.written))
    if done.previous:
        print("  kept  " + ", ".join(str(path) for path in done.previous))
    print("a running node presents it after SIGHUP (kill -HUP <pid of voxgate serve>): new "
          "connections get it, established ones keep theirs")  # fmt: skip
    return EXIT_OK


class _UnreadableError(Exception):
    """A file given on the command line cannot be read."""


def _read(path: Path, field: str) -> bytes:
    """The file's first bytes (one more than an upload may have: the service says too large)."""
    from voxgate.services.certificate_checks import MAX_PEM  # noqa: PLC0415

    try:
        with path.open("rb") as file:
            return file.read(MAX_PEM + 1)
    except OSError as err:
        raise _UnreadableError(f"{OPTIONS[field]}: cannot read {path}: {err.strerror}") from None
