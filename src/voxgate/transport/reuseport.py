"""Steering in a ``SO_REUSEPORT`` group of UDP sockets (``pbx.workers``).

By default the kernel picks the socket of a group by a hash of the sender's address and port.
:func:`steer_registers` attaches a classic BPF program to the group (Linux ≥ 4.5,
``SO_ATTACH_REUSEPORT_CBPF``) that sends every datagram whose payload does not start with
``REGI`` to the group's first socket (the main process binds first) and leaves REGISTERs to the
hash: an index the group does not have makes the kernel fall back to it.  So calls, responses
and keep-alives reach the main process directly, with no hop through a worker, and a phone's
REGISTERs keep reaching one process.

The program sees the UDP payload from its first byte; a payload shorter than four bytes ends
the program with 0 (the main process).
"""

from __future__ import annotations

import ctypes
import logging
import socket
import struct
from typing import Final

log = logging.getLogger(__name__)

#: ``SO_ATTACH_REUSEPORT_CBPF`` (include/uapi/asm-generic/socket.h); Python has no name for it.
SO_ATTACH_REUSEPORT_CBPF: Final = 51
_LD_W_ABS: Final = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K: Final = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_RET_K: Final = 0x06  # BPF_RET | BPF_K
_REGI: Final = int.from_bytes(b"REGI", "big")
_BY_HASH: Final = 0xFFFFFFFF  # no such socket: the kernel picks one by the sender's hash

#: ld [0]; jeq "REGI" → by hash; else → socket 0.  (struct sock_filter: u16 code, u8 jt,
#: u8 jf, u32 k.)
PROGRAM: Final = (
    (_LD_W_ABS, 0, 0, 0),
    (_JEQ_K, 1, 0, _REGI),
    (_RET_K, 0, 0, 0),
    (_RET_K, 0, 0, _BY_HASH),
)


def steer_registers(sock: socket.socket) -> bool:
    """Attach :data:`PROGRAM` to ``sock``'s reuseport group; whether the kernel took it."""
    code = b"".join(struct.pack("=HBBI", *instruction) for instruction in PROGRAM)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("@HP", len(PROGRAM), ctypes.addressof(buffer))  # struct sock_fprog
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)
    except OSError as err:
        log.warning("cannot steer the UDP port's datagrams (SO_ATTACH_REUSEPORT_CBPF: %s): "
                    "the registrar workers pass what is not theirs to the main process",
                    err)  # fmt: skip
        return False
    return True
