"""Fixtures of the rtpengine back-end tests: one real rtpengine daemon for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rtpengine_daemon import Daemon, binary, running


@pytest.fixture(scope="session")
def rtpengine_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    path = binary()
    if path is None:
        pytest.skip("rtpengine is not installed (Debian package rtpengine-daemon)")
    with running(path, tmp_path_factory.mktemp("rtpengine")) as daemon:
        yield daemon
