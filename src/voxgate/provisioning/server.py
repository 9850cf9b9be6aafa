"""The provisioning HTTPS server (AUTH-3): phones fetch their configuration, the installer
password enables them.

Every connection passes the node's :class:`~voxgate.policy.admission.SourceGate` before its
TLS handshake (a blocked or locked-out source is closed at once and costs no cryptography),
and every request passes it again (a source locked out meanwhile loses its connection).  The
TLS context is the node's :class:`~voxgate.transport.tlsctx.ReloadableContext`, read at each
accept as the SIP listeners do, so ``SIGHUP`` swaps the certificate for both.

A request for a device's file (:mod:`voxgate.provisioning.paths`):

- no installer password set: ``404`` — nothing is handed out and nobody is prompted;
- no credentials, or not Basic: ``401`` with ``WWW-Authenticate: Basic``;
- wrong user name (it is ``installer``) or password: ``401`` again, and a failed
  authentication for the source in the gate — enough of them lock it out, as for SIP;
- right: the device is enabled (:meth:`InstallerService.enable_device`) and gets its
  configuration (:mod:`voxgate.provisioning.phoneconfig`); a device an administrator has
  disabled stays so and gets ``403``.

HTTP Basic (RFC 7617) over TLS, not Digest: Digest needs the server to hold
``H(user:realm:password)``, a fast hash as good as the password for an offline guesser,
which would undo storing the installer password as a slow scrypt hash.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import ipaddress
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import hdrs, web

from voxgate.config.schema import Settings
from voxgate.policy.admission import SourceGate
from voxgate.policy.devices import format_mac
from voxgate.provisioning.paths import ConfigRequest, parse_path
from voxgate.provisioning.phoneconfig import PhoneConfig
from voxgate.services.installer import USERNAME, DeviceOutcome, InstallerService
from voxgate.sip.flow import Transport
from voxgate.storage.repos.sip_users import SipUserRepo
from voxgate.transport.https import GatedHttpsListener
from voxgate.transport.tlsctx import ReloadableContext

log = logging.getLogger(__name__)

REALM: Final = "voxgate provisioning"
CHALLENGE: Final = f'Basic realm="{REALM}", charset="UTF-8"'
#: Seconds an idle keep-alive connection stays open.
KEEPALIVE_TIMEOUT: Final = 15.0
#: A host name or IP literal that may go into a configuration (from the request's Host).
_HOST: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


@dataclass(frozen=True, slots=True)
class SipTarget:
    """Where phones are told to register: ``host`` ``None`` means the host name the phone
    fetched its configuration from."""

    host: str | None
    port: int
    transport: str


def sip_target(settings: Settings, bound: Sequence[tuple[Transport, tuple[str, int]]]) -> SipTarget:
    """The edge's SIP address for phones: ``provisioning.sip_server``, else
    ``edge.public_address``, else the provisioning request's host; the port of the first TLS
    listener (``edge.public_port`` when set), else of the first listener."""
    host = settings.provisioning.sip_server or settings.edge.public_address or None
    ordered = sorted(bound, key=lambda item: item[0] is not Transport.TLS)
    transport, port = (ordered[0][0].value.lower(), ordered[0][1][1]) if ordered else ("tls", 5061)
    if settings.edge.enabled and settings.edge.public_port:
        port = settings.edge.public_port
    return SipTarget(host, port, transport)


class ProvisioningServer:
    """The aiohttp application and its TLS listener behind the source gate."""

    def __init__(
        self, gate: SourceGate, installer: InstallerService, users: SipUserRepo,
        target: SipTarget, *, tls: ReloadableContext | None = None, max_connections: int = 1000,
        clock: Callable[[], float] | None = None,
    ) -> None:  # fmt: skip
        self.gate = gate
        self.installer = installer
        self.users = users
        self.target = target
        self.tls = tls
        self.max_connections = max_connections
        self._clock = clock
        self._listener: GatedHttpsListener | None = None
        #: ``bound``: the listening address once started.
        self.bound: tuple[str, int] | None = None
        self.stats: dict[str, int] = dict.fromkeys(
            ("requests", "denied_connections", "denied_requests", "refused_connections",
             "handshake_failures", "auth_failures", "enabled"), 0)  # fmt: skip

    def application(self) -> web.Application:
        """The aiohttp application (one handler for every path and method)."""
        app = web.Application(client_max_size=4096)
        app.router.add_route("*", "/{path:.*}", self.handle)
        return app

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (TLS); returns the bound address."""
        if self.tls is None:
            raise ValueError("the provisioning server needs a TLS context")
        self._listener = GatedHttpsListener(
            "provisioning", admit=lambda source: self.gate.check(source, self._now()).admitted,
            tls=self.tls, max_connections=self.max_connections,
            keepalive_timeout=KEEPALIVE_TIMEOUT, stats=self.stats,
        )  # fmt: skip
        self.bound = await self._listener.start(self.application(), host, port)
        return self.bound

    async def close(self) -> None:
        """Stop listening, end the handshakes and the connections."""
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    @property
    def open_connections(self) -> int:
        """Connections open, TLS handshakes under way included."""
        return 0 if self._listener is None else self._listener.open_connections

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    # -- requests ---------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request (see the module's docstring)."""
        self.stats["requests"] += 1
        source = request.remote or ""
        if not self.gate.check(source, self._now()).admitted:
            self.stats["denied_requests"] += 1
            if request.transport is not None:
                request.transport.abort()  # the answer below never leaves
            return web.Response(status=403)
        if request.method not in (hdrs.METH_GET, hdrs.METH_HEAD):
            return web.Response(status=405, text="GET only\n", headers={hdrs.ALLOW: "GET, HEAD"})
        wanted = parse_path(request.path)
        if wanted is None or not await self.installer.is_set():
            return _plain(404, "not found\n")
        credentials = basic_credentials(request.headers.get(hdrs.AUTHORIZATION))
        if credentials is None:
            return _challenge()
        user, password = credentials
        right = await self.installer.verify(password)  # hashed whatever the user name
        if not (hmac.compare_digest(user.encode(), USERNAME.encode()) and right):
            self.stats["auth_failures"] += 1
            detail = f"provisioning: wrong installer credentials for {format_mac(wanted.mac)}"
            self.gate.auth_failed(source, self._now(), detail)
            log.info("%s from %s", detail, source, extra={"peer": source})
            return _challenge()
        return await self._provision(request, wanted, source)

    async def _provision(self, request: web.Request, wanted: ConfigRequest, source: str
                         ) -> web.StreamResponse:  # fmt: skip
        mac = format_mac(wanted.mac)
        user_agent = request.headers.get(hdrs.USER_AGENT)
        outcome = await self.installer.enable_device(wanted.mac, source, user_agent)
        if not outcome.admitted:
            log.warning("provisioning: %s is disabled by an administrator; the installer "
                        "password does not enable it", mac, extra={"peer": source})  # fmt: skip
            return _plain(403, f"device {mac} is disabled by an administrator\n")
        if outcome in (DeviceOutcome.CREATED, DeviceOutcome.ENABLED):
            self.stats["enabled"] += 1
            log.info("provisioning: device %s enabled by the installer password (%s)", mac,
                     outcome.value, extra={"peer": source})  # fmt: skip
        users = [user.username for user in await self.users.for_device(wanted.mac)
                 if user.enabled]  # fmt: skip
        host = self.target.host or _request_host(request)
        config = PhoneConfig(wanted.mac, host, self.target.port, self.target.transport, users)
        body, content_type = config.render(wanted.format)
        return web.Response(text=body, content_type=content_type,
                            headers={hdrs.CACHE_CONTROL: "no-store"})  # fmt: skip


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` from an ``Authorization: Basic …`` value (RFC 7617, UTF-8);
    ``None`` without a Basic header; ``("", "")`` for a malformed one (wrong credentials)."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return "", ""
    user, colon, password = text.partition(":")
    return (user, password) if colon else ("", "")


def _request_host(request: web.Request) -> str:
    """The host the phone reached us by (the Host header without its port) when it is an IP
    address or a plain host name; else the connection's local address."""
    raw = request.host
    if raw.startswith("["):
        candidate = raw[1:].partition("]")[0]
    elif raw.count(":") == 1:
        candidate = raw.partition(":")[0]
    else:
        candidate = raw
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(candidate))
    if _HOST.fullmatch(candidate):
        return candidate
    sockname = None if request.transport is None else request.transport.get_extra_info("sockname")
    return str(sockname[0]) if sockname else "127.0.0.1"


def _challenge() -> web.Response:
    return web.Response(status=401, text="installer password needed\n",
                        headers={hdrs.WWW_AUTHENTICATE: CHALLENGE})  # fmt: skip


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text)
