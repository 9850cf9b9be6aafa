"""The running node's collector settings (voxgate.runtime)."""

from __future__ import annotations

import gc

from voxgate import runtime


def test_settle_after_start_freezes_start_up_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        runtime.settle_after_start()
        assert gc.get_threshold() == runtime.GC_THRESHOLDS
        assert gc.get_freeze_count() > 1000  # the modules imported so far, at least
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
