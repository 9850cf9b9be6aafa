"""The edge's side of the media relay (MEDIA-1…4, EDGE-5): what each side's media must be,
which SDP body is an offer and which an answer, and the steps the B2BUA waits on.

The B2BUA (:mod:`voxgate.edge.calls`) stays free of I/O: when an SDP body crosses the edge it
*submits* a :class:`MediaStep` with a continuation; an adapter (:class:`MediaRunner`) runs
the step on a :class:`~voxgate.media.control.MediaControl` and hands the rewritten SDP (or the
:class:`~voxgate.media.control.MediaError`) back, and the B2BUA sends the message on. Steps of
one call run one after the other, in the order submitted (an answer in a 183 and again in the
200 must reach the engine in that order).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from voxgate.media.control import (
    DEFAULT_SUITES,
    CallId,
    CallStats,
    MediaControl,
    MediaError,
    OfferOptions,
    Side,
    Tag,
)
from voxgate.services.livecalls import LiveMedia
from voxgate.sip.flow import Flow, Transport, format_address
from voxgate.sip.message import Request, Response
from voxgate.storage.repos.media import MediaRecord, SideCounters

log = logging.getLogger(__name__)

WanSrtp = Literal["mandatory", "optional"]
#: The engine's names for the two parties of an edge call: the side that sent the INVITE and
#: the side the edge sent it on to (each call has its own engine call-id).
A_TAG: Final = Tag("a")
B_TAG: Final = Tag("b")

Continuation = Callable[[bytes | MediaError, float], None]
#: Finished calls' media counters kept in memory (the dashboard's recent calls).
RECENT_CALLS: Final = 1000


@dataclass(frozen=True, slots=True)
class MediaPolicy:
    """What the relay does with each side's media (the ``[media]`` settings)."""

    #: ``mandatory``: devices must use SDES-SRTP, and the edge offers them nothing else;
    #: ``optional``: devices may use plain RTP (and get plain RTP offers) — for tests and
    #: networks where something else encrypts.
    wan_srtp: WanSrtp = "mandatory"
    #: SRTP toward the call control (needs a TLS upstream); else plain RTP (MEDIA-3).
    lan_srtp: bool = False
    suites: tuple[str, ...] = DEFAULT_SUITES

    def side(self, *, device: bool) -> Side:
        """The relay side of a device (WAN) or of the call control (LAN)."""
        if device:
            return Side("wan", srtp=self.wan_srtp == "mandatory")
        return Side("lan", srtp=self.lan_srtp)

    def options(self, *, from_device: bool) -> OfferOptions:
        """Offer options for an SDP from a device (or from the call control). Only devices'
        addresses are latched: the call control's come from its SDP."""
        return OfferOptions(
            from_side=self.side(device=from_device), to_side=self.side(device=not from_device),
            suites=self.suites, latch_from=from_device, latch_to=not from_device,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class MediaStep:
    """One verb for the engine: offer (``to_tag`` None), answer, or delete (``sdp`` empty)."""

    call_id: CallId
    verb: Literal["offer", "answer", "delete"]
    from_tag: Tag
    to_tag: Tag | None = None
    sdp: bytes = b""
    options: OfferOptions | None = None
    #: delete: the Call-ID of the call's other leg (its record is found by either).
    other_call_id: str = ""


class MediaSteps:
    """The steps the B2BUA waits on and what it does when each is done."""

    def __init__(self) -> None:
        self._next = 0
        self._waiting: dict[int, Continuation] = {}
        #: Called with each new step; the adapter sets it (tests may drain :attr:`queued`).
        self.on_step: Callable[[int, MediaStep], None] | None = None
        self.queued: list[tuple[int, MediaStep]] = []

    def submit(self, step: MediaStep, then: Continuation | None = None) -> None:
        """Ask for ``step``; ``then(result, now)`` runs when it is done."""
        self._next += 1
        if then is not None:
            self._waiting[self._next] = then
        if self.on_step is None:
            self.queued.append((self._next, step))
        else:
            self.on_step(self._next, step)

    def done(self, step_id: int, result: bytes | MediaError, now: float) -> None:
        """The adapter's report: the step's rewritten SDP, or why it failed."""
        then = self._waiting.pop(step_id, None)
        if then is not None:
            then(result, now)

    @property
    def waiting(self) -> int:
        """Steps submitted and not done."""
        return len(self._waiting)


def sdp_body(message: Request | Response) -> bytes | None:
    """The body if it is an SDP description (RFC 3264), else None."""
    if not message.body:
        return None
    content_type = (message.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    return message.body if content_type == "application/sdp" else None


def keys_exposed(body: bytes, flow: Flow) -> bool:
    """An SDP with SDES keys (``a=crypto``) on signaling that is not TLS (MEDIA-1: keys never
    travel over unencrypted signaling)."""
    return flow.transport is not Transport.TLS and b"a=crypto:" in body


class MediaRunner:
    """Runs the B2BUA's media steps on an engine, one call's steps in order."""

    def __init__(
        self, steps: MediaSteps, engine: MediaControl, *, now: Callable[[], float],
        after: Callable[[], None],
    ) -> None:  # fmt: skip
        self._steps = steps
        self._engine = engine
        self._now = now
        self._after = after  # pump the SIP driver: the continuation queued messages
        self._tails: dict[CallId, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: The final counters of the last :data:`RECENT_CALLS` calls, newest last.
        self.finished: deque[CallStats] = deque(maxlen=RECENT_CALLS)
        #: Told of every finished call's counters (the edge service stores them).
        self.on_finished: Callable[[MediaRecord], None] | None = None
        steps.on_step = self._start

    def _start(self, step_id: int, step: MediaStep) -> None:
        previous = self._tails.get(step.call_id)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[step.call_id] = done
        task = asyncio.create_task(self._run(step_id, step, previous, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, step_id: int, step: MediaStep, previous: asyncio.Future[None] | None,
        done: asyncio.Future[None],
    ) -> None:  # fmt: skip
        try:
            if previous is not None:
                await asyncio.shield(previous)
            result = await self._call(step)
            self._steps.done(step_id, result, self._now())
            self._after()
        except Exception:  # the per-step boundary: a failed step must not stop the others
            log.exception("media step %s of call %s failed", step.verb, step.call_id)
        finally:
            done.set_result(None)
            if self._tails.get(step.call_id) is done:
                del self._tails[step.call_id]

    async def _call(self, step: MediaStep) -> bytes | MediaError:
        result, stats = await perform(self._engine, step)
        if stats is not None:
            self.finished.append(stats)
            record = media_record(stats, step.other_call_id, datetime.now(UTC))
            log.info("media of call %s ended: %s", stats.call_id, " ".join(
                f"{name} {side.packets} pkts ({side.dropped_auth} failed auth, "
                f"{side.dropped_source} from strangers)"
                for name, side in (("wan", record.wan), ("lan", record.lan))
            ), extra={"call_id": stats.call_id, "media": {
                "wan": dataclasses.asdict(record.wan), "lan": dataclasses.asdict(record.lan),
            }})  # fmt: skip
            if self.on_finished is not None:
                self.on_finished(record)
        return result

    async def close(self) -> None:
        """Wait for the steps under way (at shutdown, after the SIP side has stopped)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def perform(engine: MediaControl, step: MediaStep
                  ) -> tuple[bytes | MediaError, CallStats | None]:  # fmt: skip
    """Run one step on ``engine``: the SDP to send on (empty for a delete) or the refusal,
    and a deleted call's final counters."""
    try:
        if step.verb == "offer":
            assert step.options is not None
            return await engine.offer(step.call_id, step.from_tag, step.sdp, step.options), None
        if step.verb == "answer":
            assert step.to_tag is not None
            return await engine.answer(step.call_id, step.from_tag, step.to_tag, step.sdp), None
        return b"", await engine.delete(step.call_id)
    except MediaError as err:
        log.info("media %s of call %s refused: %s %s", step.verb, step.call_id, err.status,
                 err.reason)  # fmt: skip
        return err, None


def media_record(stats: CallStats, other_call_id: str, ended_at: datetime) -> MediaRecord:
    """A finished call's counters as stored: each side's streams added up (jitter: the
    worst stream's)."""
    sides = {}
    for party in stats.parties:
        streams = party.streams
        sides[party.interface] = SideCounters(
            packets=sum(s.packets for s in streams), octets=sum(s.octets for s in streams),
            forwarded=sum(s.forwarded for s in streams), lost=sum(s.lost for s in streams),
            dropped_auth=sum(s.dropped_auth for s in streams),
            dropped_source=sum(s.dropped_source for s in streams),
            jitter_ms=round(max((s.jitter_ms for s in streams), default=0.0), 2),
            source=f"{party.source[0]}:{party.source[1]}" if party.source else "",
        )  # fmt: skip
    return MediaRecord(stats.call_id, other_call_id, ended_at,
                       sides.get("wan", SideCounters()), sides.get("lan", SideCounters()))


def live_media(stats: CallStats | None) -> tuple[LiveMedia, ...]:
    """A call's counters at the relay, one entry per party, for the dashboard."""
    if stats is None:
        return ()
    return tuple(
        LiveMedia(
            str(party.interface),
            None if party.source is None else format_address(party.source),
            sum(s.packets for s in party.streams), sum(s.lost for s in party.streams),
            max((s.jitter_ms for s in party.streams), default=0.0),
            sum(s.dropped_auth + s.dropped_source for s in party.streams),
        )
        for party in stats.parties
    )
