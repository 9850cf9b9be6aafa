"""Parse rate of a typical INVITE on one core (issue target: >= 50,000/s).

Measures three things on the same 24-line INVITE with an SDP body:
  parse        parse_message(): start line, header split, mandatory and
               duplicate checks, Content-Length and body
  parse+check  the above plus Message.check(): Request-URI, Via, From, To,
               Call-ID, CSeq, Max-Forwards and Contact fully parsed, as the
               server does for every request it accepts
  serialize    to_bytes() of the parsed message

    .venv/bin/python bench/bench_parser.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

from voxgate.sip.parser import parse_message

SDP = (
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\ns=-\r\n"
    b"c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/SAVP 0 8 9 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:9 G722/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
    b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
)
INVITE = (
    b"INVITE sip:2001@pbx.example.com;transport=tls SIP/2.0\r\n"
    b"Via: SIP/2.0/TLS 192.0.2.101:50123;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: \"Reception\" <sip:2001@pbx.example.com>\r\n"
    b"From: \"Alice Home\" <sip:1042@pbx.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@192.0.2.101\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:1042@192.0.2.101:50123;transport=tls;ob>;+sip.instance=\"<urn:uuid:"
    b"00000000-0000-1000-8000-0004f2a1b2c3>\"\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY, REFER\r\n"
    b"Supported: replaces, outbound, timer\r\n"
    b"Session-Expires: 1800\r\n"
    b"User-Agent: Yealink SIP-T46U 108.86.0.20\r\n"
    b"Proxy-Authorization: Digest username=\"1042\", realm=\"voxgate\", nonce=\"abc\", "
    b"uri=\"sip:2001@pbx.example.com\", response=\"6629fae49393a05397450978507c4ef1\", "
    b"algorithm=MD5, cnonce=\"0a4f113b\", qop=auth, nc=00000001\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Best-of-5 calls per second, each round lasting about seconds/5."""
    best = 0.0
    for _ in range(5):
        n = 0
        start = time.perf_counter()
        deadline = start + seconds / 5
        while (now := time.perf_counter()) < deadline:
            for _ in range(200):
                fn()
            n += 200
        best = max(best, n / (now - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    parsed = parse_message(INVITE)

    def parse_check() -> None:
        parse_message(INVITE).check()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    header_lines = len(parsed.headers)
    print(f"message: {len(INVITE)} bytes, {header_lines} header lines")
    for name, fn in (
        ("parse", lambda: parse_message(INVITE)),
        ("parse+check", parse_check),
        ("serialize", parsed.to_bytes),
    ):
        print(f"{name:12s} {rate(fn, args.seconds):>10,.0f} messages/s")


if __name__ == "__main__":
    main()
