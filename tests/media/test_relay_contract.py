"""The MediaControl contract (tests/media_rtpengine/media_contract.py) run against the
built-in relay: RelayEngine over a real in-process forwarder (the worker pool has the
forwarder tests of tests/media/test_forwarder.py)."""

from __future__ import annotations

import secrets

import pytest
from media_contract import EngineUnderTest, MediaControlContract

from voxgate.media.relay.crypto import SUPPORTED_SUITES
from voxgate.media.relay.engine import RelayEngine
from voxgate.media.relay.forwarder import LocalForwarder
from voxgate.media.relay.planner import new_key_source

WAN, LAN = "127.0.32.1", "127.0.32.2"
#: Away from the baresip phones' RTP ports (20000-59999) of the interop tests.
PORTS = (61000, 61399)


class TestBuiltinRelay(MediaControlContract):
    @pytest.fixture
    def engine_under_test(self) -> EngineUnderTest:
        def make() -> RelayEngine:
            forwarder = LocalForwarder({"wan": WAN, "lan": LAN}, PORTS)
            return RelayEngine(forwarder, {"wan": WAN, "lan": LAN},
                               new_key_source(secrets.token_bytes), frozenset(SUPPORTED_SUITES))

        return EngineUnderTest(make=make, wan_address=WAN, lan_address=LAN)
