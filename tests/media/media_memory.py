"""An in-memory Forwarder for tests of the relay engine and of its callers."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from voxgate.media.control import StreamStats
from voxgate.media.relay.model import PairConfig, PairId, PairPorts, PairStats


class MemoryForwarder:
    """Records what the engine asks; hands out ports from a counter."""

    def __init__(self) -> None:
        self.open: dict[PairId, PairPorts] = {}
        self.configs: dict[PairId, PairConfig] = {}
        self.closed: list[PairId] = []
        self._ports = itertools.count(30000, 4)
        self._idle: Callable[[PairId], None] | None = None

    async def open_pair(self, pair: PairId, a_interface: str, b_interface: str) -> PairPorts:
        assert pair not in self.open
        first = next(self._ports)
        self.open[pair] = PairPorts(first, first + 2)
        return self.open[pair]

    async def configure(self, pair: PairId, config: PairConfig) -> None:
        assert pair in self.open
        self.configs[pair] = config

    async def close_pair(self, pair: PairId) -> PairStats | None:
        if self.open.pop(pair, None) is None:
            return None
        self.closed.append(pair)
        return PairStats(StreamStats(packets=5), StreamStats(packets=7), None, None, 0.0)

    async def stats(self, pair: PairId) -> PairStats | None:
        return PairStats(StreamStats(packets=1), StreamStats(), None, None, 0.0) if pair in self.open else None

    def on_idle(self, callback: Callable[[PairId], None]) -> None:
        self._idle = callback

    async def close(self) -> None:
        self.open.clear()
