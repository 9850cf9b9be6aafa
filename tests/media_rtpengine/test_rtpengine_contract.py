"""The MediaControl contract (media_contract.py) run against a real rtpengine daemon."""

from __future__ import annotations

import pytest
from media_contract import EngineUnderTest, MediaControlContract
from rtpengine_daemon import Daemon

from voxgate.media.rtpengine import RtpengineControl

#: What rtpengine 10.5 (Debian 12) is measured not to do; see docs/rtpengine.md.
RTPENGINE_GAPS = {
    "fresh-keys-between-srtp-legs": (
        "rtpengine copies the offerer's SDES key into the offer to an SRTP answerer "
        "(SRTP pass-through); no ng flag of 10.5 turns that off"
    ),
    "replay-protection": (
        "rtpengine 10.5 forwards a replayed SRTP packet (userspace forwarding, no kernel module)"
    ),
}


class TestRtpengine(MediaControlContract):
    @pytest.fixture
    def engine_under_test(self, rtpengine_daemon: Daemon) -> EngineUnderTest:
        return EngineUnderTest(
            make=lambda: RtpengineControl(rtpengine_daemon.ng_address),
            wan_address=rtpengine_daemon.wan_address,
            lan_address=rtpengine_daemon.lan_address,
            known_gaps=RTPENGINE_GAPS,
        )
