"""Composition: build a node from one typed :class:`Settings`, run it, stop it.

In this release the node is the SIP endpoint with its transports and the UAS
core answers (OPTIONS, and the right refusal for what is not served yet);
the edge, the call control and the media relay plug in here as they land.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from voxgate import accel, assembly, runtime
from voxgate.config.schema import Settings
from voxgate.edge.core import EdgeCore
from voxgate.edge.registrations import RegistrationRelay
from voxgate.edge.relaystate import RelayPolicy, Upstream
from voxgate.pbx.core import PbxCore
from voxgate.pbx.service import PbxService
from voxgate.policy.admission import SourceGate
from voxgate.policy.devices import compile_user_agent_pattern
from voxgate.services.livecalls import MAX_SHOWN, LiveCall
from voxgate.sip.actions import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TimedOut,
    TransportFailed,
)
from voxgate.sip.endpoint import (
    Endpoint,
    Event,
    MessageRejected,
    RequestAnswered,
    new_tag,
)
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.uas import Capabilities, answer_unhandled
from voxgate.transport.driver import EndpointDriver, SansIoEndpoint
from voxgate.transport.manager import ListenerSpec, TransportManager
from voxgate.transport.tlsctx import (
    ReloadableContext,
    build_client_context,
    build_server_context,
)

if TYPE_CHECKING:
    from voxgate.edge.media import MediaRunner
    from voxgate.edge.service import EdgeService
    from voxgate.media.control import MediaControl
    from voxgate.pbx.store import SqlPbxStore
    from voxgate.pbx.workers import WorkerPool
    from voxgate.provisioning.server import ProvisioningServer
    from voxgate.services.security import SecurityService
    from voxgate.storage.engine import Store
    from voxgate.web.server import AdminServer

log = logging.getLogger(__name__)
_TRANSPORTS = {"udp": Transport.UDP, "tcp": Transport.TCP, "tls": Transport.TLS}


@dataclass
class Node:
    """One running voxgate node."""

    settings: Settings
    _tls: ReloadableContext | None = None
    transports: TransportManager | None = None
    driver: EndpointDriver | None = None
    endpoint: Endpoint | None = None
    pbx: PbxService | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    gate: SourceGate | None = None
    security: SecurityService | None = None
    edge: EdgeService | None = None
    edge_core: EdgeCore | None = None
    pbx_transports: TransportManager | None = None
    _lan_from: int = 0
    pbx_driver: EndpointDriver | None = None
    _store: Store | None = None
    _pbx_store: SqlPbxStore | None = None  # the call control's writer, with connections of its own
    provisioning: ProvisioningServer | None = None
    admin: AdminServer | None = None
    media: MediaControl | None = None
    _media_runner: MediaRunner | None = None
    workers: WorkerPool | None = None

    async def start(self) -> None:
        """Open every configured listener.

        Without the edge, ``sip.listeners`` serve the call control.  With it, they are the
        edge's WAN side (plus its LAN-side listener) and the call control gets a stack of
        its own on ``pbx.listen_address``; the two speak SIP to each other.
        """
        settings = self.settings
        loop = asyncio.get_running_loop()
        self.capabilities = Capabilities(server=settings.sip.server_name)
        shared = settings.pbx.workers > 1  # registrar workers bind the UDP ports too
        specs = [
            ListenerSpec(_TRANSPORTS[lst.transport], lst.address, lst.effective_port,
                         reuse_port=shared and lst.transport == "udp")
            for lst in settings.enabled_listeners
        ]
        tls = None
        if any(spec.transport is Transport.TLS for spec in specs):
            tls = ReloadableContext(self._tls_factory)
        self.gate = gate = assembly.source_gate(settings.security)
        self.endpoint = endpoint = self._new_endpoint()
        self.transports = self._new_transports(self._driver, gate, tls, self._connection_lost,
                                               client_tls=self._upstream_tls())  # fmt: skip
        pbx_core = None
        if settings.pbx.enabled:
            pbx_endpoint = self._new_endpoint() if settings.edge.enabled else endpoint
            pbx_core = assembly.pbx_core(settings, pbx_endpoint, worker=0 if shared else None)
            pbx_core.auth_failed = lambda source, detail: gate.auth_failed(
                source, loop.time(), detail
            )
        core: SansIoEndpoint = pbx_core or endpoint
        edge_core = None
        if settings.edge.enabled:
            self.edge_core = edge_core = self._edge_core(endpoint, gate)
            core = edge_core
            edge = settings.edge
            self._lan_from = len(specs)  # the LAN listeners come after the WAN ones
            specs.append(ListenerSpec(Transport.UDP, edge.lan_address, edge.lan_port))
            upstream_kind = _TRANSPORTS[edge.upstream_transport]
            if upstream_kind is not Transport.UDP:
                specs.append(ListenerSpec(upstream_kind, edge.lan_address, edge.lan_port))
            if pbx_core is not None:
                # the call control's own gate: the edge's LAN address is trusted (all remote
                # devices arrive from it), and failed logins there lock out LAN sources there
                pbx_gate = assembly.source_gate(settings.security, also_trusted=(edge.lan_address,))
                pbx_core.auth_failed = lambda source, detail: pbx_gate.auth_failed(
                    source, loop.time(), detail
                )
                self.pbx_transports = self._new_transports(self._pbx_driver, pbx_gate)
                self.pbx_driver = EndpointDriver(pbx_core, self.pbx_transports.send,
                                                 self.on_event, loop)  # fmt: skip
        self.driver = EndpointDriver(core, self.transports.send, self.on_event, loop)
        await self._start_services(pbx_core, edge_core)
        if edge_core is not None:
            await self._start_media(edge_core)
        self._tls = tls
        try:
            if self.pbx_transports is not None:
                pbx = settings.pbx
                await self.pbx_transports.start([
                    ListenerSpec(Transport.UDP, pbx.listen_address, pbx.listen_port),
                    ListenerSpec(Transport.TCP, pbx.listen_address, pbx.listen_port),
                ])  # fmt: skip
            await self.transports.start(specs)
        except OSError as err:
            raise StartError(f"cannot open the SIP listeners: {err}") from err
        if edge_core is not None:
            await self._connect_edge(edge_core)
        if shared:
            await self._start_workers()
        await self._start_provisioning()
        await self._start_admin()

    async def _start_workers(self) -> None:
        """The registrar workers of ``pbx.workers`` (:mod:`voxgate.pbx.workers`)."""
        from voxgate.pbx.workers import WorkerPool  # noqa: PLC0415 - with pbx.workers only

        assert self.pbx is not None
        assert self.gate is not None
        loop = asyncio.get_running_loop()
        gate = self.gate
        addresses = [a for kind, a in self._transports().bound if kind is Transport.UDP]
        self.workers = pool = WorkerPool(
            self.settings, self.pbx, addresses, self._driver().on_message,
            lambda source, detail: gate.auth_failed(source, loop.time(), detail),
            count=self.settings.pbx.workers - 1,
        )  # fmt: skip
        gate.on_lockout = lambda source, until: pool.lockout(
            source, until - loop.time() + time.time()
        )
        await pool.start()

    async def _start_media(self, core: EdgeCore) -> None:
        """The media relay ``[media]`` names, and the edge's calls routed through it."""
        from voxgate.edge.media import MediaPolicy, MediaRunner, MediaSteps  # noqa: PLC0415
        from voxgate.media.setup import MediaSetupError, start_engine  # noqa: PLC0415

        media = self.settings.media
        try:
            self.media = engine = await start_engine(self.settings)
        except MediaSetupError as err:
            raise StartError(str(err)) from err
        if engine is None:
            return
        calls = core.calls
        calls.media = MediaSteps()
        calls.media_policy = MediaPolicy(wan_srtp=media.wan_srtp, lan_srtp=media.lan_srtp,
                                         suites=media.srtp_suites)  # fmt: skip
        loop = asyncio.get_running_loop()
        self._media_runner = runner = MediaRunner(calls.media, engine, now=loop.time,
                                                  after=lambda: self._driver().pump())  # fmt: skip
        if self.edge is not None:
            runner.on_finished = self.edge.media_finished

    def _new_endpoint(self) -> Endpoint:
        return assembly.endpoint(self.settings)

    def _new_transports(
        self,
        driver: Callable[[], EndpointDriver],
        gate: SourceGate,
        tls: ReloadableContext | None = None,
        lost: Callable[[Flow], None] | None = None,
        *,
        client_tls: ssl.SSLContext | None = None,
    ) -> TransportManager:
        sip = self.settings.sip
        return TransportManager(
            lambda data, flow: driver().on_message(data, flow), lost,
            limits=assembly.sip_limits(self.settings),
            idle_timeout=float(sip.tcp_idle_timeout), keepalive_pong=sip.keepalive_pong,
            max_connections=sip.max_connections, tls=tls, source_policy=gate,
            client_tls=client_tls, dscp=sip.dscp,
        )  # fmt: skip

    def _upstream_tls(self) -> ssl.SSLContext | None:
        edge = self.settings.edge
        if not edge.enabled or edge.upstream_transport != "tls":
            return None
        return build_client_context(verify=edge.upstream_tls_verify, cafile=edge.upstream_ca)

    def _edge_core(self, endpoint: Endpoint, gate: SourceGate) -> EdgeCore:
        settings = self.settings
        edge = settings.edge
        loop = asyncio.get_running_loop()
        digest = assembly.digest_server(settings, edge.realm)
        policy = RelayPolicy(
            udp_max_expires=edge.udp_max_expires, stream_max_expires=edge.stream_max_expires,
            require_device=edge.require_device, server_name=settings.sip.server_name,
            user_agent_pattern=compile_user_agent_pattern(edge.user_agent_pattern),
            public_host=edge.public_address, public_port=edge.public_port,
            public_upstream=edge.public_upstream,
        )  # fmt: skip
        upstream = (edge.upstream_host, edge.upstream_port)
        placeholder = Upstream(Flow(Transport.UDP, ("", 0), upstream), "")  # set once bound

        def relay(ep: Endpoint) -> RegistrationRelay:
            return RegistrationRelay(
                ep, digest, placeholder, policy=policy,
                certificate=lambda flow: self._transports().peer_certificate(flow),
                auth_failed=lambda source, detail: gate.auth_failed(source, loop.time(), detail),
            )  # fmt: skip

        return EdgeCore(endpoint, relay)

    def _connection_lost(self, flow: Flow) -> None:
        """A front-side connection closed: the edge ends what ran over it."""
        if self.edge_core is not None:
            self.edge_core.connection_lost(flow, asyncio.get_running_loop().time())
            self._driver().pump()

    async def _connect_edge(self, core: EdgeCore) -> None:
        """Point the edge at the call control from its LAN side, now that it is bound; over
        TCP/TLS open the connection (kept open by the edge service)."""
        edge = self.settings.edge
        kind = _TRANSPORTS[edge.upstream_transport]
        bound = self._transports().bound[self._lan_from :]  # in the order they were asked for
        lan = next(address for transport, address in bound if transport is kind)
        upstream = (edge.upstream_host, edge.upstream_port)
        core.lan = frozenset(address for _, address in bound)
        core.upstream_remote = upstream
        domain = edge.upstream_domain or upstream[0]
        core.relay.upstream = Upstream(Flow(kind, lan, upstream), domain)
        log.info("edge: LAN side %s %s:%d, call control at %s:%d", kind.value, lan[0], lan[1],
                 *upstream)  # fmt: skip
        if kind is not Transport.UDP and self.edge is not None:
            transports = self._transports()
            await self.edge.keep_upstream(
                lambda: transports.connect(
                    kind, upstream, server_hostname=edge.upstream_server_name or upstream[0]
                ),
                lambda flow: (c := transports.connection(flow)) is not None and c.alive,
            )

    async def _start_services(self, core: PbxCore | None, edge: EdgeCore | None) -> None:
        """Open the database, then the netlists and security events, the call control and
        the edge."""
        from sqlalchemy.engine import make_url  # noqa: PLC0415 - loaded once, at start
        from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

        from voxgate.pbx.store import SqlPbxStore  # noqa: PLC0415
        from voxgate.services.security import SecurityService  # noqa: PLC0415
        from voxgate.storage.engine import Store  # noqa: PLC0415

        url = self.settings.store_url
        shown = make_url(url).render_as_string(hide_password=True)
        assert self.gate is not None
        try:
            self._store = store = await Store.open(url)
            await store.upgrade()
            self.security = SecurityService(self.gate, store)
            await self.security.start()
            if core is not None:
                pump = self._pbx_driver().pump if self.pbx_driver else self._driver().pump
                lock = assembly.pbx_commit_lock(self.settings)
                self._pbx_store = SqlPbxStore(store, lock)
                self.pbx = PbxService(core, self._pbx_store, pump)
                await self.pbx.start()
            if edge is not None:
                self.edge = await _start_edge(edge, store, self.settings)
        except (SQLAlchemyError, OSError) as err:
            raise StartError(f"cannot open the database {shown}: {err}") from err

    async def live_calls(self) -> list[LiveCall]:
        """The calls under way, oldest first, the first :data:`MAX_SHOWN` with the media
        relay's counters (the dashboard's)."""
        from voxgate.edge.media import live_media  # noqa: PLC0415 - with the relay
        from voxgate.media.control import CallId, MediaError  # noqa: PLC0415

        calls = [] if self.edge_core is None else self.edge_core.calls.live()
        if self.pbx is not None:
            calls += self.pbx.live_calls()
        calls.sort(key=lambda call: call.started)
        if self.media is None:
            return calls
        for index, call in enumerate(calls[:MAX_SHOWN]):
            if call.media_id is not None:
                try:
                    stats = await self.media.query(CallId(call.media_id))
                except MediaError as err:  # an external relay that does not answer
                    log.debug("no media counters for %s: %s", call.media_id, err)
                    continue
                calls[index] = dataclasses.replace(call, media=live_media(stats))
        return calls

    def reload(self) -> None:
        """SIGHUP: the TLS certificate, and the extensions and netlists now rather than at
        the next poll."""
        self.reload_tls()
        if self.pbx is not None:
            self.pbx.reload_soon()
        if self.workers is not None:
            self.workers.reload()
        if self.edge is not None:
            self.edge.reload_soon()
        if self.security is not None:
            self.security.reload_soon()

    def reload_tls(self) -> None:
        """Re-read the certificate, key and chain (SIGHUP); keep the old ones on error."""
        if self._tls is None:
            return
        try:
            self._tls.reload()
        except (OSError, ValueError) as err:
            log.error("TLS reload failed, keeping the current certificate: %s", err)

    async def stop(self) -> None:
        """Close listeners and connections."""
        if self.workers is not None:  # first: they write through this process's store
            await self.workers.close()
        for driver in (self.driver, self.pbx_driver):
            if driver is not None:
                driver.close()
        for transports in (self.transports, self.pbx_transports):
            if transports is not None:
                await transports.close()
        if self.admin is not None:
            await self.admin.close()
        if self.provisioning is not None:
            await self.provisioning.close()
        if self._media_runner is not None:
            await self._media_runner.close()
        if self.media is not None:
            await self.media.close()
        if self.edge is not None:
            await self.edge.close()
        if self.pbx is not None:
            await self.pbx.close()
        if self._pbx_store is not None:
            await self._pbx_store.close()
        if self.security is not None:
            await self.security.close()
        if self._store is not None:
            await self._store.close()

    # -- provisioning (AUTH-3): the HTTPS server phones fetch their configuration from -------
    async def _start_provisioning(self) -> None:
        """Serve ``[provisioning]`` behind the SIP listeners' gate, with their TLS context."""
        config = self.settings.provisioning
        if not config.enabled:
            return
        from voxgate.provisioning.server import ProvisioningServer, sip_target  # noqa: PLC0415
        from voxgate.services.installer import InstallerService  # noqa: PLC0415
        from voxgate.storage.repos.sip_users import SipUserRepo  # noqa: PLC0415

        assert self.gate is not None
        assert self._store is not None
        if self._tls is None:
            self._tls = ReloadableContext(self._tls_factory)
        self.provisioning = ProvisioningServer(
            self.gate, InstallerService(self._store), SipUserRepo(self._store),
            sip_target(self.settings, self._transports().bound), tls=self._tls,
            max_connections=config.max_connections,
        )  # fmt: skip
        try:
            await self.provisioning.start(config.address, config.port)
        except OSError as err:
            raise StartError(f"cannot open the provisioning listener: {err}") from err

    # -- the web administration (ADMIN-1): HTTPS from admin.allowed_networks only --------------
    async def _start_admin(self) -> None:
        """Serve ``[admin]`` with the SIP listeners' TLS context (one certificate, one
        reload)."""
        config = self.settings.admin
        if not config.enabled:
            return
        from voxgate.web.server import AdminServer  # noqa: PLC0415 - with the admin only

        assert self._store is not None
        if self._tls is None:
            try:
                self._tls = ReloadableContext(self._tls_factory)
            except (OSError, ValueError) as err:  # ssl.SSLError is an OSError
                raise StartError(f"the web administration needs the TLS certificate "
                                 f"({self.settings.tls.certificate}): {err}; or set "
                                 "admin.enabled = false") from err  # fmt: skip
        self.admin = AdminServer(config, self._store, tls=self._tls,
                                 tls_settings=self.settings.tls,
                                 sipusers=assembly.admin_sipusers(self.settings, self._store),
                                 live_calls=self.live_calls)  # fmt: skip
        try:
            await self.admin.start(config.address, config.port)
        except OSError as err:
            raise StartError(f"cannot open the admin listener: {err}") from err

    def on_event(self, event: Event) -> None:
        """The UAS core's own answers (without the call control), and logging."""
        match event:
            case RequestReceived(key=key, request=request):
                response = answer_unhandled(request, self.capabilities, to_tag=new_tag())
                if response is not None and self.endpoint is not None:
                    self.endpoint.respond(key, response, asyncio.get_running_loop().time())
            case RequestAnswered(request=request, response=response, flow=flow, duration=d):
                # OPTIONS pings from every phone would drown the log: they go at debug.
                ping = request.method == "OPTIONS" and response.status == 200
                level = logging.DEBUG if ping else logging.INFO
                if log.isEnabledFor(level):
                    log.log(level, "%s %d", request.method, response.status, extra={
                        "method": request.method, "status": response.status,
                        "call_id": request.call_id, "branch": request.top_via.branch,
                        "flow": str(flow), "duration_ms": round(d * 1000, 3),
                    })  # fmt: skip
            case MessageRejected(flow=flow, status=status, reason=reason, detail=detail):
                log.info("rejected: %s", reason, extra={
                    "flow": str(flow), "status": status, "detail": detail,
                })  # fmt: skip
            case (
                AckReceived() | ResponseReceived() | StrayResponse() | TimedOut()
                | TransportFailed()
            ):  # fmt: skip
                log.debug("ignored %s", type(event).__name__)

    def _driver(self) -> EndpointDriver:
        assert self.driver is not None, "node not started"
        return self.driver

    def _pbx_driver(self) -> EndpointDriver:
        assert self.pbx_driver is not None, "node not started"
        return self.pbx_driver

    def _transports(self) -> TransportManager:
        assert self.transports is not None, "node not started"
        return self.transports

    def _tls_factory(self) -> ssl.SSLContext:
        tls = self.settings.tls
        return build_server_context(
            certificate=tls.certificate, private_key=tls.private_key, chain=tls.chain,
            min_version=tls.min_version, ciphers=tls.ciphers, verify_client=tls.verify_client,
            client_ca=tls.client_ca,
        )  # fmt: skip


