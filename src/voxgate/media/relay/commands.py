"""What the worker pool and its worker processes say to each other over their socket.

Typed messages (frozen dataclasses), one per frame: a 4-octet big-endian length and the
message pickled. The socket is a private socketpair between a parent and the worker it
started, so both ends are the same program; nothing from the network is ever unpickled.
Keys cross in :class:`Configure` only and are never logged (:class:`SrtpKey`'s repr hides
them).
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from dataclasses import dataclass

from voxgate.media.control import InterfaceName
from voxgate.media.relay.model import PairConfig, PairId, PairPorts, PairStats

_LENGTH = struct.Struct("!I")
#: A config with four keys pickles to well under a kilobyte; anything larger is a bug.
MAX_FRAME = 1 << 20


@dataclass(frozen=True, slots=True)
class OpenPair:
    pair: PairId
    a_interface: InterfaceName
    b_interface: InterfaceName


@dataclass(frozen=True, slots=True)
class Configure:
    pair: PairId
    config: PairConfig


@dataclass(frozen=True, slots=True)
class ClosePair:
    pair: PairId


@dataclass(frozen=True, slots=True)
class GetStats:
    pair: PairId


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Close every pair and exit."""


Command = OpenPair | Configure | ClosePair | GetStats | Shutdown


@dataclass(frozen=True, slots=True)
class Request:
    """A command and the number its reply will carry."""

    seq: int
    command: Command


@dataclass(frozen=True, slots=True)
class Reply:
    """The outcome of request ``seq``: a result, or the ``MediaError`` status and reason."""

    seq: int
    result: PairPorts | PairStats | None = None
    error: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class Ready:
    """Sent once by a worker when its loop runs: its pid and how many port pairs it owns."""

    pid: int
    capacity: int


@dataclass(frozen=True, slots=True)
class PairIdle:
    """A worker's pair received nothing for the idle timeout."""

    pair: PairId


Message = Request | Reply | Ready | PairIdle


def encode(message: Message) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


async def read_message(reader: asyncio.StreamReader) -> Message | None:
    """The next message, or None at the end of the stream (the other side is gone)."""
    try:
        header = await reader.readexactly(_LENGTH.size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    (length,) = _LENGTH.unpack(header)
    if length > MAX_FRAME:
        raise ValueError(f"worker frame of {length} octets")
    try:
        body = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    message = pickle.loads(body)  # noqa: S301 - our own process at the other end
    if not isinstance(message, Request | Reply | Ready | PairIdle):
        raise TypeError(f"unexpected worker message {type(message).__name__}")
    return message
