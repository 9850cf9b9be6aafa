"""SIPVicious (Debian 0.3.3) as a test peer: finding the tools, reading svwar's --debug
output, ending svcrack's final wait (docs/interop.md has the tools' habits)."""

from __future__ import annotations

import ast
import binascii
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: ./test installs Debian's sipvicious")
    return path


@dataclass
class Scan:
    method: str
    output: str
    #: extension → (status line, header names) of each answer svwar printed (--debug)
    answers: dict[str, set[tuple[str, tuple[str, ...]]]]

    def found(self) -> list[str]:
        """The extensions svwar says exist."""
        return re.findall(r"extension '([^']*)' (?:probably )?exists", self.output)


def svwar_answers(output: str) -> dict[str, set[tuple[str, tuple[str, ...]]]]:
    """svwar --debug prints each datagram as a bytes literal; svwar puts the extension in its
    From tag (hex of ``extension \\x01 random``), which the answers echo."""
    answers: dict[str, set[tuple[str, tuple[str, ...]]]] = {}
    for line in output.splitlines():
        if not line.startswith(("b'SIP/2.0", 'b"SIP/2.0')):
            continue
        text = ast.literal_eval(line).decode(errors="replace")
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        tag = re.search(r"^(?:From|f)\s*:.*?;\s*tag=([0-9a-fA-F]+)", text, re.MULTILINE | re.IGNORECASE)
        if tag is None:
            continue
        extension = binascii.a2b_hex(tag[1]).split(b"\x01")[0].decode()
        names = tuple(sorted(h.split(":", 1)[0].strip().lower() for h in head[1:]))
        status = re.sub(r"^(SIP/2.0 \d{3}).*", r"\1", head[0])
        answers.setdefault(extension, set()).add((status, names))
    return answers


def finish_svcrack(process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait for svcrack to crack the password or give up.  Once it has given up ("It has
    been 3 s since we last received a response") it still waits 10 s on its socket: a
    SIGINT ends that wait, and it prints its results as at the end."""
    deadline = time.monotonic() + 120
    while process.poll() is None:
        if "since we last received a response" in log.read_text(errors="replace"):
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
            return
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
        time.sleep(0.1)