async def _start_edge(core: EdgeCore, store: Store, settings: Settings) -> EdgeService:
    """The edge's service on the store (SIP users, device table)."""
    from voxgate.edge.service import EdgeService  # noqa: PLC0415 - with the database
    from voxgate.edge.store import SqlEdgeStore  # noqa: PLC0415
    from voxgate.storage.secretbox import SecretBoxError, read_key_file  # noqa: PLC0415

    try:
        key = read_key_file(settings.store.secret_key)
    except SecretBoxError as err:
        raise StartError(f"the edge needs the key file: {err}") from err
    service = EdgeService(core, SqlEdgeStore(store, settings.edge.realm, key),
                          asyncio.get_running_loop())  # fmt: skip
    await service.start()
    return service


class StartError(Exception):
    """The node could not start (a listener or the database); the message says why."""


async def run(settings: Settings) -> None:
    """Run a node until SIGTERM or SIGINT; SIGHUP reloads the TLS certificate."""
    node = Node(settings)
    try:
        await node.start()
    except BaseException:
        await node.stop()
        raise
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, node.reload)
    runtime.settle_after_start()
    log.info("voxgate running; SIP core: %s", accel.status().reason)
    try:
        await stopping.wait()
    finally:
        log.info("voxgate stopping")
        await node.stop()


def serve(settings: Settings) -> int:
    """Entry point of ``voxgate serve``: uvloop when available, then :func:`run`."""
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up, chosen at start

        runner: contextlib.AbstractContextManager[asyncio.Runner] = asyncio.Runner(
            loop_factory=uvloop.new_event_loop
        )
    except ImportError:
        runner = asyncio.Runner()
    with runner as r:
        try:
            r.run(run(settings))
        except StartError as err:
            log.error("voxgate could not start: %s", err)
            return 1
    return 0
