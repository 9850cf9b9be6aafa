"""Real phones for the tests: baresip (Debian 1.0) processes driven over ctrl_tcp.

Each phone gets its own 127.0.0.x address, RTP port range and control port
(FIELD-NOTES.md), a config directory in the test's tmp dir, and audio through
the ``aubridge`` module (no sound devices needed; ``ausine`` refuses 8 kHz).
Control: ctrl_tcp speaks JSON in netstrings; commands get a response with the
same token, and call events arrive on the same connection.

Real audio: ``play`` makes a WAV file the phone's microphone (the ``aufile``
source: 16-bit mono at 8 kHz for G.711, played once from the call's start; at
its end the phone stops sending RTP altogether, so make it longer than the
call), and ``record`` a directory where the ``sndfile`` filter writes, per call,
what the phone sent (``dump-<time>-enc.wav``) and what it received and decoded
(``dump-<time>-dec.wav``): see :meth:`Baresip.received` and
tests/interop/audio.py to find the tone in them.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from netns import Namespace
from peers import free_port

MediaEncryption = Literal["srtp", "srtp-mand", "srtp-mandf", "dtls_srtp"]


def account(
    aor: str, password: str, *, mediaenc: MediaEncryption | None = None,
    answermode: Literal["auto", "manual", "early"] = "auto", regint: int = 300,
    params: str = "",
) -> str:  # fmt: skip
    """An accounts-file line: ``aor`` (e.g. ``<sip:201@host:port;transport=tls>``), its digest
    password, ``mediaenc`` (``srtp-mand``: SDES-SRTP or no call, RFC 4568) and extra
    ``;``-separated account ``params`` (e.g. ``sipnat=outbound``)."""
    line = f"{aor};auth_pass={password};answermode={answermode};regint={regint}"
    if mediaenc is not None:
        line += f";mediaenc={mediaenc}"
    return line + (f";{params.lstrip(';')}" if params else "")


@dataclass
class Baresip:
    """One baresip phone with one account."""

    name: str
    address: str  # its own 127.0.0.x
    account: str  # the accounts-file line
    ca_file: Path
    workdir: Path
    ctrl_port: int = field(default_factory=free_port)
    #: The phone's instance UUID (baresip's ``uuid`` file, sent as +sip.instance): a
    #: version-1 UUID carries a MAC in its node field, as desk phones build it.
    uuid: str | None = None
    #: Run inside this network namespace (its processes are stopped with the topology);
    #: ``address`` is then one of the namespace's, and the control port is on its ``lo``.
    netns: Namespace | None = None
    #: A WAV file (16-bit mono, 8 kHz) the phone sends as its microphone (``aufile``).
    play: Path | None = None
    #: A directory where the phone records each call, both directions (``sndfile``).
    record: Path | None = None
    #: Its RTP/RTCP port range (first, last); by default 100 ports picked from the control port.
    rtp_ports: tuple[int, int] | None = None
    #: Offer RTP and RTCP on one port (RFC 5761, ``a=rtcp-mux``); else RTCP on RTP port + 1.
    rtcp_mux: bool = False
    #: More config-file lines (e.g. ``"rtp_timeout 10\n"``), added at the end.
    extra_config: str = ""
    process: subprocess.Popen[bytes] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    _sock: socket.socket | None = None
    _buffer: bytes = b""
    _tokens: int = 0

    def __enter__(self) -> Baresip:
        if shutil.which("baresip") is None:
            pytest.fail("baresip is not installed: ./test installs Debian's baresip")
        home = self.workdir / self.name
        home.mkdir(parents=True)
        if self.rtp_ports is None:
            rtp = 20000 + (self.ctrl_port % 400) * 100
            self.rtp_ports = (rtp, rtp + 99)
        source = f"aubridge,{self.name}-src" if self.play is None else f"aufile,{self.play}"
        modules = ["g711", "aubridge", "srtp"]
        if self.play is not None:
            modules.append("aufile")
        if self.record is not None:
            self.record.mkdir(parents=True, exist_ok=True)
            modules.append("sndfile")
        if self.uuid is not None:
            modules.append("uuid")
        (home / "config").write_text(
            "poll_method epoll\n"
            f"sip_listen {self.address}:0\n"
            f"sip_cafile {self.ca_file}\n"
            f"audio_player aubridge,{self.name}-play\n"
            f"audio_source {source}\n"
            f"audio_alert aubridge,{self.name}-alert\n"
            f"rtp_ports {self.rtp_ports[0]}-{self.rtp_ports[1]}\n"
            + (f"snd_path {self.record}\n" if self.record is not None else "")
            + ("rtcp_mux yes\n" if self.rtcp_mux else "")
            + "module_path /usr/lib/baresip/modules\n"
            + "".join(f"module {name}.so\n" for name in modules)
            +
            "module_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n"
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}\n"
            + self.extra_config
        )
        (home / "accounts").write_text(self.account + "\n")
        if self.uuid is not None:
            (home / "uuid").write_text(self.uuid)
        command = ["baresip", "-s", "-f", str(home), "-n", self.address]
        with (self.workdir / f"{self.name}.log").open("wb") as log:
            if self.netns is None:
                self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL)  # fmt: skip
            else:
                self.process = self.netns.popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.netns is None:
                    self._sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.5)
                else:
                    self._sock = self.netns.connect("127.0.0.1", self.ctrl_port)
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    pytest.fail(f"baresip {self.name} did not start:\n{self.log_text()[-3000:]}")
                time.sleep(0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sock is not None:
            try:
                self.command("quit")
            except (OSError, TimeoutError):
                pass
            self._sock.close()
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def recordings(self, direction: Literal["enc", "dec"] = "dec") -> list[Path]:
        """The ``record`` directory's WAV files, oldest first: per call, what the phone sent
        (``enc``) or received (``dec``). sndfile names them by the call's start time to the
        second, so two calls started within one second share (overwrite) a file."""
        if self.record is None:
            raise ValueError(f"baresip {self.name} does not record (no record directory)")
        return sorted(self.record.glob(f"dump-*-{direction}.wav"))

    def received(self) -> Path:
        """The recording of what the phone received in its last call (complete once the call
        has closed: sndfile finishes the WAV file when the call's audio stops)."""
        files = self.recordings("dec")
        if not files:
            raise FileNotFoundError(f"baresip {self.name} recorded nothing in {self.record}")
        return files[-1]

    def log_text(self) -> str:
        return (self.workdir / f"{self.name}.log").read_text(errors="replace")

    # -- ctrl_tcp -------------------------------------------------------------------------
    def _send(self, obj: dict[str, Any]) -> None:
        assert self._sock is not None
        data = json.dumps(obj).encode()
        self._sock.sendall(str(len(data)).encode() + b":" + data + b",")

    def _read(self, timeout: float) -> dict[str, Any] | None:
        """One message (event or response), or None after ``timeout``."""
        assert self._sock is not None
        deadline = time.monotonic() + timeout
        while True:
            head, colon, rest = self._buffer.partition(b":")
            if colon and head.isdigit() and len(rest) > int(head):
                size = int(head)
                message = json.loads(rest[:size])
                self._buffer = rest[size + 1 :]
                return message  # type: ignore[no-any-return]
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                raise ConnectionError(f"baresip {self.name} closed its control connection")
            self._buffer += chunk

    def command(self, name: str, params: str = "", timeout: float = 5) -> dict[str, Any]:
        """Run a command; returns its response (events met on the way are kept)."""
        self._tokens += 1
        token = f"t{self._tokens}"
        self._send({"command": name, "params": params, "token": token})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._read(deadline - time.monotonic())
            if message is None:
                break
            if message.get("event"):
                self.events.append(message)
            elif message.get("token") == token:
                return message
        raise TimeoutError(f"baresip {self.name}: no response to {name}")

    def wait_event(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        """The first call event of type ``kind`` (already received, or arriving in time)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("type") == kind:
                    return event
            message = self._read(max(0.0, deadline - time.monotonic()))
            if message is None:
                seen = [e.get("type") for e in self.events]
                raise TimeoutError(f"baresip {self.name}: no {kind} (saw {seen})\n"
                                   + self.log_text()[-3000:])  # fmt: skip
            if message.get("event"):
                self.events.append(message)

    def wait_registered(self, timeout: float = 10) -> None:
        """Poll ``reginfo`` until the account shows OK (the event may precede the connection)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = str(self.command("reginfo").get("data", ""))
            if re.search(r"(?:\s|m)OK\s", info):  # "OK" may follow a colour code
                return
            time.sleep(0.2)
        raise TimeoutError(f"baresip {self.name} did not register:\n{self.log_text()[-3000:]}")
