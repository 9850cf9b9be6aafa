"""CPU per REGISTER pair (401 challenge + authorized REGISTER) through the PBX core, in process.

Replays what SIPp's bench/scenarios/register_auth.xml sends in bench/bench_pbx.py: --users
extensions in turn, each a new Call-ID that REGISTERs without credentials (→ 401), then with
MD5/qop=auth credentials in SIPp's spelling (→ 200), refreshing the same Contact each round.
The clock advances by 1/--rate per pair so that finished transactions stay live for Timer J
as they do in a server at that rate.  Bindings are "persisted" at once (no database): this
measures the sans-I/O path only (parse, check, transactions, digest, registrar, answers).

    .venv/bin/python bench/bench_register_pair.py [--pairs 30000] [--users 1000] [--rate 3000]
        [--profile FILE]   # cProfile the measured loop into FILE (pstats)
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import time

from voxgate.pbx.callstate import CallRecord
from voxgate.pbx.core import PbxCore
from voxgate.pbx.directory import Directory, Extension
from voxgate.sip.digest import DigestServer, ha1
from voxgate.sip.endpoint import Endpoint
from voxgate.sip.flow import Flow, Transport

REALM = "voxgate"
SECRET = "bench-secret-123"
SERVER = ("127.0.0.1", 5060)
CLIENT = ("127.0.0.1", 5999)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def pair(i: int, number: str, nonce: str) -> tuple[bytes, bytes]:
    """The two REGISTERs of one SIPp call (call number ``i``)."""
    uri = f"sip:{SERVER[0]}:{SERVER[1]}"
    common = (
        f"From: <sip:{number}@{SERVER[0]}>;tag=4242SIPpTag{i}\r\n"
        f"To: <sip:{number}@{SERVER[0]}>\r\nCall-ID: {i}-4242@{CLIENT[0]}\r\n"
    )
    tail = "Max-Forwards: 70\r\nExpires: 3600\r\nUser-Agent: voxgate-bench\r\nContent-Length: 0\r\n\r\n"
    contact = f"Contact: <sip:{number}@{CLIENT[0]}:{CLIENT[1]}>\r\n"
    first = (
        f"REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {CLIENT[0]}:{CLIENT[1]};"
        f"branch=z9hG4bK-4242-{i}-0;rport\r\n{common}CSeq: 1 REGISTER\r\n{contact}{tail}"
    )
    cnonce, nc = f"{i:08x}", "00000001"
    ha2 = _md5(f"REGISTER:{uri}")
    response = _md5(f"{ha1('MD5', number, REALM, SECRET)}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
    auth = (
        f'Authorization: Digest username="{number}",realm="{REALM}",cnonce="{cnonce}",'
        f'nc={nc},qop=auth,uri="{uri}",nonce="{nonce}",response="{response}",algorithm=MD5\r\n'
    )
    second = (
        f"REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {CLIENT[0]}:{CLIENT[1]};"
        f"branch=z9hG4bK-4242-{i}-2;rport\r\n{common}CSeq: 2 REGISTER\r\n{contact}{auth}{tail}"
    )
    return first.encode(), second.encode()


def _no_records(record: CallRecord, then: object) -> None:
    raise AssertionError(f"no call expected: {record}, {then}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=30_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=3000.0, help="pairs per simulated second")
    parser.add_argument("--profile", help="write a cProfile of the measured loop to this file")
    args = parser.parse_args()
    digest = DigestServer(b"k" * 32, REALM, algorithms=("MD5",))
    numbers = [str(1000 + i) for i in range(args.users)]
    directory = Directory(
        Extension(num, ha1={"MD5": ha1("MD5", num, REALM, SECRET)}) for num in numbers
    )
    core = PbxCore(Endpoint(), digest=digest, directory=directory, records=_no_records)  # type: ignore[arg-type]
    core.wall_offset = time.time()
    flow = Flow(Transport.UDP, SERVER, CLIENT)
    now = 0.0
    # each pair answers its own nonce with nc=1, as SIPp does with the nonce of its 401
    messages = [pair(i, numbers[i % args.users], digest.make_nonce(core.wall_offset))
                for i in range(args.pairs)]  # fmt: skip
    step = 1.0 / args.rate
    answers = {401: 0, 200: 0}
    profiler = cProfile.Profile() if args.profile else None
    started, cpu_started = time.perf_counter(), time.thread_time()
    if profiler is not None:
        profiler.enable()
    for first, second in messages:
        now += step
        for data in (first, second):
            core.receive(data, flow, now)
            for out, _flow in core.datagrams_to_send():
                status = int(out[8:11])
                answers[status] = answers.get(status, 0) + 1
            while core.next_event() is not None:
                pass
            core.handle_timer(now)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    elapsed = time.perf_counter() - started
    cpu = time.thread_time() - cpu_started
    assert answers.get(401) == args.pairs, answers
    assert answers.get(200) == args.pairs, answers
    print(f"{cpu / args.pairs * 1e6:.0f} µs CPU per REGISTER pair (401 + 200; "
          f"{args.pairs / cpu:,.0f} pairs/s on one core, without sockets or database; "
          f"wall clock {elapsed / args.pairs * 1e6:.0f} µs), "
          f"{core.endpoint.transactions} transactions live at the end")  # fmt: skip


if __name__ == "__main__":
    main()
