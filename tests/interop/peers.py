"""Real peers against a real node: fixtures that start `voxgate serve`, SIPp and a TLS bridge.

Everything listens on 127.0.0.1 with ports picked free by the test, and every
process started here is stopped when its test ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).parent / "scenarios"
HOST = "127.0.0.1"


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (SIP listeners use both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((HOST, port))
                except OSError:
                    continue
            return int(port)
    raise RuntimeError("no free port")


def wait_for_tcp(port: int, timeout: float = 15.0,
                 process: subprocess.Popen[bytes] | None = None) -> None:  # fmt: skip
    """Until something accepts on ``port``; early if ``process`` (the server) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise TimeoutError(f"the server exited ({process.returncode}) before {HOST}:{port} listened")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {HOST}:{port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Node:
    """A running `voxgate serve` with plain UDP, TCP and TLS listeners on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    udp: int
    tcp: int
    tls: int
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def crash_and_restart(self) -> None:
        """``kill -9`` the node, then start it again on the same config and data."""
        self.process.kill()
        self.process.wait()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "voxgate", "serve", "--config",
                 str(self.data_dir / "voxgate.toml")],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for_tcp(self.tcp)


@pytest.fixture
def node(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Node]:
    """`voxgate serve` from a fresh `voxgate init`; ``@pytest.mark.node_config("toml")`` adds
    tables to its config."""
    marker = request.node.get_closest_marker("node_config")
    with running_node(tmp_path, marker.args[0] if marker is not None else "") as running:
        yield running


@contextlib.contextmanager
def running_node(tmp_path: Path, extra: str = "") -> Iterator[Node]:
    """Start `voxgate serve` (UDP, TCP and TLS on free 127.0.0.1 ports) with ``extra`` TOML
    tables replacing the init'ed ones of the same name; stop it at the end."""
    log = tmp_path / "voxgate.log"
    for attempt in range(3):
        # a port found free can be taken before the node binds it (another test's outgoing
        # connection gets it as its ephemeral port): start again on other ports
        udp, tcp, tls = free_port(), free_port(), free_port()
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
        config = init_node(tmp_path / "data", HOST, udp, tcp, tls, extra)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "voxgate", "serve", "--config", str(config)],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        running = Node(process, config.parent, udp, tcp, tls, log)
        try:
            wait_for_tcp(tcp, process=process)
            wait_for_tcp(tls, process=process)
        except TimeoutError:
            stop(process)
            if attempt < 2 and "Address already in use" in log.read_text(errors="replace"):
                continue
            raise
        break
    try:
        yield running
    finally:
        stop(running.process)  # the current one: a test may have restarted it


def init_node(data: Path, host: str, udp: int, tcp: int, tls: int, extra: str = "") -> Path:
    """`voxgate init` into ``data``, listeners on ``host`` (UDP, TCP, TLS), JSON logs and the
    ``extra`` TOML tables (which replace tables of the same name); returns the config path."""
    subprocess.run(
        [sys.executable, "-m", "voxgate", "init", "--data", str(data)],
        check=True, capture_output=True,
    )  # fmt: skip
    config = data / "voxgate.toml"
    text = config.read_text()
    if "[edge]" not in extra:  # init turns the edge on; these tests talk to the call control
        extra += "\n[edge]\nenabled = false\n"
    if "[admin]" not in extra:  # the web administration on a free port (8444 may be taken)
        extra += f'\n[admin]\naddress = "{host}"\nport = 0\n'
    if "[media]" not in extra:  # init binds the relay to this host's primary address
        extra += f'\n[media]\nengine = "none"\nwan_address = "{host}"\n'

    listeners = (
        f'[[sip.listeners]]\ntransport = "udp"\naddress = "{host}"\nport = {udp}\n\n'
        f'[[sip.listeners]]\ntransport = "tcp"\naddress = "{host}"\nport = {tcp}\n\n'
        f'[[sip.listeners]]\ntransport = "tls"\naddress = "{host}"\nport = {tls}\n'
    )
    replaced = {line.strip() for line in extra.splitlines() if line.strip().startswith("[")}
    config.write_text(
        _replace_listeners(text, listeners, replaced) + '\n[log]\nformat = "json"\n' + extra
    )
    return config


def _replace_listeners(config_text: str, listeners: str, replaced: set[str] | None = None) -> str:
    """Drop the [[sip.listeners]] tables, [log] and the ``replaced`` tables of an init'ed
    config, add our listeners."""
    out: list[str] = []
    skipping = False
    for line in config_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            skipping = stripped in ("[[sip.listeners]]", "[log]", *(replaced or ()))
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n\n" + listeners


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str
    stats: Path

    def counter(self, name: str) -> int:
        """A cumulative counter from SIPp's last statistics line (e.g. SuccessfulCall)."""
        lines = self.stats.read_text().splitlines()
        header = lines[0].split(";")
        last = lines[-1].split(";")
        return int(last[header.index(f"{name}(C)")])


