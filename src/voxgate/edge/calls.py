"""Calls through the edge (EDGE-1, AUTH-4): a back-to-back user agent, sans-I/O.

Every call has two legs with identifiers of their own, so that nothing of one
side reaches the other (topology hiding):

- *outgoing*: a registered device's INVITE (level 1: the edge challenges it
  with 407 in its own realm) becomes the edge's INVITE to the call control,
  from the user's extension, answering the call control's 407/401 with the
  level-2 credential;
- *incoming*: the call control's INVITE to a Contact the edge registered
  (``sip:<token>@<edge LAN>``) becomes the edge's INVITE to that device, on the
  flow it registered from (the connection it holds open, or its NAT'ed UDP
  address).

Provisional and final responses, ACK, CANCEL, BYE and re-INVITE/UPDATE/INFO
inside the dialog are relayed; a 2xx is retransmitted over UDP until its ACK.
With a media relay (:mod:`voxgate.edge.media`) every SDP offer and answer goes through it:
the message waits for the rewritten SDP, and a call that ends closes its media.
"""


from __future__ import annotations

import logging
import secrets
import time
from typing import Final

from voxgate.edge.dialogs import EdgeLegs
from voxgate.edge.legs import (
    REQUEST_COPY,
    RESPONSE_COPY,
    EdgeCall,
    Phase,
    contact,
    copy_passed_options,
    leg_tag,
    via,
)
from voxgate.edge.media import (
    sdp_body,
)
from voxgate.edge.relaystate import DeviceBinding
from voxgate.edge.users import SipUser
from voxgate.media.control import MediaError
from voxgate.policy.devices import Admission
from voxgate.services.livecalls import LiveCall, wall
from voxgate.sip.actions import TransactionKey
from voxgate.sip.b2bua import (
    copy_headers,
    in_dialog,
    name_addr,
)
from voxgate.sip.dialog import Dialog
from voxgate.sip.digest import (
    AuthResult,
    answer,
    challenges_from,
    credentials_from,
    select_challenge,
)
from voxgate.sip.flow import Flow, format_address
from voxgate.sip.message import Headers, Request, Response
from voxgate.sip.uri import SipUri

#: How the dashboard names a call's phase.
_STATES: Final = {Phase.TRYING: "ringing", Phase.ANSWERED: "answered",
                  Phase.CONFIRMED: "connected", Phase.ENDED: "ended"}

log = logging.getLogger(__name__)


