"""CPU cost of one OPTIONS transaction through the pure endpoint (no sockets).

Streams N distinct OPTIONS through Endpoint.receive → the UAS answer →
Endpoint.respond → serialization, with the clock advancing 1 ms per message,
so thousands of transactions stay live (Timer J) as in a real server.

    .venv/bin/python bench/bench_endpoint.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import time

from voxgate.sip.actions import RequestReceived
from voxgate.sip.endpoint import Endpoint
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.uas import Capabilities, answer_unhandled


def options(i: int) -> bytes:
    return (
        f"OPTIONS sip:127.0.0.1:15070 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:16000;branch=z9hG4bK-{i};rport\r\n"
        f'From: "sipp" <sip:probe@127.0.0.1:16000>;tag=1SIPpTag{i}\r\nTo: <sip:127.0.0.1:15070>\r\n'
        f"Call-ID: {i}-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
        f"Contact: <sip:probe@127.0.0.1:16000;transport=UDP>\r\nMax-Forwards: 70\r\n"
        f"Accept: application/sdp\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args()
    endpoint, caps = Endpoint(), Capabilities()
    flow = Flow(Transport.UDP, ("127.0.0.1", 5060), ("127.0.0.1", 16000))
    messages = [options(i) for i in range(args.messages)]
    now = 0.0
    start = time.perf_counter()
    for data in messages:
        now += 0.001
        endpoint.receive(data, flow, now)
        while (event := endpoint.next_event()) is not None:
            if isinstance(event, RequestReceived):
                response = answer_unhandled(event.request, caps, to_tag="abc")
                assert response is not None
                endpoint.respond(event.key, response, now)
        endpoint.datagrams_to_send()
        endpoint.handle_timer(now)
    elapsed = time.perf_counter() - start
    print(f"{elapsed / len(messages) * 1e6:.0f} µs per OPTIONS transaction "
          f"({len(messages) / elapsed:,.0f}/s), {endpoint.transactions} live at the end")


if __name__ == "__main__":
    main()
