"""CPU per call setup (INVITE … BYE through the B2BUA) in the PBX core, in process.

Replays what bench/bench_pbx.py's SIPp processes send (bench/scenarios/call_uac_auth.xml for
the caller, register_uas.xml answering as the callee): INVITE → 407 → ACK → INVITE with
MD5 proxy credentials → 100, the callee's 180 and 200 (with SDP) → ACK → BYE → 200, and the
callee's 200 to our BYE.  The clock advances by 1/--rate per call so that finished
transactions stay live for Timer J as they do in a server at that rate.  Records are
"written" at once (no database).  Only the core's own CPU is counted: building and parsing
the peers' messages is the bench's, not the node's.

    .venv/bin/python bench/bench_call_setup.py [--calls 5000] [--rate 500] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import time
from collections.abc import Callable

from voxgate.pbx.callstate import CallRecord
from voxgate.pbx.core import PbxCore
from voxgate.pbx.directory import Directory, Extension
from voxgate.sip.digest import DigestServer, answer, challenges_from, ha1, select_challenge
from voxgate.sip.endpoint import Endpoint
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.message import Request, Response
from voxgate.sip.parser import parse_message

REALM = "voxgate"
SECRET = "bench-secret-123"
SERVER = ("127.0.0.1", 5060)
CALLER = ("127.0.0.1", 6001)
CALLEE = ("127.0.0.1", 6002)
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"


class Bench:
    """The core, the two peers' inboxes and the core's CPU time."""

    def __init__(self, rate: float) -> None:
        self.digest = DigestServer(b"k" * 32, REALM, algorithms=("MD5",))
        directory = Directory(
            Extension(n, ha1={"MD5": ha1("MD5", n, REALM, SECRET)}) for n in ("1000", "2000")
        )
        self.records: list[CallRecord] = []

        def record(rec: CallRecord, then: Callable[[float], None]) -> None:
            self.records.append(rec)
            then(self.now)

        self.core = PbxCore(Endpoint(), digest=self.digest, directory=directory, records=record)
        self.core.wall_offset = time.time()
        self.now = 0.0
        self.step = 1.0 / rate
        self.cpu = 0.0
        self.inbox: dict[tuple[str, int], list[bytes]] = {CALLER: [], CALLEE: []}

    def send(self, data: str, remote: tuple[str, int]) -> None:
        flow = Flow(Transport.UDP, SERVER, remote)
        started = time.thread_time()
        core = self.core
        core.receive(data.encode(), flow, self.now)
        out = core.datagrams_to_send()
        while core.next_event() is not None:
            pass
        core.handle_timer(self.now)
        self.cpu += time.thread_time() - started
        for payload, to in out:
            self.inbox[to.remote].append(payload)

    def take(self, remote: tuple[str, int]) -> list[Request | Response]:
        messages = [parse_message(data) for data in self.inbox[remote]]
        self.inbox[remote].clear()
        return messages


def _request(method: str, uri: str, i: int, cseq: int, *, to_tag: str = "", extra: str = "",
             body: str = "", branch: str = "") -> str:  # fmt: skip
    tag = f";tag={to_tag}" if to_tag else ""
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    return (
        f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER[0]}:{CALLER[1]};"
        f"branch={branch or f'z9hG4bK-{i}-{cseq}-{method}'};rport\r\n"
        f"From: <sip:1000@{SERVER[0]}>;tag=4242SIPpTag{i}\r\nTo: <sip:2000@{SERVER[0]}>{tag}\r\n"
        f"Call-ID: {i}-4242@{CALLER[0]}\r\nCSeq: {cseq} {method}\r\n"
        f"Contact: <sip:1000@{CALLER[0]}:{CALLER[1]};transport=UDP>\r\n{extra}Max-Forwards: 70\r\n"
        f"User-Agent: voxgate-bench\r\n{ctype}Content-Length: {len(body)}\r\n\r\n{body}"
    )


def _reply(request: Request, status: str, tag: str, body: str = "") -> str:
    vias = "".join(f"Via: {v}\r\n" for v in request.headers.get_all("Via"))
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    to = request.headers.get("To") or ""
    to = to if ";tag=" in to else f"{to};tag={tag}"
    return (
        f"SIP/2.0 {status}\r\n{vias}From: {request.headers.get('From')}\r\nTo: {to}\r\n"
        f"Call-ID: {request.call_id}\r\nCSeq: {request.headers.get('CSeq')}\r\n"
        f"Contact: <sip:2000@{CALLEE[0]}:{CALLEE[1]}>\r\n{ctype}Content-Length: {len(body)}\r\n\r\n{body}"
    )


def _only(messages: list[Request | Response], kind: type, key: object) -> Request | Response:
    found = [m for m in messages if isinstance(m, kind)
             and (m.status == key if isinstance(m, Response) else m.method == key)]  # fmt: skip
    assert len(found) == 1, (key, messages)
    return found[0]


def register_callee(bench: Bench) -> None:
    uri = f"sip:{SERVER[0]}:{SERVER[1]}"
    common = (f"From: <sip:2000@{SERVER[0]}>;tag=r\r\nTo: <sip:2000@{SERVER[0]}>\r\n"
              f"Call-ID: reg-2000\r\nContact: <sip:2000@{CALLEE[0]}:{CALLEE[1]}>\r\n"
              "Expires: 3600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n")  # fmt: skip
    via = f"Via: SIP/2.0/UDP {CALLEE[0]}:{CALLEE[1]};rport;branch=z9hG4bK-reg"
    bench.send(f"REGISTER {uri} SIP/2.0\r\n{via}1\r\n{common}CSeq: 1 REGISTER\r\n\r\n", CALLEE)
    challenge = _only(bench.take(CALLEE), Response, 401)
    assert isinstance(challenge, Response)
    chosen = select_challenge(challenges_from(challenge, proxy=False))
    assert chosen is not None
    creds = answer(chosen, "REGISTER", uri, "2000", password=SECRET, cnonce="c0ffee")
    bench.send(f"REGISTER {uri} SIP/2.0\r\n{via}2\r\n{common}CSeq: 2 REGISTER\r\n"
               f"Authorization: {creds}\r\n\r\n", CALLEE)  # fmt: skip
    _only(bench.take(CALLEE), Response, 200)


def call(bench: Bench, i: int) -> None:
    uri = f"sip:2000@{SERVER[0]}:{SERVER[1]}"
    bench.now += bench.step
    bench.send(_request("INVITE", uri, i, 1, body=SDP), CALLER)
    challenge = _only(bench.take(CALLER), Response, 407)
    assert isinstance(challenge, Response)
    bench.send(_request("ACK", uri, i, 1, to_tag=challenge.to.tag or "",
                        branch=f"z9hG4bK-{i}-1-INVITE"), CALLER)  # fmt: skip
    chosen = select_challenge(challenges_from(challenge, proxy=True))
    assert chosen is not None
    creds = answer(chosen, "INVITE", uri, "1000", password=SECRET, cnonce=f"{i:08x}")
    bench.send(_request("INVITE", uri, i, 2, body=SDP, extra=f"Proxy-Authorization: {creds}\r\n"),
               CALLER)  # fmt: skip
    invite = _only(bench.take(CALLEE), Request, "INVITE")
    assert isinstance(invite, Request)
    bench.send(_reply(invite, "180 Ringing", f"b{i}"), CALLEE)
    bench.send(_reply(invite, "200 OK", f"b{i}", SDP), CALLEE)
    ok = _only(bench.take(CALLER), Response, 200)
    assert isinstance(ok, Response)
    contact = ok.contacts[0].uri if ok.contacts else uri
    bench.send(_request("ACK", str(contact), i, 2, to_tag=ok.to.tag or ""), CALLER)
    bench.now += bench.step
    bench.send(_request("BYE", str(contact), i, 3, to_tag=ok.to.tag or ""), CALLER)
    bye = _only(bench.take(CALLEE), Request, "BYE")
    assert isinstance(bye, Request)
    bench.send(_reply(bye, "200 OK", f"b{i}"), CALLEE)
    _only(bench.take(CALLER), Response, 200)
    bench.take(CALLEE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=500.0, help="calls per simulated second")
    parser.add_argument("--profile", help="write a cProfile of the measured calls to this file")
    args = parser.parse_args()
    bench = Bench(args.rate)
    register_callee(bench)
    for i in range(200):  # warm-up: caches, transactions in flight
        call(bench, i)
    bench.cpu = 0.0
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    for i in range(200, 200 + args.calls):
        call(bench, i)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    assert len(bench.records) == 200 + args.calls
    assert all(r.disposition.value == "answered" for r in bench.records)
    print(f"{bench.cpu / args.calls * 1e6:.0f} µs CPU per call setup (INVITE … BYE, 16 "
          f"messages through the B2BUA; {args.calls / bench.cpu:,.0f} calls/s on one core, "
          f"without sockets or database), {bench.core.endpoint.transactions} transactions live")  # fmt: skip


if __name__ == "__main__":
    main()
