"""The built-in relay engine: :class:`~voxgate.media.control.MediaControl` over the pure
planner and a :class:`~voxgate.media.relay.model.Forwarder`.

It keeps each call's plan, opens a pair of port pairs for every relayed m= line at the offer
(EDGE-5: nothing listens before), configures both ends at the answer (media flows from then
on), and closes everything at delete or when the forwarder reports a call idle.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from voxgate.media.control import (
    CallId,
    CallStats,
    InterfaceName,
    MediaError,
    OfferOptions,
    PartyStats,
    Tag,
)
from voxgate.media.relay.model import Forwarder, PairId, PairStats
from voxgate.media.relay.planner import (
    CallPlan,
    KeySource,
    Relay,
    new_plan,
    plan_answer,
    plan_offer,
    relayed_streams,
)
from voxgate.sdp.codec import parse_sdp, serialize_sdp
from voxgate.sdp.errors import SdpError
from voxgate.sdp.model import SessionDescription

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Call:
    plan: CallPlan
    created: float
    pairs: dict[int, PairId]
    #: The last verb's input and output per (verb, tag): a retried verb gets the same answer.
    replies: dict[tuple[str, str], tuple[bytes, bytes]]
    #: Counters of pairs already closed (a rejected stream, a re-offer that dropped one).
    closed: dict[int, PairStats]


class RelayEngine:
    """The embedded media relay behind the MediaControl interface."""

    def __init__(
        self, forwarder: Forwarder, addresses: Mapping[InterfaceName, str], keys: KeySource,
        supported_suites: frozenset[str], *, wall_clock: Callable[[], float] = time.time,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:  # fmt: skip
        self._forwarder = forwarder
        self._relay = Relay(dict(addresses), supported_suites, keys)
        self._clock = wall_clock
        self._calls: dict[CallId, _Call] = {}
        self._idle: set[CallId] = set()
        self._loop = loop  # with a loop, idle calls end at once; else at expire_idle()
        self._tasks: set[asyncio.Task[list[CallId]]] = set()
        forwarder.on_idle(self._pair_idle)

    @property
    def calls(self) -> int:
        """Calls whose media the engine relays now."""
        return len(self._calls)

    async def offer(
        self, call_id: CallId, from_tag: Tag, sdp: bytes, options: OfferOptions
    ) -> bytes:
        call = self._calls.get(call_id)
        if call is not None:
            cached = call.replies.get(("offer", from_tag))
            if cached is not None and cached[0] == sdp:
                return cached[1]
        sd = _parse(sdp)
        offerer = 0 if call is None else call.plan.party_of(from_tag)
        if offerer is None:
            raise MediaError(488, "an offer from a party the call does not know")
        side = options.from_side if call is None else call.plan.parties[offerer].side
        relayed = relayed_streams(sd, side)  # refused before any port is opened
        if call is None:
            call = _Call(new_plan(call_id, from_tag, options), self._clock(), {}, {}, {})
            self._calls[call_id] = call
        try:
            ports = await self._open_pairs(call, relayed)
            out = serialize_sdp(plan_offer(call.plan, offerer, sd, options=options, ports=ports,
                                           relay=self._relay))  # fmt: skip
        except MediaError:
            if not call.replies:  # a first offer that failed leaves nothing open
                await self.delete(call_id)
            raise
        call.replies[("offer", from_tag)] = (sdp, out)
        return out

    async def answer(self, call_id: CallId, from_tag: Tag, to_tag: Tag, sdp: bytes) -> bytes:
        call = self._calls.get(call_id)
        pending = call.plan.pending if call is not None else None
        if call is None or pending is None or call.plan.parties[pending.offerer].tag != from_tag:
            raise MediaError(481, "no offer of this call and party waits for an answer")
        cached = call.replies.get(("answer", to_tag))
        if cached is not None and cached[0] == sdp:
            return cached[1]
        sd = _parse(sdp)
        out = serialize_sdp(plan_answer(call.plan, to_tag, sd, self._relay))
        for index, pair in list(call.pairs.items()):
            if index < len(call.plan.relayed) and call.plan.relayed[index]:
                await self._forwarder.configure(pair, call.plan.pair_config(index))
            else:
                await self._close_pair(call, index)
        call.replies[("answer", to_tag)] = (sdp, out)
        return out

    async def delete(self, call_id: CallId, from_tag: Tag | None = None) -> CallStats | None:
        # One party leaving ends a two-party call's media: both ends close. A tag the call
        # does not know (a fork that lost) ends nothing.
        call = self._calls.get(call_id)
        if call is None or (from_tag is not None and call.plan.party_of(from_tag) is None
                            and call.plan.parties[1].tag is not None):  # fmt: skip
            return None
        del self._calls[call_id]
        for index in list(call.pairs):
            await self._close_pair(call, index)
        return self._stats(call, {})

    async def query(self, call_id: CallId) -> CallStats | None:
        call = self._calls.get(call_id)
        if call is None:
            return None
        live = {}
        for index, pair in call.pairs.items():
            stats = await self._forwarder.stats(pair)
            if stats is not None:
                live[index] = stats
        return self._stats(call, live)

    async def close(self) -> None:
        for call_id in list(self._calls):
            await self.delete(call_id)
        await self._forwarder.close()

    async def expire_idle(self) -> list[CallId]:
        """End the media of calls whose pairs went idle (called from the app's loop)."""
        ended = sorted(self._idle)
        self._idle.clear()
        for call_id in ended:
            log.info("media of call %s idle: ports closed", call_id)
            await self.delete(call_id)
        return ended

    def _pair_idle(self, pair: PairId) -> None:
        call_id = CallId(pair.rpartition("/")[0])
        if call_id in self._calls:
            self._idle.add(call_id)
            if self._loop is not None:
                task = self._loop.create_task(self.expire_idle())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _open_pairs(self, call: _Call, relayed: list[bool]) -> dict[int, tuple[int, int]]:
        """Open a pair for every m= line the offer relays that has none; close the pairs of
        lines it no longer relays. Ports by line, as (end a, end b)."""
        plan = call.plan
        ports: dict[int, tuple[int, int]] = {}
        for index, wanted in enumerate(relayed):
            pair = call.pairs.get(index)
            if not wanted:
                if pair is not None:
                    await self._close_pair(call, index)
                continue
            a, b = plan.parties[0], plan.parties[1]
            if pair is None:
                pair = PairId(f"{plan.call_id}/{index}")
                opened = await self._forwarder.open_pair(pair, a.side.interface,
                                                         b.side.interface)  # fmt: skip
                call.pairs[index] = pair
                a_ports = (opened.a, opened.b)
            else:
                a_ports = (a.ports[index], b.ports[index])
            ports[index] = a_ports
        return ports

    async def _close_pair(self, call: _Call, index: int) -> None:
        pair = call.pairs.pop(index, None)
        if pair is None:
            return
        stats = await self._forwarder.close_pair(pair)
        if stats is not None:
            call.closed[index] = stats

    def _stats(self, call: _Call, live: Mapping[int, PairStats]) -> CallStats:
        every = {**call.closed, **live}
        parties = []
        last = 0.0
        for end, party in enumerate(call.plan.parties):
            streams = []
            source = None
            for index in sorted(every):
                pair = every[index]
                streams.append(pair.a if end == 0 else pair.b)
                source = source or (pair.a_source if end == 0 else pair.b_source)
                last = max(last, pair.last_packet)
            parties.append(PartyStats(party.tag or Tag(""), party.side.interface, source,
                                      tuple(streams)))  # fmt: skip
        wall_last = self._clock() - (time.monotonic() - last) if last else 0.0
        return CallStats(CallId(call.plan.call_id), call.created,
                         wall_last, tuple(parties))  # fmt: skip


def _parse(sdp: bytes) -> SessionDescription:
    try:
        return parse_sdp(sdp)
    except SdpError as exc:
        raise MediaError(488, f"malformed SDP: {exc}") from None

