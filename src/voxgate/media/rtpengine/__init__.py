"""The rtpengine back end of :class:`voxgate.media.control.MediaControl`: rtpengine's "ng"
control protocol (bencode over UDP) in :mod:`.ng` (pure) and :mod:`.client` (asyncio), the
engine in :mod:`.engine`. See docs/rtpengine.md for setting up the daemon."""

from voxgate.media.rtpengine.engine import RtpengineControl

__all__ = ["RtpengineControl"]