def run_sipp(
    tmp_path: Path,
    scenario: str | Path,
    port: int,
    *,
    transport: str = "u1",
    calls: int = 10,
    rate: int = 10,
    extra: list[str] | None = None,
    timeout: float = 60,
    source: str = HOST,
    host: str = HOST,
    prefix: Sequence[str] = (),
    local_port: int | None = None,
) -> SippResult:
    """Run SIPp as a UAC from ``source`` against ``host``:port until `calls` calls are done
    (``prefix``: e.g. ``ip netns exec NAME`` to run it in a network namespace)."""
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.fail("sipp is not installed: ./test installs Debian's sip-tester")
    path = scenario if isinstance(scenario, Path) else SCENARIOS / f"{scenario}.xml"
    work = tmp_path / f"sipp-{path.stem}-{transport}-{port}-{free_port()}"
    work.mkdir(exist_ok=True)
    stats = work / "stats.csv"
    args = [
        *prefix, sipp, f"{host}:{port}", "-sf", str(path), "-t", transport,
        "-i", source, "-p", str(local_port or free_port()), "-m", str(calls), "-r", str(rate),
        "-timeout", f"{int(timeout)}s", "-timeout_error", "-nostdin", "-trace_stat",
        "-stf", str(stats), "-fd", "1", "-max_socket", "64",
        *(extra or []),
    ]  # fmt: skip
    done = subprocess.run(  # noqa: PLW1510 - the caller asserts on returncode
        args, cwd=work, capture_output=True, text=True, timeout=timeout + 30,
        env={**os.environ, "TERM": "dumb"},
    )  # fmt: skip
    return SippResult(done.returncode, done.stdout, done.stderr, stats)


@pytest.fixture
def tls_bridge(node: Node) -> Iterator[int]:
    """A TCP port on 127.0.0.1 whose connections socat carries over TLS to the node.

    Debian's SIPp has no TLS (FIELD-NOTES.md): SIPp speaks TCP to socat, socat
    speaks TLS to the node (which refuses anything below 1.2), one TLS connection per SIPp connection.
    """
    with bridge_to_tls(node.tls) as port:
        yield port


@contextlib.contextmanager
def bridge_to_tls(tls_port: int) -> Iterator[int]:
    """A TCP port on 127.0.0.1 whose connections socat carries over TLS to ``tls_port``."""
    socat = shutil.which("socat")
    if socat is None:
        pytest.fail("socat is not installed: ./test installs it")
    port = free_port()
    process = subprocess.Popen(
        [
            socat, f"TCP-LISTEN:{port},bind={HOST},reuseaddr,fork",
            f"OPENSSL:{HOST}:{tls_port},verify=0",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_tcp(port)
        yield port
    finally:
        stop(process)


@dataclass
class SippServer:
    """A SIPp UAS running in the background (see :func:`start_sipp_uas`)."""

    process: subprocess.Popen[str]
    port: int
    stats: Path
    work: Path

    def finish(self, timeout: float = 30) -> SippResult:
        """Wait for it to serve its calls (or stop it), and return its result."""
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
        return SippResult(self.process.returncode, out, err, self.stats)


def start_sipp_uas(
    tmp_path: Path, scenario: str, *, calls: int, transport: str = "u1", timeout: float = 60,
    port: int | None = None,
) -> SippServer:
    """Start SIPp as a UAS on ``port`` (a free 127.0.0.1 port by default); it exits after
    ``calls`` calls."""
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.fail("sipp is not installed: ./test installs Debian's sip-tester")
    port = port or free_port()
    work = tmp_path / f"sipp-uas-{scenario}-{port}"
    work.mkdir()
    stats = work / "stats.csv"
    process = subprocess.Popen(
        [
            sipp, "-sf", str(SCENARIOS / f"{scenario}.xml"), "-t", transport, "-i", HOST,
            "-p", str(port), "-m", str(calls), "-timeout", f"{int(timeout)}s", "-nostdin",
            "-trace_stat", "-stf", str(stats), "-fd", "1",
        ],
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TERM": "dumb"},
    )  # fmt: skip
    time.sleep(0.3)  # SIPp binds before it reads the scenario's first message
    return SippServer(process, port, stats, work)


def voxgate(node: Node, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a `voxgate` data command against the node's config."""
    return subprocess.run(  # noqa: PLW1510 - callers check returncode
        [sys.executable, "-m", "voxgate", *args, "--config", str(node.data_dir / "voxgate.toml")],
        capture_output=True, text=True, input=stdin, timeout=120,
    )  # fmt: skip


def import_extensions(
    node: Node, tmp_path: Path, rows: list[tuple[str, str]], disabled: Collection[str] = ()
) -> None:
    """Import (number, secret) rows with `voxgate ext import` (enabled unless in ``disabled``),
    then make the node reload."""
    csv = tmp_path / f"extensions-{len(rows)}-{free_port()}.csv"
    csv.write_text("number,display_name,secret,enabled,max_contacts\n" + "".join(
        f"{number},Ext {number},{secret},{str(number not in disabled).lower()},\n"
        for number, secret in rows
    ))  # fmt: skip
    done = voxgate(node, "ext", "import", str(csv))
    assert done.returncode == 0, done.stdout + done.stderr
    before = node.log_text().count("extensions reloaded")
    node.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if node.log_text().count("extensions reloaded") > before:
            return
        time.sleep(0.05)
    raise TimeoutError("the node did not reload its extensions")


def auth_csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    """A SIPp injection file: one row per call, fields separated by ';'."""
    path.write_text("SEQUENTIAL\n" + "".join(";".join(row) + "\n" for row in rows))
    return path


def auth_field(user: str, secret: str) -> str:
    return f"[authentication username={user} password={secret}]"
