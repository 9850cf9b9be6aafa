"""What both directions of an edge call share: the legs' dialogs, requests relayed inside
them (re-INVITE, UPDATE, INFO, BYE), ACKs, 2xx retransmission, the media relay's steps, and
ending a call. :class:`~voxgate.edge.calls.EdgeCalls` builds the calls on this."""

from __future__ import annotations

import logging
from collections.abc import Callable

from voxgate.edge.legs import (
    REQUEST_COPY,
    RESPONSE_COPY,
    CallStats,
    EdgeCall,
    Phase,
    Relay,
    contact,
    copy_passed_options,
    leg_tag,
)
from voxgate.edge.media import (
    A_TAG,
    B_TAG,
    MediaPolicy,
    MediaStep,
    MediaSteps,
    keys_exposed,
    sdp_body,
)
from voxgate.edge.registrations import RegistrationRelay
from voxgate.media.control import MediaError
from voxgate.sip.actions import TransactionKey
from voxgate.sip.b2bua import (
    Unacked,
    copy_body,
    copy_headers,
    host_port,
    in_dialog,
)
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.message import Request, Response, make_response
from voxgate.sip.timers import TimerConfig

log = logging.getLogger(__name__)


class EdgeLegs:
    """The state of every call through the edge and what happens inside its dialogs."""

    def __init__(self, relay: RegistrationRelay, timers: TimerConfig | None = None) -> None:
        #: The media relay's steps; None: SDP passes through unchanged (no relay).
        self.media: MediaSteps | None = None
        self.media_policy = MediaPolicy()
        self.relay = relay
        self.ua = relay.ua
        self.timers = timers or TimerConfig()
        self.calls: dict[TransactionKey, EdgeCall] = {}
        self.stats = CallStats()
        self._b_legs: dict[TransactionKey, EdgeCall] = {}
        self._dialogs: dict[tuple[str, str], tuple[EdgeCall, bool]] = {}
        self._relays: dict[TransactionKey, Relay] = {}
        #: Calls with a 2xx waiting for its ACK (the only timers of the edge's calls): the
        #: timers look at these few, not at every call, on every message.
        self._awaiting_ack: dict[TransactionKey, EdgeCall] = {}


    def find_dialog(self, request: Request) -> tuple[EdgeCall, bool] | None:
        """The call and side (True: the A side) of a request with a To tag."""
        tag = request.to.tag
        return None if tag is None else self._dialogs.get((request.call_id, tag))

    def ack(self, request: Request, now: float) -> None:
        """An ACK for a 2xx inside one of our dialogs: acknowledge the other side (with the
        relay's answer when the 2xx carried an offer)."""
        found = self.find_dialog(request)
        if found is None:
            return
        call, from_a = found
        seq = request.cseq.seq
        call.unacked = [u for u in call.unacked if u.cseq != seq or u.to_a != from_a]
        if not call.unacked:
            self._awaiting_ack.pop(call.a_key, None)
        if call.b_dialog is None or call.a_dialog is None:
            return
        if from_a:
            if call.phase is Phase.ANSWERED and seq == call.a_invite.cseq.seq:
                call.phase = Phase.CONFIRMED
                out_seq = call.b_invite.cseq.seq
            elif call.b_reinvite is not None and call.b_reinvite[1] == seq:
                out_seq = call.b_reinvite[0]
            else:
                return
            ack = in_dialog(call.b_dialog, "ACK", call.b_flow, self.sent_by(call.b_flow),
                             out_seq)
            call.b_acks[out_seq] = ack
        elif call.a_reinvite is not None and call.a_reinvite[1] == seq:
            ack = in_dialog(call.a_dialog, "ACK", call.a_flow, self.sent_by(call.a_flow),
                             call.a_reinvite[0])
        else:
            return
        body = sdp_body(request)
        copy_body(request, ack)
        if (from_a, seq) not in call.ack_answers or body is None or self.media is None:
            self._send_ack(call, ack, from_a, ack.body, now)
            return
        call.ack_answers.discard((from_a, seq))
        self._media(call, from_a=from_a, body=body, answer=True, now=now,
                    then=lambda result, at: self._send_ack(call, ack, from_a, result, at))

    def _send_ack(self, call: EdgeCall, ack: Request, from_a: bool, body: bytes | MediaError,
                  now: float) -> None:  # fmt: skip
        flow = call.b_flow if from_a else call.a_flow
        if isinstance(body, MediaError):  # the late answer is unusable: the call cannot go on
            ack.body = b""
            ack.headers.remove("Content-Type")
            self.ua.send_stateless(ack, flow)
            self._hang_up_both(call, now)
            return
        ack.body = body
        self.ua.send_stateless(ack, flow)

    def in_dialog(
        self, key: TransactionKey, request: Request, call: EdgeCall, from_a: bool, now: float
    ) -> None:
        """A request inside a call: relayed to the other side (BYE ends the call)."""
        mine = call.a_dialog if from_a else call.b_dialog
        other = call.b_dialog if from_a else call.a_dialog
        flow = call.b_flow if from_a else call.a_flow
        token = call.token
        if mine is None or other is None or call.phase is Phase.ENDED:
            self._reply(key, request, 481, now)
            return
        refusal = mine.receive_request(request)
        if refusal is not None:
            self._reply(key, request, refusal, now)
            return
        out = in_dialog(other, request.method, flow, self.sent_by(flow))
        copy_headers(request.headers, out.headers, REQUEST_COPY)
        copy_passed_options(request.headers, out.headers)
        out.body = request.body
        body = sdp_body(request) if request.method in ("INVITE", "UPDATE") else None
        if request.method in ("INVITE", "UPDATE"):
            out.headers.set("Contact", contact(flow, token, self.sent_by(flow)))
        if request.method == "INVITE":
            pair = (out.cseq.seq, request.cseq.seq)
            if from_a:
                call.b_reinvite = pair
            else:
                call.a_reinvite = pair
        if request.method == "BYE":
            self.ua.send_request(out, flow, now)
            self._end(call, now)
            self.ua.respond(key, self._response(request, 200), now)
            return
        relayed = Relay(call, key, request, to_a=not from_a, offered=body is not None)
        if body is None or self.media is None:
            self._send_relayed(relayed, out, flow, out.body, now)
            return
        self._media(call, from_a=from_a, body=body, answer=False, now=now,
                    then=lambda result, at: self._send_relayed(relayed, out, flow, result, at))

    def _send_relayed(self, relayed: Relay, out: Request, flow: Flow, body: bytes | MediaError,
                      now: float) -> None:  # fmt: skip
        if isinstance(body, MediaError):
            self.ua.respond(relayed.server_key, self._response(relayed.request, body.status,
                                                               body.reason), now)  # fmt: skip
            return
        out.body = body
        client = self.ua.send_request(out, flow, now)
        self._relays[client] = relayed

    def _relay_response(self, relay: Relay, response: Response, now: float) -> None:
        if response.status == 100:
            return
        body = sdp_body(response) if response.status < 300 else None
        if body is None or self.media is None:
            self._send_response(relay, response, response.body, now)
            return
        call, request = relay.call, relay.request
        if not relay.offered:
            if request.method != "INVITE" or response.status < 200:
                self._send_response(relay, response, b"", now)  # no offer in an unreliable 18x
                return
            call.ack_answers.add((not relay.to_a, request.cseq.seq))
        self._media(call, from_a=relay.to_a, body=body, answer=relay.offered, now=now,
                    then=lambda result, at: self._send_response(relay, response, result, at))

    def _send_response(self, relay: Relay, response: Response, body: bytes | MediaError,
                       now: float) -> None:  # fmt: skip
        call, request = relay.call, relay.request
        from_a = not relay.to_a
        if isinstance(body, MediaError):  # the answer or offer is unusable: refuse the request
            if response.status >= 200 and request.method == "INVITE":
                self._hang_up_both(call, now)  # its 2xx cannot be taken back
            self.ua.respond(relay.server_key, self._response(request, body.status, body.reason),
                            now)  # fmt: skip
            return
        out = self._response(request, response.status, response.reason, body=body)
        copy_headers(response.headers, out.headers, RESPONSE_COPY)
        copy_passed_options(response.headers, out.headers)
        if not body:
            out.headers.remove("Content-Type")
        if request.method in ("INVITE", "UPDATE") and response.status < 300:
            back = call.a_flow if from_a else call.b_flow
            out.headers.add("Contact", contact(back, call.token, self.sent_by(back)))
        self.ua.respond(relay.server_key, out, now)
        if request.method == "INVITE" and 200 <= response.status < 300:
            self._retransmit_until_ack(call, out, from_a, request.cseq.seq, now)


    def _live(self) -> list[EdgeCall]:
        return list(self.calls.values())


    def _retransmit_until_ack(
        self, call: EdgeCall, response: Response, to_a: bool, cseq: int, now: float
    ) -> None:
        flow = call.a_flow if to_a else call.b_flow
        call.unacked.append(Unacked.start(response, flow, cseq, to_a, now=now, t1=self.timers.t1))
        self._awaiting_ack[call.a_key] = call

    def _hang_up_both(self, call: EdgeCall, now: float) -> None:
        for dialog, flow in ((call.a_dialog, call.a_flow), (call.b_dialog, call.b_flow)):
            if dialog is not None:
                bye = in_dialog(dialog, "BYE", flow, self.sent_by(flow))
                self.ua.send_request(bye, flow, now)
        self._end(call, now)


    def _end(self, call: EdgeCall, now: float) -> None:
        del now
        if call.phase is Phase.ENDED:
            return
        call.phase = Phase.ENDED
        call.unacked.clear()
        self._awaiting_ack.pop(call.a_key, None)
        if self.media is not None and call.media_used:  # EDGE-5: its ports close now
            self.media.submit(MediaStep(call.media_id, "delete", A_TAG,
                                        other_call_id=call.a_invite.call_id))
        self.calls.pop(call.a_key, None)
        if call.b_key is not None:
            self._b_legs.pop(call.b_key, None)
        self._dialogs.pop((call.a_invite.call_id, call.a_tag), None)
        self._dialogs.pop((call.b_call_id, call.b_tag), None)

    def sent_by(self, flow: Flow) -> str:
        """The host:port the edge puts in Via and Contact on ``flow``: its LAN address toward
        the call control (or, in DMZ mode with ``public_upstream``, the public one), the
        configured public address (DMZ mode) or the listener's own address toward devices."""
        relay = self.relay
        if flow.local == relay.upstream.flow.local:
            return relay.upstream_sent_by()
        policy = relay.policy
        if policy.public_host:
            return host_port((policy.public_host, policy.public_port or flow.local[1]))
        return host_port(flow.local)


    # -- media ----------------------------------------------------------------------------
    def _media(
        self, call: EdgeCall, *, from_a: bool, body: bytes, answer: bool, now: float,
        then: Callable[[bytes | MediaError, float], None],
    ) -> None:  # fmt: skip
        """Put an SDP from one side through the media relay; ``then`` gets what to send on.
        Keys never cross unencrypted signaling (MEDIA-1): an SDP with a=crypto that came over
        UDP or TCP is refused, and so is an offer that would need keys sent that way."""
        media = self.media
        assert media is not None
        flow = call.a_flow if from_a else call.b_flow
        if keys_exposed(body, flow):
            then(MediaError(488, "SDES keys (a=crypto) over unencrypted signaling"), now)
            return
        sender, other = (A_TAG, B_TAG) if from_a else (B_TAG, A_TAG)
        if answer:
            step = MediaStep(call.media_id, "answer", other, sender, body)
        else:
            options = self.media_policy.options(from_device=from_a == call.outgoing)
            to_flow = call.b_flow if from_a else call.a_flow
            if options.to_side.srtp and to_flow.transport is not Transport.TLS:
                then(MediaError(488, "SRTP keys cannot be sent: the other side's signaling "
                                     "is not TLS"), now)  # fmt: skip
                return
            step = MediaStep(call.media_id, "offer", sender, sdp=body, options=options)
        call.media_used = True
        media.submit(step, then)


    # -- answers --------------------------------------------------------------------------
    def _reply(self, key: TransactionKey, request: Request, status: int, now: float) -> None:
        self.ua.respond(key, self._response(request, status, to_tag=leg_tag()), now)

    def _response(
        self, request: Request, status: int, reason: str | None = None, *,
        to_tag: str | None = None, body: bytes = b"",
    ) -> Response:  # fmt: skip
        response = make_response(request, status, reason, to_tag=to_tag, body=body)
        response.headers.add("Server", self.relay.policy.server_name)
        return response
