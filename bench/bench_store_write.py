"""The call control's group commit: time and loop CPU per batch of binding refreshes.

Writes --batches batches of --size binding refreshes (1,000 AORs in turn, as
bench/bench_pbx.py's REGISTER load does) through SqlPbxStore.write into a fresh SQLite
database (WAL, synchronous=FULL), twice:

- idle loop: the commit's own latency and the event loop thread's CPU per batch;
- busy loop: a callback keeps the loop busy in slices of --slice-ms (as datagrams do under
  load), so every hop between the loop and the database thread waits for a slice: the
  commit latency then counts hops.

    .venv/bin/python bench/bench_store_write.py [--batches 200] [--size 40] [--slice-ms 5]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from voxgate.pbx.location import Binding
from voxgate.pbx.service import Batch
from voxgate.pbx.store import open_pbx_store
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.uri import parse_uri


def binding(aor: str, now: float, cseq: int) -> Binding:
    contact = f"sip:{aor}@127.0.0.1:5999"
    flow = Flow(Transport.UDP, ("127.0.0.1", 5060), ("127.0.0.1", 5999))
    return Binding(aor, contact, parse_uri(contact), now + 3600, f"{cseq}-4242@127.0.0.1", 2,
                   flow, now, user_agent="voxgate-bench")  # fmt: skip


async def run(args: argparse.Namespace, directory: Path) -> None:
    store = await open_pbx_store(f"sqlite+aiosqlite:///{directory / 'bench.db'}")
    loop = asyncio.get_running_loop()
    busy = False

    def spin() -> None:  # the loop's other work: busy for one slice, then yield
        if busy:
            end = time.perf_counter() + args.slice_ms / 1000
            while time.perf_counter() < end:
                pass
            loop.call_soon(spin)

    n = 0
    for label in ("idle loop", "busy loop"):
        busy = label == "busy loop"
        loop.call_soon(spin)
        latency, cpu = 0.0, 0.0
        for _ in range(args.batches):
            now = time.time()
            batch = Batch(saved=[binding(str(1000 + (n + i) % 1000), now, n + i)
                                 for i in range(args.size)])  # fmt: skip
            n += args.size
            started, cpu_before = time.perf_counter(), time.thread_time()
            await store.write(batch)
            latency += time.perf_counter() - started
            cpu += time.thread_time() - cpu_before
        busy = False
        await asyncio.sleep(args.slice_ms / 1000 * 2)
        line = f"{label}: {latency / args.batches * 1000:6.1f} ms per commit of {args.size} refreshes"
        if label == "idle loop":  # in the busy loop the slices run on the same thread
            line += f"; loop-thread CPU {cpu / args.batches / args.size * 1e6:5.1f} µs per binding"
        print(line)
    await store.close()
    await store.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--slice-ms", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
