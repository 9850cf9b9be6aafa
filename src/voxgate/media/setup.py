"""Building the media engine that ``[media]`` names: the built-in relay (in this process or
in worker processes, one per core by default) or an rtpengine daemon."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass

from voxgate.config.schema import Settings
from voxgate.media.control import InterfaceName, MediaControl
from voxgate.media.relay.crypto import SUPPORTED_SUITES
from voxgate.media.relay.engine import RelayEngine
from voxgate.media.relay.forwarder import LocalForwarder
from voxgate.media.relay.model import Forwarder
from voxgate.media.relay.planner import new_key_source
from voxgate.media.relay.workers import WorkerPool

log = logging.getLogger(__name__)


class MediaSetupError(Exception):
    """The engine cannot start; the message says why and which key to change."""


@dataclass(frozen=True, slots=True)
class MediaAddresses:
    """Where the relay's sockets bind, and what it writes into SDP, per interface."""

    bind: dict[InterfaceName, str]
    advertised: dict[InterfaceName, str]


def media_addresses(settings: Settings) -> MediaAddresses:
    """``[media]`` addresses with their fallbacks (the SIP listener, the edge's LAN address,
    the DMZ public address)."""
    media, edge = settings.media, settings.edge
    wan = media.wan_address or settings.enabled_listeners[0].address
    lan = media.lan_address or edge.lan_address
    advertised = media.wan_advertised or (_ip(edge.public_address) or wan)
    return MediaAddresses({"wan": wan, "lan": lan}, {"wan": advertised, "lan": lan})


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


async def start_engine(settings: Settings) -> MediaControl | None:
    """The engine ``media.engine`` names, started; None for ``none``."""
    media = settings.media
    if media.engine == "none":
        log.warning("media.engine = none: SDP passes through, media is not relayed or "
                    "encrypted by the edge")  # fmt: skip
        return None
    if media.engine == "rtpengine":
        return await _rtpengine(settings)
    unsupported = [s for s in media.srtp_suites if s not in SUPPORTED_SUITES]
    if unsupported:
        log.warning("media.srtp_suites: %s not supported by libsrtp here, not offered",
                    ", ".join(unsupported))  # fmt: skip
    addresses = media_addresses(settings)
    port_range = (media.port_min, media.port_max)
    workers = media.workers or os.cpu_count() or 1
    forwarder: Forwarder
    try:
        if workers == 1:
            forwarder = LocalForwarder(addresses.bind, port_range, dscp=media.dscp,
                                       idle_timeout=float(media.idle_timeout))  # fmt: skip
        else:
            pool = WorkerPool(addresses.bind, port_range, workers=workers, dscp=media.dscp,
                              idle_timeout=float(media.idle_timeout))  # fmt: skip
            await pool.start()
            forwarder = pool
    except OSError as err:
        raise MediaSetupError(f"cannot start the media relay: {err}") from err
    engine = RelayEngine(forwarder, addresses.advertised, new_key_source(secrets.token_bytes),
                         frozenset(SUPPORTED_SUITES), loop=asyncio.get_running_loop())  # fmt: skip
    log.info("media relay: %d worker(s), ports %d-%d, WAN %s (SDP %s), LAN %s", workers,
             *port_range, addresses.bind["wan"], addresses.advertised["wan"],
             addresses.bind["lan"])  # fmt: skip
    return engine


async def _rtpengine(settings: Settings) -> MediaControl:
    """A client of the rtpengine at ``media.rtpengine_address``, checked with a ping (a call
    would otherwise be the first to find it down)."""
    from voxgate.media.control import MediaError  # noqa: PLC0415
    from voxgate.media.rtpengine.engine import RtpengineControl  # noqa: PLC0415

    media = settings.media
    host, _, port = media.rtpengine_address.rpartition(":")
    address = (host.strip("[]"), int(port))
    engine = RtpengineControl(address, timeout=float(media.rtpengine_timeout))
    try:
        await engine.ping()
    except MediaError as err:
        await engine.close()
        raise MediaSetupError(f"media.rtpengine_address {media.rtpengine_address}: "
                              f"{err.reason}") from None
    log.info("media relay: rtpengine at %s", media.rtpengine_address)
    return engine
