"""Netblock lookups with a country-size list (issue 4 target: 100,000 netblocks, < 5 µs a lookup).

Builds a set of 100,000 random IPv4 netblocks (/12 to /28) plus 10,000 IPv6 ones, then looks
up 200,000 addresses (half inside a block, half random) given as strings, as a listener sees
them, and reports the mean cost of one lookup.

    .venv/bin/python bench/bench_netblocks.py [--blocks 100000] [--lookups 200000]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import socket
import time

from voxgate.policy.netblocks import NetblockSet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    args = parser.parse_args()
    rng = random.Random(1)
    v4 = [ipaddress.IPv4Network((rng.getrandbits(32), rng.randint(12, 28)), strict=False)
          for _ in range(args.blocks)]  # fmt: skip
    v6 = [ipaddress.IPv6Network((rng.getrandbits(128), rng.randint(32, 64)), strict=False)
          for _ in range(args.blocks // 10)]  # fmt: skip
    started = time.perf_counter()
    blocks = NetblockSet([(n, "bench") for n in [*v4, *v6]])
    built = time.perf_counter() - started
    probes = []
    for i in range(args.lookups):
        if i % 2:
            n = rng.choice(v4)
            probes.append(str(n.network_address + rng.randrange(n.num_addresses)))
        else:
            probes.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
    v6_probes = [str(n.network_address + 1) for n in rng.sample(v6, min(len(v6), 20_000))]
    for name, addresses in (("IPv4", probes), ("IPv6", v6_probes)):
        hits = 0
        started = time.perf_counter()
        for address in addresses:
            if blocks.match(address) is not None:
                hits += 1
        took = time.perf_counter() - started
        print(f"{name} text:   {len(addresses):,} lookups, {took / len(addresses) * 1e6:.2f} µs "
              f"a lookup ({hits:,} hits)")  # fmt: skip
        family = socket.AF_INET6 if name == "IPv6" else socket.AF_INET
        packed = [socket.inet_pton(family, a) for a in addresses]
        started = time.perf_counter()
        for raw in packed:
            blocks.match_packed(raw)
        took = time.perf_counter() - started
        print(f"{name} packed: {len(addresses):,} lookups, {took / len(addresses) * 1e6:.2f} µs "
              "a lookup (the listeners' path: inet_pton bytes)")  # fmt: skip
    print(f"set of {len(blocks):,} netblocks built in {built:.2f} s")


if __name__ == "__main__":
    main()
