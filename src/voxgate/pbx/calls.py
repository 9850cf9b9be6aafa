"""Calls between extensions: a back-to-back user agent (B2BUA), sans-I/O.

Every call has two sides.  The *A leg* is the caller's INVITE, answered by us
as a UAS; the *B legs* are our INVITEs to each registered contact of the
callee (parallel forking), sent as a UAC with a Call-ID and tags of our own, so
that no identifier of one side reaches the other and policy can be applied in
the middle.  The first 2xx wins, the other forks are cancelled (or, if they
answer too, acknowledged and hung up).  Requests inside the confirmed dialog
(BYE, re-INVITE and UPDATE for hold, INFO…) are relayed to the other side and
their responses relayed back.

Every attempt that got past authentication ends in one :class:`CallRecord`.
The response that ends a call for the phone (the final answer to the caller's
INVITE, or the 200 to a BYE) is sent only once the record is durable: the
store calls ``then(now)`` after its commit, so a crash loses no finished call's
record.

Times: ``now`` is the loop's monotonic clock (timers); ``wall`` converts it to
wall-clock seconds for records.
"""

from __future__ import annotations

import heapq
import secrets
from collections.abc import Callable
from typing import Final

from voxgate.pbx.callstate import (
    AuthFailureSink,
    Call,
    CallPolicy,
    CallRecord,
    Disposition,
    Fork,
    Phase,
    RecordSink,
    Relay,
    UaPort,
    ignore_failure,
    next_deadline,
    verdict,
)
from voxgate.pbx.directory import Directory
from voxgate.pbx.location import Binding, Location
from voxgate.sip.actions import TransactionKey
from voxgate.sip.b2bua import (
    Unacked,
    copy_body,
    copy_headers,
    copy_options,
    host_port,
    in_dialog,
    name_addr,
    new_branch,
)
from voxgate.sip.dialog import Dialog
from voxgate.sip.digest import AuthResult, DigestServer, credentials_from
from voxgate.sip.endpoint import new_tag
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.message import Headers, Request, Response, make_response
from voxgate.sip.timers import TimerConfig
from voxgate.sip.uri import SipUri

#: Headers of an INVITE, re-INVITE or other relayed request copied to the other side.
_REQUEST_COPY: Final = (
    "Content-Type", "Content-Disposition", "Session-Expires", "Min-SE", "Allow", "Accept",
    "Event", "Subscription-State", "Info-Package", "Refer-To", "Referred-By",
)  # fmt: skip
#: Headers of a response copied back to the other side.
_RESPONSE_COPY: Final = (
    "Content-Type", "Content-Disposition", "Session-Expires", "Min-SE", "Allow", "Accept",
    "Retry-After", "Unsupported",
)  # fmt: skip
#: Option tags we let through in Supported/Require (100rel needs PRACK handling we lack).
_PASSED_OPTIONS: Final = frozenset({"timer", "replaces", "norefersub", "path", "outbound"})


