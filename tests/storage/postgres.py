"""A real PostgreSQL server for the store tests: initdb into a temporary directory, started on
a free 127.0.0.1 port with its socket in that directory, stopped at the end of the session.

As root (CI), the server runs as the ``postgres`` user: initdb refuses root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An asyncpg URL of a fresh database on a server private to this test session."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (./test installs Debian postgresql)")
    root = Path(tempfile.mkdtemp(prefix="voxgate-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                                 "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)  # fmt: skip
    log = root / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            _as_postgres([str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                          "-h", "127.0.0.1", "-k", str(root), "-c", "fsync=off"]),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                   capture_output=True, check=False)  # fmt: skip
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("PostgreSQL did not start: " + log.read_text(errors="replace")[-2000:])
            time.sleep(0.1)
        subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U",
                        "postgres", "voxgate"], check=True, capture_output=True)  # fmt: skip
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/voxgate"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)
