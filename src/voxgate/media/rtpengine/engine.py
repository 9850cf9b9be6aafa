""":class:`MediaControl` over an rtpengine daemon (the ng protocol, bencode over UDP).

rtpengine needs two logical interfaces named like ours, ``wan`` and ``lan``
(``--interface=wan/<addr> --interface=lan/<addr>``): an offer names both
(``direction``), rtpengine remembers them for the answer. What the offer's options say about
the answering side (its SRTP and latching) is kept here per call until ``delete``, because the
ng ``answer`` must repeat it; a client that restarts mid-call answers with rtpengine's
defaults instead (learning on, no strict source for that party).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from voxgate.media.control import (
    CallId,
    CallStats,
    InterfaceName,
    MediaError,
    OfferOptions,
    Side,
    Tag,
)
from voxgate.media.rtpengine import ng
from voxgate.media.rtpengine.client import NgClient

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Call:
    """What this client said about a call: each party's side, and each offer's options."""

    first_tag: Tag
    sides: dict[Tag, Side] = field(default_factory=dict)
    offers: dict[Tag, OfferOptions] = field(default_factory=dict)


class RtpengineControl:
    """The rtpengine back end. ``address`` is rtpengine's ``--listen-ng``; a request gets
    ``tries`` transmissions within ``timeout`` seconds, then ``MediaError(503)``.
    ``interface_addresses`` (optional: local address → interface name) names the interface
    of parties this client never saw an offer for, in :meth:`query` results."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        timeout: float = 1.0,
        tries: int = 3,
        interface_addresses: dict[str, InterfaceName] | None = None,
    ) -> None:
        self._client = NgClient(address, timeout=timeout, tries=tries)
        self._addresses = dict(interface_addresses or {})
        self._calls: dict[CallId, _Call] = {}

    async def ping(self) -> None:
        """Raises ``MediaError(503)`` unless rtpengine answers ``pong``."""
        reply = await self._client.request(ng.PING_REQUEST)
        if ng.error_reason(reply) is not None:
            raise MediaError(503, f"media relay: ping answered {ng.error_reason(reply)}")

    async def offer(
        self, call_id: CallId, from_tag: Tag, sdp: bytes, options: OfferOptions
    ) -> bytes:
        ng.check_side(sdp, options.from_side, "offer")
        reply = await self._client.request(ng.offer_request(call_id, from_tag, sdp, options))
        result = ng.sdp_reply(reply, "offer")
        call = self._calls.setdefault(call_id, _Call(first_tag=from_tag))
        call.sides[from_tag] = options.from_side
        call.offers[from_tag] = options
        return result

    async def answer(self, call_id: CallId, from_tag: Tag, to_tag: Tag, sdp: bytes) -> bytes:
        call = self._calls.get(call_id)
        options = call.offers.get(from_tag) if call is not None else None
        if options is not None:
            ng.check_side(sdp, options.to_side, "answer")
        latch_to = options.latch_to if options is not None else None
        request = ng.answer_request(call_id, from_tag, to_tag, sdp, latch_to)
        result = ng.sdp_reply(await self._client.request(request), "answer")
        if call is not None and options is not None:
            call.sides[to_tag] = options.to_side
        return result

    async def delete(self, call_id: CallId, from_tag: Tag | None = None) -> CallStats | None:
        call = self._calls.get(call_id)
        tag = from_tag if from_tag is not None else (call.first_tag if call else None)
        if tag is None:
            # Unknown here: rtpengine returns statistics only for a delete naming a tag.
            stats = await self.query(call_id)
            if stats is None or not stats.parties:
                return None
            tag = stats.parties[0].tag
        reply = await self._client.request(ng.delete_request(call_id, tag))
        self._calls.pop(call_id, None)
        reason = ng.error_reason(reply)
        if reason is not None:
            if ng.is_unknown_call(reason):
                return None
            raise MediaError(500, f"media relay: delete: {reason}")
        if b"warning" in reply and b"tags" not in reply:
            return None  # "Call-ID not found or tags didn't match"
        return self._stats(call_id, reply, call)

    async def query(self, call_id: CallId) -> CallStats | None:
        reply = await self._client.request(ng.query_request(call_id))
        reason = ng.error_reason(reply)
        if reason is not None:
            if ng.is_unknown_call(reason):
                return None
            raise MediaError(500, f"media relay: query: {reason}")
        return self._stats(call_id, reply, self._calls.get(call_id))

    def _stats(self, call_id: CallId, reply: ng.Reply, call: _Call | None) -> CallStats:
        interfaces = {tag: side.interface for tag, side in call.sides.items()} if call else {}
        return ng.call_stats(call_id, reply, interfaces, self._addresses)

    async def close(self) -> None:
        """Delete every call this client set up (best effort), then close the socket."""
        for call_id in list(self._calls):
            try:
                await self.delete(call_id)
            except MediaError as exc:
                log.warning("rtpengine: could not delete call %s on close: %s", call_id, exc)
        self._calls.clear()
        await self._client.close()