class CallControl:
    """The B2BUA: calls between the extensions of a :class:`Directory`."""

    def __init__(
        self,
        ua: UaPort,
        *,
        location: Location,
        directory: Directory,
        digest: DigestServer,
        records: RecordSink,
        policy: CallPolicy | None = None,
        timers: TimerConfig | None = None,
    ) -> None:
        self.ua = ua
        self.location = location
        self.directory = directory
        self.digest = digest
        self.records = records
        self.policy = policy or CallPolicy()
        self.timers = timers or TimerConfig()
        #: Wall-clock seconds minus the monotonic clock (set by the service layer).
        self.wall_offset = 0.0
        #: Told of every failed authentication (source address, what failed): NET-2 lockouts.
        self.auth_failed: AuthFailureSink = ignore_failure
        self.calls: dict[TransactionKey, Call] = {}  # by the caller's INVITE transaction
        self._dialogs: dict[tuple[str, str], tuple[Call, bool]] = {}  # (call-id, our tag)
        self._forks: dict[TransactionKey, tuple[Call, Fork]] = {}
        self._relays: dict[TransactionKey, Relay] = {}
        #: (time, sequence, call): when a call may have something to do.  A hint, not a
        #: schedule: :meth:`on_timer` checks the call and pushes its next deadline, entries of
        #: ended calls are dropped when they come up (or by :meth:`_compact`), so the timers
        #: cost O(log n) a change instead of a scan of every call per message.
        self._wakeups: list[tuple[float, int, Call]] = []
        self._wakeup_seq = 0

    # -- new calls ------------------------------------------------------------------------
    def invite(self, key: TransactionKey, request: Request, flow: Flow, now: float) -> None:
        """A new INVITE (no To tag) opened server transaction ``key``."""
        wall = now + self.wall_offset
        mf = request.max_forwards
        if mf is not None and mf <= 0:
            self._reply(key, request, 483, now)
            return
        credentials = credentials_from(request, self.digest.realm, proxy=True)
        if credentials is None:
            self._challenge(key, request, now, stale=False)
            return
        verdict = self.digest.verify("INVITE", str(request.uri), credentials,
                                     self.directory.ha1, wall)  # fmt: skip
        if verdict is AuthResult.STALE:
            self._challenge(key, request, now, stale=True)
            return
        from_uri = request.from_.uri
        if verdict is AuthResult.FAILED or not (
            isinstance(from_uri, SipUri) and from_uri.user == credentials.username
        ):
            self._reply(key, request, 403, now)
            self.auth_failed(flow.remote[0], f"INVITE as {credentials.username!r}")
            return
        unsupported = _unsupported_required(request)
        if unsupported:
            response = self._response(request, 420)
            response.headers.add("Unsupported", ", ".join(unsupported))
            self.ua.respond(key, response, now)
            return
        caller = credentials.username
        ext = self.directory.get(caller)
        uri = request.uri
        callee = uri.user if isinstance(uri, SipUri) and uri.user else ""
        call = Call(
            a_key=key, a_invite=request, a_flow=flow, a_tag=new_tag(), caller=caller,
            caller_name=(ext.display_name if ext else "") or request.from_.display_name or "",
            callee=callee, b_call_id=secrets.token_hex(16), b_tag=new_tag(),
            started=now, started_wall=wall,
        )  # fmt: skip
        self.calls[key] = call
        target = self.directory.get(callee)
        if target is None or not target.enabled:
            self._finish(call, Disposition.UNKNOWN_NUMBER, 404, "Not Found", now)
            return
        bindings = self.location.lookup(callee, wall)
        if not bindings:
            self._finish(call, Disposition.UNAVAILABLE, 480, "Temporarily Unavailable", now)
            return
        call.no_answer_at = now + self.policy.no_answer_timeout
        self._wake(call, call.no_answer_at)
        for binding in bindings:
            self._fork(call, binding, now)

    def _fork(self, call: Call, binding: Binding, now: float) -> None:
        a = call.a_invite
        flow = binding.target
        realm = self.digest.realm
        headers = Headers.of([
            ("Via", _via(flow)),
            ("Max-Forwards", str((a.max_forwards if a.max_forwards is not None else 70) - 1)),
            ("From", name_addr(call.caller_name, f"sip:{call.caller}@{realm}", call.b_tag)),
            ("To", f"<sip:{call.callee}@{realm}>"),
            ("Call-ID", call.b_call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", _contact(flow)),
            ("User-Agent", self.policy.server_name),
        ])  # fmt: skip
        copy_headers(a.headers, headers, _REQUEST_COPY)
        _copy_options(a.headers, headers)
        invite = Request("INVITE", binding.uri, headers, a.body)
        key = self.ua.send_request(invite, flow, now)
        fork = Fork(binding, invite, key, flow)
        call.forks[key] = fork
        self._forks[key] = (call, fork)

    # -- responses on the B legs ---------------------------------------------------------
    def response(self, key: TransactionKey, response: Response, now: float) -> None:
        """Client transaction ``key`` passed a response up."""
        relay = self._relays.get(key)
        if relay is not None:
            if response.status >= 200:
                del self._relays[key]
            self._relay_response(relay, response, now)
            return
        found = self._forks.get(key)
        if found is None:
            return  # BYE/CANCEL/ACK-era answers: nothing waits for them
        call, fork = found
        status = response.status
        if status < 200:
            self._provisional(call, fork, response, now)
        elif status < 300:
            self._success(call, fork, response, now)
        else:
            self._fork_failed(call, fork, response, now)

    def timed_out(self, key: TransactionKey, now: float) -> None:
        """A client transaction timed out (or its transport failed): a 408 (§8.1.3.1)."""
        relay = self._relays.pop(key, None)
        if relay is not None:
            self._answer_relay(relay, 408, "Request Timeout", now)
            return
        found = self._forks.get(key)
        if found is not None:
            call, fork = found
            self._fork_failed(call, fork, make_response(fork.invite, 408), now)

    def _provisional(self, call: Call, fork: Fork, response: Response, now: float) -> None:
        fork.provisional = True
        if fork.cancel_wanted:
            self._cancel_fork(fork, now)
            return
        if call.phase is not Phase.RINGING or response.status == 100:
            return
        call.rang = True
        out = self._response(call.a_invite, response.status, response.reason, to_tag=call.a_tag,
                             body=response.body)  # fmt: skip
        out.headers.add("Contact", _contact(call.a_flow))
        copy_headers(response.headers, out.headers, _RESPONSE_COPY)
        self.ua.respond(call.a_key, out, now)

    def _success(self, call: Call, fork: Fork, response: Response, now: float) -> None:
        fork.done = True
        if fork.dialog is None:
            fork.dialog = Dialog.from_uac(fork.invite, response)
        if call.winner is fork:
            ack = call.b_acks.get(response.cseq.seq)
            if ack is not None:  # a retransmitted 2xx: the ACK again
                self.ua.send_stateless(ack, fork.flow)
            return
        if call.phase is not Phase.RINGING:  # another fork answered too, or we gave up
            self._ack_and_bye(fork, now)
            return
        call.winner = fork
        call.phase = Phase.ANSWERED
        call.answered_wall = now + self.wall_offset
        call.hang_up_at = now + self.policy.max_call_duration
        self._dialogs[(call.b_call_id, call.b_tag)] = (call, False)
        for other in call.forks.values():
            if other is not fork and not other.done:
                self._cancel_fork(other, now)
        out = self._response(call.a_invite, 200, response.reason, to_tag=call.a_tag,
                             body=response.body)  # fmt: skip
        out.headers.add("Contact", _contact(call.a_flow))
        copy_headers(response.headers, out.headers, _RESPONSE_COPY)
        _copy_options(response.headers, out.headers)
        call.a_dialog = Dialog.from_uas(call.a_invite, out)
        self._dialogs[(call.a_invite.call_id, call.a_tag)] = (call, True)
        self.ua.respond(call.a_key, out, now)
        self._retransmit_until_ack(call, out, True, call.a_invite.cseq.seq, now)

    def _fork_failed(self, call: Call, fork: Fork, response: Response, now: float) -> None:
        if fork.done:
            return
        fork.done = True
        self._forks.pop(fork.key, None)
        call.failures.append(response)
        if call.phase is Phase.RINGING and all(f.done for f in call.forks.values()):
            disposition, status, reason = verdict(call)
            self._finish(call, disposition, status, reason, now)

    def _cancel_fork(self, fork: Fork, now: float) -> None:
        """CANCEL a fork (RFC 3261 §9.1): only once it sent a provisional response."""
        if fork.done:
            return
        if not fork.provisional:
            fork.cancel_wanted = True
            return
        fork.cancel_wanted = False
        invite = fork.invite
        headers = Headers.of([
            ("Via", str(invite.top_via)),
            ("Max-Forwards", "70"),
            ("From", invite.headers.get("From") or ""),
            ("To", invite.headers.get("To") or ""),
            ("Call-ID", invite.call_id),
            ("CSeq", f"{invite.cseq.seq} CANCEL"),
        ])  # fmt: skip
        self.ua.send_request(Request("CANCEL", invite.uri, headers), fork.flow, now)

    def _ack_and_bye(self, fork: Fork, now: float) -> None:
        """A fork answered after the call was decided: acknowledge it and hang it up."""
        dialog = fork.dialog
        if dialog is None:
            return
        ack = _in_dialog(dialog, "ACK", fork.flow, fork.invite.cseq.seq)  # fmt: skip
        self.ua.send_stateless(ack, fork.flow)
        bye = _in_dialog(dialog, "BYE", fork.flow)
        self.ua.send_request(bye, fork.flow, now)
        self._forks.pop(fork.key, None)

    # -- CANCEL and timers ---------------------------------------------------------------
    def cancel(self, invite_key: TransactionKey, now: float) -> None:
        """The caller CANCELled (the CANCEL itself was answered 200 by the core)."""
        call = self.calls.get(invite_key)
        if call is None or call.phase is not Phase.RINGING:
            return
        self._finish(call, Disposition.CANCELLED, 487, "Request Terminated", now)

    def next_timer(self) -> float | None:
        """The earliest time a live call may have something to do (perhaps nothing)."""
        wakeups = self._wakeups
        while wakeups:
            at, _, call = wakeups[0]
            if self.calls.get(call.a_key) is call:
                return at
            heapq.heappop(wakeups)
        return None

    def on_timer(self, now: float) -> None:
        """Ringing timeouts, 2xx retransmissions and ACK timeouts of the calls that are due."""
        due: dict[int, Call] = {}
        wakeups = self._wakeups
        while wakeups and wakeups[0][0] <= now:
            call = heapq.heappop(wakeups)[2]
            if self.calls.get(call.a_key) is call:
                due[id(call)] = call
        for call in due.values():
            self._call_timers(call, now)
            at = next_deadline(call)
            if at is not None and self.calls.get(call.a_key) is call:
                self._wake(call, at)

    def _call_timers(self, call: Call, now: float) -> None:
        if call.phase is Phase.RINGING and call.no_answer_at and now >= call.no_answer_at:
            self._finish(call, Disposition.NO_ANSWER, 480, "No Answer", now)
            return
        if call.phase is Phase.CONFIRMED and now >= call.hang_up_at:
            self._hang_up_both(call, now, "maximum call duration",
                               disposition=Disposition.ANSWERED, status=200)  # fmt: skip
            return
        for pending in list(call.unacked):
            if now >= pending.give_up_at:
                call.unacked.remove(pending)
                if call.phase is Phase.ANSWERED:  # the caller never acknowledged
                    self._hang_up_both(call, now, "no ACK from the caller")
                break
            if pending.resend_due(now, self.timers.t2):
                self.ua.send_stateless(pending.response, pending.flow)

    def _wake(self, call: Call, at: float) -> None:
        if len(self._wakeups) > 4 * len(self.calls) + 1024:
            self._compact()
        self._wakeup_seq += 1
        heapq.heappush(self._wakeups, (at, self._wakeup_seq, call))

    def _compact(self) -> None:
        """Rebuild the wake-ups from the live calls: entries of ended calls below a live one
        would pile up otherwise (an answered call leaves its maximum-duration entry, hours
        ahead).  Amortized O(1) a push: it runs when the entries outnumber the calls 4 to 1."""
        fresh: list[tuple[float, int, Call]] = []
        for call in self.calls.values():
            at = next_deadline(call)
            if at is not None:
                self._wakeup_seq += 1
                fresh.append((at, self._wakeup_seq, call))
        heapq.heapify(fresh)
        self._wakeups = fresh

    def _retransmit_until_ack(
        self, call: Call, response: Response, to_a: bool, cseq: int, now: float
    ) -> None:
        flow = call.a_flow if to_a or call.winner is None else call.winner.flow
        pending = Unacked.start(response, flow, cseq, to_a, now=now, t1=self.timers.t1)
        call.unacked.append(pending)
        self._wake(call, pending.deadline)

    # -- in-dialog requests --------------------------------------------------------------
    def find_dialog(self, request: Request) -> tuple[Call, bool] | None:
        """The call and side (True: the caller's) a request with a To tag belongs to."""
        tag = request.to.tag
        return None if tag is None else self._dialogs.get((request.call_id, tag))

    def ack(self, request: Request) -> None:
        """An ACK for a 2xx, inside one of our dialogs."""
        found = self.find_dialog(request)
        if found is None:
            return
        call, from_a = found
        seq = request.cseq.seq
        call.unacked = [u for u in call.unacked if u.cseq != seq or u.to_a != from_a]
        fork = call.winner
        if fork is None or fork.dialog is None or call.a_dialog is None:
            return
        if from_a:
            if call.phase is Phase.ANSWERED and seq == call.a_invite.cseq.seq:
                call.phase = Phase.CONFIRMED
                self._wake(call, call.hang_up_at)
                out_seq = fork.invite.cseq.seq
            elif call.b_reinvite is not None and call.b_reinvite[1] == seq:
                out_seq = call.b_reinvite[0]
            else:
                return
            ack = _in_dialog(fork.dialog, "ACK", fork.flow, out_seq)  # fmt: skip
            copy_body(request, ack)
            call.b_acks[out_seq] = ack
            self.ua.send_stateless(ack, fork.flow)
        elif call.a_reinvite is not None and call.a_reinvite[1] == seq:
            ack = _in_dialog(call.a_dialog, "ACK", call.a_flow, call.a_reinvite[0])
            copy_body(request, ack)
            self.ua.send_stateless(ack, call.a_flow)

    def in_dialog(
        self, key: TransactionKey, request: Request, call: Call, from_a: bool, now: float
    ) -> None:
        """A request inside a confirmed call: BYE ends it, the rest is relayed."""
        mine = call.a_dialog if from_a else (call.winner.dialog if call.winner else None)
        if mine is None or call.phase is Phase.ENDED:
            self._reply(key, request, 481, now)
            return
        refusal = mine.receive_request(request)
        if refusal is not None:
            self._reply(key, request, refusal, now)
            return
        if request.method == "BYE":
            self._bye(key, request, call, from_a, now)
            return
        other, flow = self._other_side(call, from_a)
        if other is None or flow is None:
            self._reply(key, request, 481, now)
            return
        out = _in_dialog(other, request.method, flow)
        out.headers.set("Contact", _contact(flow))
        copy_headers(request.headers, out.headers, _REQUEST_COPY)
        _copy_options(request.headers, out.headers)
        out.body = request.body
        if request.method == "INVITE":
            pair = (out.cseq.seq, request.cseq.seq)
            if from_a:
                call.b_reinvite = pair
            else:
                call.a_reinvite = pair
        client = self.ua.send_request(out, flow, now)
        self._relays[client] = Relay(call, key, request, to_a=not from_a)

    def _relay_response(self, relay: Relay, response: Response, now: float) -> None:
        if response.status == 100:
            return
        call = relay.call
        request = relay.request
        from_a = not relay.to_a
        out = self._response(request, response.status, response.reason,
                             to_tag=None, body=response.body)  # fmt: skip
        copy_headers(response.headers, out.headers, _RESPONSE_COPY)
        _copy_options(response.headers, out.headers)
        if request.method in ("INVITE", "UPDATE") and response.status < 300:
            flow = call.a_flow if from_a else (call.winner.flow if call.winner else call.a_flow)
            out.headers.add("Contact", _contact(flow))
        self.ua.respond(relay.server_key, out, now)
        if request.method == "INVITE" and 200 <= response.status < 300:
            self._retransmit_until_ack(call, out, from_a, request.cseq.seq, now)

    def _answer_relay(self, relay: Relay, status: int, reason: str, now: float) -> None:
        self.ua.respond(relay.server_key, self._response(relay.request, status, reason), now)

    def _bye(
        self, key: TransactionKey, request: Request, call: Call, from_a: bool, now: float
    ) -> None:
        """BYE from one side: the other side gets ours; the 200 waits for the record."""
        other, flow = self._other_side(call, from_a)
        if other is not None and flow is not None:
            self.ua.send_request(_in_dialog(other, "BYE", flow), flow, now)
        response = self._response(request, 200)
        reason = "caller hung up" if from_a else "callee hung up"
        self._end(call, Disposition.ANSWERED, 200, reason, now,
                  then=lambda t: self.ua.respond(key, response, t))  # fmt: skip

    def _other_side(self, call: Call, from_a: bool) -> tuple[Dialog | None, Flow | None]:
        if from_a:
            fork = call.winner
            return (fork.dialog, fork.flow) if fork is not None else (None, None)
        return call.a_dialog, call.a_flow

    def _hang_up_both(
        self, call: Call, now: float, reason: str, *,
        disposition: Disposition = Disposition.FAILED, status: int = 408,
    ) -> None:  # fmt: skip
        for dialog, flow in ((call.a_dialog, call.a_flow),
                             (call.winner.dialog if call.winner else None,
                              call.winner.flow if call.winner else None)):  # fmt: skip
            if dialog is not None and flow is not None:
                bye = _in_dialog(dialog, "BYE", flow)
                self.ua.send_request(bye, flow, now)
        self._end(call, disposition, status, reason, now, then=lambda _t: None)

    # -- ending ----------------------------------------------------------------------------
    def _finish(
        self, call: Call, disposition: Disposition, status: int, reason: str, now: float
    ) -> None:
        """End an unanswered call: cancel the forks, record, then answer the caller."""
        for fork in call.forks.values():
            if not fork.done:
                self._cancel_fork(fork, now)
        response = self._response(call.a_invite, status, reason, to_tag=call.a_tag)
        self._end(call, disposition, status, reason, now,
                  then=lambda t: self.ua.respond(call.a_key, response, t))  # fmt: skip

    def _end(
        self, call: Call, disposition: Disposition, status: int, reason: str, now: float, *,
        then: Callable[[float], None],
    ) -> None:  # fmt: skip
        if call.phase is Phase.ENDED:
            then(now)
            return
        call.phase = Phase.ENDED
        call.unacked.clear()
        self.calls.pop(call.a_key, None)
        self._dialogs.pop((call.a_invite.call_id, call.a_tag), None)
        self._dialogs.pop((call.b_call_id, call.b_tag), None)
        for key, fork in call.forks.items():
            if fork.done or call.winner is fork:
                self._forks.pop(key, None)
        record = CallRecord(
            call_id=call.a_invite.call_id, caller=call.caller, caller_name=call.caller_name,
            callee=call.callee, started_at=call.started_wall, answered_at=call.answered_wall,
            ended_at=now + self.wall_offset, disposition=disposition, status=status,
            reason=reason, caller_source=f"{call.a_flow.remote[0]}:{call.a_flow.remote[1]}",
            b_call_id=call.b_call_id,
        )  # fmt: skip
        self.records(record, then)

    # -- helpers ----------------------------------------------------------------------------
    def _challenge(self, key: TransactionKey, request: Request, now: float, *, stale: bool) -> None:
        response = self._response(request, 407, to_tag=new_tag())
        for challenge in self.digest.challenge(now + self.wall_offset, stale=stale):
            response.headers.add("Proxy-Authenticate", str(challenge))
        self.ua.respond(key, response, now)

    def _reply(self, key: TransactionKey, request: Request, status: int, now: float) -> None:
        self.ua.respond(key, self._response(request, status, to_tag=new_tag()), now)

    def _response(
        self, request: Request, status: int, reason: str | None = None, *,
        to_tag: str | None = None, body: bytes = b"",
    ) -> Response:  # fmt: skip
        response = make_response(request, status, reason, to_tag=to_tag, body=body)
        response.headers.add("Server", self.policy.server_name)
        return response


# -- module helpers ---------------------------------------------------------------------------
def _host_port(flow: Flow) -> str:
    return host_port(flow.local)


def _via(flow: Flow) -> str:
    return f"SIP/2.0/{flow.transport.value} {_host_port(flow)};branch={new_branch()};rport"


def _in_dialog(dialog: Dialog, method: str, flow: Flow, cseq: int | None = None) -> Request:
    """A request inside ``dialog`` leaving on ``flow`` (RFC 3261 §12.2.1.1)."""
    return in_dialog(dialog, method, flow, _host_port(flow), cseq)


def _contact(flow: Flow) -> str:
    transport = "" if flow.transport is Transport.UDP else f";transport={flow.transport.lower()}"
    return f"<sip:{_host_port(flow)}{transport}>"


def _copy_options(source: Headers, target: Headers) -> None:
    copy_options(source, target, _PASSED_OPTIONS)


def _unsupported_required(request: Request) -> list[str]:
    required = [o.strip() for v in request.headers.get_all("Require") for o in v.split(",")]
    return [o for o in required if o and o.lower() not in _PASSED_OPTIONS]