class EdgeCalls(EdgeLegs):
    """The edge's B2BUA; the registration relay holds the users, devices and bindings."""

    def live(self) -> list[LiveCall]:
        """The calls under way, for the dashboard (their media counters not yet filled in)."""
        shown: list[LiveCall] = []
        for call in self.calls.values():
            if call.phase is Phase.ENDED:
                continue
            device = call.a_flow if call.outgoing else call.b_flow
            shown.append(LiveCall(
                "edge", _user_of(call.a_invite.from_.uri), _user_of(call.a_invite.uri),
                _STATES[call.phase], wall(call.started_wall),
                None if call.answered_wall is None else wall(call.answered_wall),
                format_address(device.remote), call.media_id if call.media_used else None,
            ))  # fmt: skip
        return shown

    # -- new calls ------------------------------------------------------------------------
    def invite_from_device(
        self, key: TransactionKey, request: Request, flow: Flow, now: float
    ) -> None:
        """A new INVITE from a device (no To tag)."""
        relay = self.relay
        if request.max_forwards is not None and request.max_forwards <= 0:
            self._reply(key, request, 483, now)
            return
        credentials = credentials_from(request, relay.digest.realm, proxy=True)
        if credentials is None:
            self._challenge(key, request, now, stale=False)
            return
        verdict = relay.digest.verify("INVITE", str(request.uri), credentials,
                                      relay.users.ha1, now)  # fmt: skip
        if verdict is AuthResult.STALE:
            self._challenge(key, request, now, stale=True)
            return
        user = relay.users.get(credentials.username)
        from_uri = request.from_.uri
        if verdict is AuthResult.FAILED or user is None or not (
            isinstance(from_uri, SipUri) and from_uri.user == credentials.username
        ):
            self.stats.refused += 1
            self._reply(key, request, 403, now)
            relay.auth_failed(flow.remote[0], f"INVITE as {credentials.username!r}")
            return
        binding = self._device_binding(user, flow, now)
        if binding is None:
            self.stats.refused += 1
            log.info("call refused: %s is not registered from this device and flow",
                     user.username, extra={"flow": str(flow)})  # fmt: skip
            self._reply(key, request, 403, now)
            return
        if not relay.upstream_ready():
            relay.unavailable(key, request, now)
            return
        uri = request.uri
        dialed = uri.user if isinstance(uri, SipUri) and uri.user else ""
        if not dialed:
            self._reply(key, request, 404, now)
            return
        upstream = relay.upstream
        domain = upstream.domain
        b_tag = leg_tag()
        headers = Headers.of([
            ("Via", via(upstream.flow, self.sent_by(upstream.flow))),
            ("Max-Forwards", str((request.max_forwards or 70) - 1)),
            ("From", name_addr(request.from_.display_name or "",
                                f"sip:{user.upstream_username}@{domain}", b_tag)),
            ("To", f"<sip:{dialed}@{domain}>"),
            ("Call-ID", secrets.token_hex(16)),
            ("CSeq", "1 INVITE"),
            ("Contact", contact(upstream.flow, binding.token, self.sent_by(upstream.flow))),
            ("User-Agent", relay.policy.server_name),
        ])  # fmt: skip
        self._start(key, request, flow, user=user, token=binding.token, headers=headers,
                    target=f"sip:{dialed}@{domain}", b_flow=upstream.flow, now=now,
                    outgoing=True)  # fmt: skip

    def invite_from_upstream(
        self, key: TransactionKey, request: Request, flow: Flow, now: float
    ) -> None:
        """A new INVITE from the call control to a Contact the edge registered."""
        uri = request.uri
        token = uri.user if isinstance(uri, SipUri) else None
        binding = self.relay.lookup(token, now) if token else None
        if binding is None:
            self._reply(key, request, 480, now)
            return
        if request.max_forwards is not None and request.max_forwards <= 0:
            self._reply(key, request, 483, now)
            return
        b_flow = binding.flow
        from_ = request.from_
        caller = from_.uri.user if isinstance(from_.uri, SipUri) and from_.uri.user else "anonymous"
        host = self.sent_by(b_flow)
        b_tag = leg_tag()
        headers = Headers.of([
            ("Via", via(b_flow, host)),
            ("Max-Forwards", str((request.max_forwards or 70) - 1)),
            ("From", name_addr(from_.display_name or "", f"sip:{caller}@{host}", b_tag)),
            ("To", f"<sip:{binding.user.username}@{host}>"),
            ("Call-ID", secrets.token_hex(16)),
            ("CSeq", "1 INVITE"),
            ("Contact", contact(b_flow, binding.token, host)),
            ("User-Agent", self.relay.policy.server_name),
        ])  # fmt: skip
        self._start(key, request, flow, user=binding.user, token=binding.token, headers=headers,
                    target=binding.contact, b_flow=b_flow, now=now, outgoing=False)  # fmt: skip

    def _start(
        self, key: TransactionKey, request: Request, flow: Flow, *, user: SipUser, token: str,
        headers: Headers, target: str, b_flow: Flow, now: float, outgoing: bool,
    ) -> None:  # fmt: skip
        copy_headers(request.headers, headers, REQUEST_COPY)
        copy_passed_options(request.headers, headers)
        invite = Request("INVITE", target, headers, request.body)
        call = EdgeCall(
            outgoing=outgoing, user=user, a_key=key, a_invite=request, a_flow=flow,
            a_tag=leg_tag(), b_invite=invite, b_key=None, b_flow=b_flow,
            b_call_id=invite.call_id, b_tag=invite.from_.tag or "",
            token=token,
        )  # fmt: skip
        self.calls[key] = call
        if outgoing:
            self.stats.outgoing += 1
        else:
            self.stats.incoming += 1
        body = sdp_body(request)
        if body is None or self.media is None:
            self._send_b_invite(call, invite.body, now)
            return
        call.a_offered = True
        self._media(call, from_a=True, body=body, answer=False, now=now,
                    then=lambda result, at: self._send_b_invite(call, result, at))  # fmt: skip

    def _send_b_invite(self, call: EdgeCall, body: bytes | MediaError, now: float) -> None:
        """Send the B leg's INVITE with the (relay's) offer; or refuse the call."""
        if call.phase is not Phase.TRYING:
            return  # cancelled while the relay planned the media
        if isinstance(body, MediaError):
            self._end(call, now)
            self.ua.respond(call.a_key, self._response(call.a_invite, body.status, body.reason,
                                                       to_tag=call.a_tag), now)  # fmt: skip
            return
        call.b_invite.body = body
        call.b_key = self.ua.send_request(call.b_invite, call.b_flow, now)
        self._b_legs[call.b_key] = call

    def _device_binding(self, user: SipUser, flow: Flow, now: float) -> DeviceBinding | None:
        """The user's live registration from this flow (its connection, or its NAT'ed
        address over UDP), whose device the table still lets in."""
        relay = self.relay
        for binding in relay.of_user(user.username):
            if binding.expires_at <= now:
                continue
            same = (
                binding.flow.connection == flow.connection
                if flow.transport.reliable
                else binding.flow.remote == flow.remote
            )
            if not same or binding.flow.transport is not flow.transport:
                continue
            if binding.mac is not None and relay.policy.require_device and (
                relay.devices.admission(binding.mac) is not Admission.ENABLED
            ):
                return None
            return binding
        return None

    # -- responses on the B leg -----------------------------------------------------------
    def response(self, key: TransactionKey, response: Response, now: float) -> bool:
        """A response on one of our client transactions; ``False`` if not ours."""
        relay = self._relays.get(key)
        if relay is not None:
            if response.status >= 200:
                del self._relays[key]
            self._relay_response(relay, response, now)
            return True
        call = self._b_legs.get(key)
        if call is None:
            return False
        status = response.status
        if status < 200:
            self._provisional(call, response, now)
        elif status < 300:
            self._answered(call, response, now)
        else:
            self._b_failed(call, key, response, now)
        return True

    def timed_out(self, key: TransactionKey, now: float) -> bool:
        """A client transaction timed out; ``False`` if not ours."""
        relay = self._relays.pop(key, None)
        if relay is not None:
            self.ua.respond(relay.server_key, self._response(relay.request, 408), now)
            return True
        call = self._b_legs.pop(key, None)
        if call is None:
            return False
        if call.phase is Phase.TRYING:
            self._end(call, now)
            self.ua.respond(call.a_key, self._response(call.a_invite, 408, to_tag=call.a_tag),
                            now)  # fmt: skip
        return True

    def _provisional(self, call: EdgeCall, response: Response, now: float) -> None:
        call.provisional = True
        if call.cancel_wanted:
            self._cancel_b(call, now)
            return
        if call.phase is not Phase.TRYING or response.status == 100:
            return
        body = sdp_body(response)
        if body is None or self.media is None:
            self._send_provisional(call, response, response.body, now)
        elif call.a_offered:  # an early answer (early media)
            self._media(call, from_a=False, body=body, answer=True, now=now,
                        then=lambda result, at: self._send_provisional(call, response, result,
                                                                       at))  # fmt: skip
        else:  # an offer in an unreliable provisional cannot be answered: dropped
            self._send_provisional(call, response, b"", now)

    def _send_provisional(self, call: EdgeCall, response: Response, body: bytes | MediaError,
                          now: float) -> None:  # fmt: skip
        if call.phase is not Phase.TRYING or call.answering:
            return
        body = b"" if isinstance(body, MediaError) else body  # a 18x without its early media
        out = self._response(call.a_invite, response.status, response.reason, to_tag=call.a_tag,
                             body=body)  # fmt: skip
        out.headers.add("Contact", contact(call.a_flow, call.token, self.sent_by(call.a_flow)))
        copy_headers(response.headers, out.headers, RESPONSE_COPY)
        if not body:
            out.headers.remove("Content-Type")
        self.ua.respond(call.a_key, out, now)

    def _answered(self, call: EdgeCall, response: Response, now: float) -> None:
        if call.b_dialog is None:
            call.b_dialog = Dialog.from_uac(call.b_invite, response)
        if call.phase is not Phase.TRYING or call.answering:
            ack = call.b_acks.get(response.cseq.seq)
            if ack is not None:  # a retransmitted 2xx: the ACK again
                self.ua.send_stateless(ack, call.b_flow)
            return
        body = sdp_body(response)
        if body is None or self.media is None:
            self._answer_a(call, response, response.body, now)
            return
        call.answering = True
        if not call.a_offered:  # a late offer: A's ACK will carry the answer
            call.ack_answers.add((True, call.a_invite.cseq.seq))
        self._media(call, from_a=False, body=body, answer=call.a_offered, now=now,
                    then=lambda result, at: self._answer_a(call, response, result, at))

    def _answer_a(self, call: EdgeCall, response: Response, body: bytes | MediaError,
                  now: float) -> None:  # fmt: skip
        """B answered: the 200 goes to A (with the relay's SDP), unless the relay refused."""
        call.answering = False
        if call.phase is not Phase.TRYING:
            return
        if isinstance(body, MediaError):
            assert call.b_dialog is not None
            ack = in_dialog(call.b_dialog, "ACK", call.b_flow, self.sent_by(call.b_flow),
                            call.b_invite.cseq.seq)  # fmt: skip
            self.ua.send_stateless(ack, call.b_flow)
            self._hang_up_both(call, now)
            self.ua.respond(call.a_key, self._response(call.a_invite, body.status, body.reason,
                                                       to_tag=call.a_tag), now)  # fmt: skip
            return
        call.phase = Phase.ANSWERED
        call.answered_wall = time.time()
        self._dialogs[(call.b_call_id, call.b_tag)] = (call, False)
        out = self._response(call.a_invite, 200, response.reason, to_tag=call.a_tag,
                             body=body)  # fmt: skip
        out.headers.add("Contact", contact(call.a_flow, call.token, self.sent_by(call.a_flow)))
        copy_headers(response.headers, out.headers, RESPONSE_COPY)
        copy_passed_options(response.headers, out.headers)
        call.a_dialog = Dialog.from_uas(call.a_invite, out)
        self._dialogs[(call.a_invite.call_id, call.a_tag)] = (call, True)
        self.ua.respond(call.a_key, out, now)
        self._retransmit_until_ack(call, out, True, call.a_invite.cseq.seq, now)

    def _b_failed(self, call: EdgeCall, key: TransactionKey, response: Response,
                  now: float) -> None:  # fmt: skip
        self._b_legs.pop(key, None)
        status = response.status
        retry = status in (401, 407) and call.outgoing and not call.challenged
        if retry and call.phase is Phase.TRYING and not call.cancel_wanted and (
            self._answer_challenge(call, response, now)
        ):
            return
        if call.phase is not Phase.TRYING:
            return
        if status in (401, 407):
            log.error("the call control refused the level-2 credential of %s for a call",
                      call.user.username)  # fmt: skip
            status = 403
        elif 300 <= status < 400:
            status = 480  # redirections are not followed through the edge
        self._end(call, now)
        out = self._response(call.a_invite, status, response.reason if status ==
                             response.status else None, to_tag=call.a_tag)  # fmt: skip
        copy_headers(response.headers, out.headers, ("Retry-After",))
        self.ua.respond(call.a_key, out, now)

    def _answer_challenge(self, call: EdgeCall, response: Response, now: float) -> bool:
        proxy = response.status == 407
        challenge = select_challenge(challenges_from(response, proxy=proxy))
        if challenge is None:
            return False
        old = call.b_invite
        headers = old.headers.copy()
        headers.set("Via", via(call.b_flow, self.sent_by(call.b_flow)))
        headers.set("CSeq", f"{old.cseq.seq + 1} INVITE")
        headers.remove("Authorization")
        headers.remove("Proxy-Authorization")
        invite = Request("INVITE", old.uri, headers, old.body)
        credentials = answer(
            challenge, "INVITE", str(invite.uri), call.user.upstream_username,
            password=call.user.upstream_secret, cnonce=secrets.token_hex(8),
        )  # fmt: skip
        headers.add("Proxy-Authorization" if proxy else "Authorization", str(credentials))
        call.b_invite = invite
        call.b_key = self.ua.send_request(invite, call.b_flow, now)
        call.challenged = True
        call.provisional = False
        self._b_legs[call.b_key] = call
        return True

    # -- CANCEL, ACK and in-dialog requests ------------------------------------------------
    def cancel(self, invite_key: TransactionKey, now: float) -> None:
        """The A side CANCELled (the core answered the CANCEL itself)."""
        call = self.calls.get(invite_key)
        if call is None or call.phase is not Phase.TRYING or call.answering:
            return  # answered already: the 200 crosses the CANCEL (RFC 3261 §9.2)
        self._cancel_b(call, now)
        self._end(call, now)
        self.ua.respond(call.a_key, self._response(call.a_invite, 487, to_tag=call.a_tag), now)

    def _cancel_b(self, call: EdgeCall, now: float) -> None:
        if not call.provisional:
            call.cancel_wanted = True  # RFC 3261 §9.1: not before a provisional response
            return
        call.cancel_wanted = False
        invite = call.b_invite
        headers = Headers.of([
            ("Via", str(invite.top_via)),
            ("Max-Forwards", "70"),
            ("From", invite.headers.get("From") or ""),
            ("To", invite.headers.get("To") or ""),
            ("Call-ID", invite.call_id),
            ("CSeq", f"{invite.cseq.seq} CANCEL"),
        ])  # fmt: skip
        self.ua.send_request(Request("CANCEL", invite.uri, headers), call.b_flow, now)


    # -- timers ---------------------------------------------------------------------------
    def next_timer(self) -> float | None:
        """The earliest 2xx retransmission or give-up time."""
        times = [u.deadline for c in self._awaiting_ack.values() for u in c.unacked]
        return min(times) if times else None

    def on_timer(self, now: float) -> None:
        """Retransmit unacknowledged 2xx; hang up a call whose 2xx was never acknowledged."""
        for call in list(self._awaiting_ack.values()):
            for pending in list(call.unacked):
                if now >= pending.give_up_at:
                    call.unacked.remove(pending)
                    if call.phase is Phase.ANSWERED:
                        self._hang_up_both(call, now)
                    break
                if pending.resend_due(now, self.timers.t2):
                    self.ua.send_stateless(pending.response, pending.flow)
            if not call.unacked:
                self._awaiting_ack.pop(call.a_key, None)

    def connection_lost(self, flow: Flow, now: float) -> int:
        """A connection closed: calls that ran over it are hung up on the other side; how
        many."""
        hit = [
            c for c in self._live()
            if flow.connection is not None and flow.connection in (
                c.a_flow.connection if c.a_flow.transport is flow.transport else None,
                c.b_flow.connection if c.b_flow.transport is flow.transport else None,
            )
        ]  # fmt: skip
        for call in hit:
            if call.phase is Phase.TRYING:
                self._cancel_b(call, now)
                self._end(call, now)
            else:
                self._hang_up_both(call, now)
        return len(hit)


    # -- answers --------------------------------------------------------------------------
    def _challenge(self, key: TransactionKey, request: Request, now: float, *, stale: bool) -> None:
        response = self._response(request, 407, to_tag=leg_tag())
        for challenge in self.relay.digest.challenge(now, stale=stale):
            response.headers.add("Proxy-Authenticate", str(challenge))
        self.ua.respond(key, response, now)


def _user_of(uri: object) -> str:
    """The user part of a SIP URI (the whole URI when it has none)."""
    return (uri.user or uri.host) if isinstance(uri, SipUri) else str(uri)
