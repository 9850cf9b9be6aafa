"""voxgate.transport.reuseport on real sockets: in a SO_REUSEPORT group with the program
attached, everything but REGISTER reaches the first socket, and REGISTERs are spread by sender
(each sender always reaching the same socket)."""

from __future__ import annotations

import socket
import time

from voxgate.transport.reuseport import steer_registers


def _group(size: int) -> list[socket.socket]:
    group: list[socket.socket] = []
    for index in range(size):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", group[0].getsockname()[1] if group else 0))
        if index == 0:
            assert steer_registers(sock)
        sock.setblocking(False)
        group.append(sock)
    return group


def _drain(sock: socket.socket) -> list[tuple[bytes, int]]:
    got = []
    while True:
        try:
            data, (_, port) = sock.recvfrom(2048)
        except BlockingIOError:
            return got
        got.append((data, port))


def test_everything_but_register_reaches_the_first_socket_and_registers_stay_by_sender() -> None:
    group = _group(3)
    port = group[0].getsockname()[1]
    senders = []
    try:
        for _ in range(60):
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sender.bind(("127.0.0.1", 0))
            senders.append(sender)
            for message in (b"REGISTER sip:a SIP/2.0\r\n\r\n", b"INVITE sip:a SIP/2.0\r\n\r\n",
                            b"SIP/2.0 200 OK\r\n\r\n", b"\r\n", b"REGISTER sip:b SIP/2.0\r\n\r\n"):
                sender.sendto(message, ("127.0.0.1", port))
        time.sleep(0.2)
        received = [_drain(sock) for sock in group]
    finally:
        for sock in group + senders:
            sock.close()
    assert all(data.startswith(b"REGISTER") for sock in received[1:] for data, _ in sock)
    others = [data for data, _ in received[0] if not data.startswith(b"REGISTER")]
    assert len(others) == 3 * 60  # INVITE, response, keep-alive: all at the first socket
    registers = {index: [p for data, p in got if data.startswith(b"REGISTER")]
                 for index, got in enumerate(received)}  # fmt: skip
    assert sum(len(ports) for ports in registers.values()) == 2 * 60
    assert all(registers.values()), registers  # 60 senders: each socket gets some
    owner = {p: index for index, ports in registers.items() for p in ports}
    assert all(ports.count(p) == 2 for ports in registers.values() for p in ports)  # both at one
    assert len(owner) == 60
