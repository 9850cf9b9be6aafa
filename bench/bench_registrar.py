"""Memory per registered contact and CPU per authenticated REGISTER, in process.

Drives the real PBX core (endpoint → registrar → location) with N extensions
that each register one contact over UDP with digest credentials (MD5), and
measures:

- memory per contact: Python heap (tracemalloc) and process RSS growth
  between "extensions loaded" and "every contact registered", divided by N;
  the endpoint's finished transactions are let expire first (Timer J) so only
  the location service is left holding memory;
- CPU per REGISTER transaction (challenge excluded: one authorized REGISTER
  parsed, verified, bound and answered).

    .venv/bin/python bench/bench_registrar.py [--contacts 100000]
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc

from voxgate.pbx.callstate import CallRecord
from voxgate.pbx.core import PbxCore
from voxgate.pbx.directory import Directory, Extension
from voxgate.sip.digest import DigestServer, answer, ha1
from voxgate.sip.endpoint import Endpoint
from voxgate.sip.flow import Flow, Transport

REALM = "voxgate"
SECRET = "bench-secret-123"
LOCAL = ("127.0.0.1", 5060)


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def register(number: str, port: int, digest: DigestServer, now: float) -> bytes:
    [_, md5] = digest.challenge(now)
    uri = f"sip:{REALM}"
    creds = answer(md5, "REGISTER", uri, number, ha1_value=ha1("MD5", number, REALM, SECRET),
                   cnonce=f"c{number}")  # fmt: skip
    return (
        f"REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.{port // 256 % 256}.{port % 256}:5060;"
        f"branch=z9hG4bK{number}x;rport\r\nMax-Forwards: 70\r\n"
        f"From: <sip:{number}@{REALM}>;tag=t{number}\r\nTo: <sip:{number}@{REALM}>\r\n"
        f"Call-ID: reg-{number}@10.1.0.1\r\nCSeq: 2 REGISTER\r\n"
        f"Contact: <sip:{number}@10.1.{port // 256 % 256}.{port % 256}:5060;transport=udp>"
        f';+sip.instance="<urn:uuid:00000000-0000-1000-8000-{int(number):012x}>";reg-id=1\r\n'
        f"Authorization: {creds}\r\nExpires: 3600\r\nUser-Agent: Yealink SIP-T46U 108.86.0.20\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def _no_records(record: CallRecord, then: object) -> None:
    raise AssertionError(f"no call expected: {record}, {then}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also count the Python heap (slows the run: CPU figure not valid)")
    args = parser.parse_args()
    n = args.contacts
    digest = DigestServer(b"k" * 32, REALM, max_tracked_nonces=2 * n)
    numbers = [str(100000 + i) for i in range(n)]
    directory = Directory(
        Extension(num, ha1={"MD5": ha1("MD5", num, REALM, SECRET)}) for num in numbers
    )
    core = PbxCore(Endpoint(), digest=digest, directory=directory, records=_no_records)  # type: ignore[arg-type]
    now = time.time()
    messages = [register(num, i, digest, now) for i, num in enumerate(numbers)]
    gc.collect()
    if args.tracemalloc:
        tracemalloc.start()
    heap_before = tracemalloc.get_traced_memory()[0]
    rss_before = rss_kib()
    cpu = 0.0
    for i, data in enumerate(messages):
        flow = Flow(Transport.UDP, LOCAL, (f"10.1.{i // 256 % 256}.{i % 256}", 5060))
        started = time.perf_counter()
        core.receive(data, flow, now)
        core.datagrams_to_send()
        while core.next_event() is not None:
            pass
        cpu += time.perf_counter() - started
    messages.clear()
    core.handle_timer(now + 60)  # Timer J: the finished transactions go
    core.datagrams_to_send()
    gc.collect()
    heap_after = tracemalloc.get_traced_memory()[0]
    if args.tracemalloc:
        tracemalloc.stop()
    rss_after = rss_kib()
    registered = len(core.location)
    assert registered == n, f"only {registered} of {n} registered"
    heap = (heap_after - heap_before) / n
    rss = (rss_after - rss_before) * 1024 / n
    print(f"contacts registered: {registered}")
    print(f"memory per contact:  {rss / 1024:.2f} KiB RSS growth")
    if args.tracemalloc:
        print(f"                     {heap / 1024:.2f} KiB Python heap (tracemalloc)")
    else:
        print(f"CPU per authenticated REGISTER: {cpu / n * 1e6:.0f} µs "
              f"({n / cpu:,.0f}/s on one core, without sockets)")  # fmt: skip


if __name__ == "__main__":
    main()
