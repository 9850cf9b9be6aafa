"""The in-process forwarder: every pair's sockets on the running event loop (uvloop in the
app). Implements :class:`voxgate.media.relay.model.Forwarder`; the worker pool
(:mod:`voxgate.media.relay.workers`) runs one of these in each worker process.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from voxgate.media.control import InterfaceName, MediaError
from voxgate.media.relay.endpoint import Endpoint, PairActivity, Port
from voxgate.media.relay.model import (
    Address,
    EndpointConfig,
    PairConfig,
    PairId,
    PairPorts,
    PairStats,
)
from voxgate.media.relay.ports import DEFAULT_DSCP, PortRange

log = logging.getLogger(__name__)

#: Seconds without an accepted packet after which a pair is reported idle (EDGE-5).
DEFAULT_IDLE_TIMEOUT = 60.0


@dataclass(slots=True)
class _Pair:
    a: Endpoint
    b: Endpoint
    ranges: tuple[PortRange, PortRange]
    ports: tuple[Port, ...]
    activity: PairActivity
    opened: float
    idle_reported: float = -1.0


def _normalized(address: Address | None) -> Address | None:
    """The address with its host in canonical form (IPv6 compressed), as sockets report it."""
    if address is None:
        return None
    return (str(ipaddress.ip_address(address[0])), address[1])


def _normalized_config(config: EndpointConfig) -> EndpointConfig:
    remote_rtp = _normalized(config.remote_rtp)
    remote_rtcp = remote_rtp if config.rtcp_mux else _normalized(config.remote_rtcp)
    return replace(config, remote_rtp=remote_rtp, remote_rtcp=remote_rtcp)


class LocalForwarder:
    """Pairs of endpoints relayed on this process's event loop.

    ``interfaces`` maps an interface name to the local address its ports are bound on;
    ``port_range`` is the inclusive (min, max) range shared by all interfaces (each address
    has its own allocation); ``dscp`` marks every media packet (EDGE-4); ``clock`` is a
    monotonic clock (seconds) used for idle detection, jitter and ``last_packet``.
    """

    def __init__(
        self,
        interfaces: Mapping[InterfaceName, str],
        port_range: tuple[int, int],
        *,
        dscp: int = DEFAULT_DSCP,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= dscp <= 63:
            raise ValueError(f"DSCP {dscp} is not a 6-bit code point")
        self._interfaces = dict(interfaces)
        self._ranges: dict[str, PortRange] = {}
        for address in self._interfaces.values():
            if address not in self._ranges:
                self._ranges[address] = PortRange(address, *port_range, dscp=dscp)
        self._idle_timeout = idle_timeout
        self._clock = clock
        self._pairs: dict[PairId, _Pair] = {}
        self._idle_callbacks: list[Callable[[PairId], None]] = []
        self._idle_timer: asyncio.TimerHandle | None = None

    # -- the Forwarder protocol -----------------------------------------------------------

    async def open_pair(
        self, pair: PairId, a_interface: InterfaceName, b_interface: InterfaceName
    ) -> PairPorts:
        existing = self._pairs.get(pair)
        if existing is not None:  # a retried open: the same ports
            return PairPorts(existing.a.port, existing.b.port)
        range_a = self._range(a_interface)
        range_b = self._range(b_interface)
        activity = PairActivity()
        a = await self._endpoint(range_a, activity)
        try:
            b = await self._endpoint(range_b, activity)
        except BaseException:
            await self._close_endpoint(a, range_a)
            raise
        a.peer, b.peer = b, a
        ports = tuple(p for e in (a, b) for p in (e.rtp_port, e.rtcp_port) if p is not None)
        self._pairs[pair] = _Pair(a, b, (range_a, range_b), ports, activity, self._clock())
        self._arm_idle_timer()
        return PairPorts(a.port, b.port)

    async def configure(self, pair: PairId, config: PairConfig) -> None:
        state = self._pairs.get(pair)
        if state is None:
            raise MediaError(481, f"no media pair {pair}")
        a = _normalized_config(config.a)
        b = _normalized_config(config.b)
        # Both sides' contexts first, so that a bad key (MediaError 488) changes nothing.
        a_contexts = state.a.contexts_for(a)
        b_contexts = state.b.contexts_for(b)
        state.a.configure(a, *a_contexts)
        state.b.configure(b, *b_contexts)

    async def close_pair(self, pair: PairId) -> PairStats | None:
        state = self._pairs.pop(pair, None)
        if state is None:
            return None
        stats = self._stats(state)
        for port in state.ports:
            port.close()
        await asyncio.gather(*(port.closed for port in state.ports))
        state.ranges[0].release(state.a.port)
        state.ranges[1].release(state.b.port)
        return stats

    async def stats(self, pair: PairId) -> PairStats | None:
        state = self._pairs.get(pair)
        return None if state is None else self._stats(state)

    def on_idle(self, callback: Callable[[PairId], None]) -> None:
        self._idle_callbacks.append(callback)

    async def close(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        for pair in list(self._pairs):
            await self.close_pair(pair)

    # -- beyond the protocol ----------------------------------------------------------------

    @property
    def pair_count(self) -> int:
        return len(self._pairs)

    def check_idle(self) -> list[PairId]:
        """Report (once per quiet spell) every pair that received nothing accepted for the
        idle timeout; run periodically, callable directly with a test clock."""
        now = self._clock()
        idle: list[PairId] = []
        for pair, state in self._pairs.items():
            last = max(state.activity.last_packet, state.opened)
            if now - last >= self._idle_timeout and state.idle_reported != last:
                state.idle_reported = last
                idle.append(pair)
        for pair in idle:
            for callback in self._idle_callbacks:
                try:
                    callback(pair)
                except Exception:
                    log.exception("idle callback failed for media pair %s", pair)
        return idle

    # -- internals ------------------------------------------------------------------------

    def _range(self, interface: InterfaceName) -> PortRange:
        address = self._interfaces.get(interface)
        if address is None:
            raise MediaError(503, f"media interface {interface} is not configured")
        return self._ranges[address]

    async def _endpoint(self, ports: PortRange, activity: PairActivity) -> Endpoint:
        port, rtp_sock, rtcp_sock = ports.bind_pair()
        endpoint = Endpoint(port, activity, self._clock)
        loop = asyncio.get_running_loop()
        ipv6 = ":" in ports.address
        pending = [rtp_sock, rtcp_sock]  # sockets no transport owns yet
        try:
            _, rtp = await loop.create_datagram_endpoint(
                lambda: Port(endpoint, rtcp=False, ipv6=ipv6), sock=rtp_sock
            )
            endpoint.rtp_port = rtp
            pending.remove(rtp_sock)
            _, rtcp = await loop.create_datagram_endpoint(
                lambda: Port(endpoint, rtcp=True, ipv6=ipv6), sock=rtcp_sock
            )
            endpoint.rtcp_port = rtcp
            pending.remove(rtcp_sock)
        except BaseException:
            for sock in pending:
                sock.close()
            await self._close_endpoint(endpoint, ports)
            raise
        return endpoint

    async def _close_endpoint(self, endpoint: Endpoint, ports: PortRange) -> None:
        opened = [p for p in (endpoint.rtp_port, endpoint.rtcp_port) if p is not None]
        for port in opened:
            port.close()
        await asyncio.gather(*(port.closed for port in opened))
        ports.release(endpoint.port)

    def _stats(self, state: _Pair) -> PairStats:
        return PairStats(
            a=state.a.counters.snapshot(),
            b=state.b.counters.snapshot(),
            a_source=state.a.source,
            b_source=state.b.source,
            last_packet=state.activity.last_packet,
        )

    def _arm_idle_timer(self) -> None:
        if self._idle_timer is not None:
            return
        interval = min(1.0, self._idle_timeout / 4)
        loop = asyncio.get_running_loop()

        def tick() -> None:
            self.check_idle()
            self._idle_timer = loop.call_later(interval, tick)

        self._idle_timer = loop.call_later(interval, tick)
