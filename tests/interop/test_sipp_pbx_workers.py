"""`voxgate serve` with ``pbx.workers = 2`` against SIPp: a registrar worker process shares the
call control's UDP port (SO_REUSEPORT), answers the REGISTERs the kernel gives it and passes the
rest to the main process (voxgate.pbx.workers).

Which process gets a sender is the kernel's hash of its address and port.  The tests find out
with a REGISTER without credentials from a chosen port: the nonce of the 401 carries the number
of the process that issued it (byte 8 of the decoded nonce), and SIPp then runs from that port.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import signal
import socket
import sqlite3
import time
from pathlib import Path

import asyncpg
import pytest
from peers import (
    HOST,
    Node,
    auth_csv,
    auth_field,
    free_port,
    run_sipp,
    running_node,
    start_sipp_uas,
    voxgate,
)

pytestmark = [pytest.mark.interop,
              pytest.mark.node_config('\n[pbx]\ndigest_algorithms = "MD5"\nworkers = 2\n')]  # fmt: skip


def _secret() -> str:
    return "Vx" + secrets.token_urlsafe(15)


def _wait_for_log(node: Node, pattern: str, count: int = 1, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(pattern, node.log_text())
        if len(found) >= count:
            return found
        assert node.alive(), node.log_text()[-3000:]
        time.sleep(0.05)
    raise AssertionError(f"{count} x {pattern!r} not in the log:\n{node.log_text()[-3000:]}")


@pytest.fixture
def workers(node: Node) -> Node:
    """The node once its registrar worker serves."""
    _wait_for_log(node, r"registrar worker 1 \(pid \d+\) serving")
    return node


def _import(node: Node, tmp_path: Path, rows: list[tuple[str, str]], processes: int = 2) -> None:
    """`voxgate ext import`, then SIGHUP, until ``processes`` processes (both, by default)
    have the new extensions."""
    csv = tmp_path / f"extensions-{free_port()}.csv"
    csv.write_text("number,display_name,secret,enabled,max_contacts\n"
                   + "".join(f"{n},Ext {n},{s},true,\n" for n, s in rows))  # fmt: skip
    done = voxgate(node, "ext", "import", str(csv))
    assert done.returncode == 0, done.stdout + done.stderr
    before = node.log_text().count("extensions reloaded")
    node.process.send_signal(signal.SIGHUP)
    _wait_for_log(node, "extensions reloaded", before + processes)


def _process_for(node: Node, port: int) -> int:
    """The number of the process (0 main, 1 the worker) the kernel gives 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, port))
        sock.settimeout(5)
        call_id = secrets.token_hex(8)
        sock.sendto((
            f"REGISTER sip:{HOST}:{node.udp} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK{call_id};rport\r\n"
            f"From: <sip:probe@{HOST}>;tag=p\r\nTo: <sip:probe@{HOST}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\nContact: <sip:probe@{HOST}:{port}>\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ).encode(), (HOST, node.udp))  # fmt: skip
        answer = sock.recv(65535).decode()
    assert answer.startswith("SIP/2.0 401"), answer
    nonce = re.search(r'nonce="([^"]+)"', answer)
    assert nonce is not None, answer
    raw = base64.urlsafe_b64decode(nonce.group(1) + "=" * (-len(nonce.group(1)) % 4))
    return raw[8]


def _ports(node: Node, process: int, count: int) -> list[int]:
    """``count`` free local ports that the kernel sends to ``process``."""
    found: list[int] = []
    for _ in range(200):
        port = free_port()
        if _process_for(node, port) == process:
            found.append(port)
            if len(found) == count:
                return found
    raise AssertionError(f"no port reaches process {process} in 200 tries")


def _bindings(node: Node) -> list[tuple[str, int]]:
    with sqlite3.connect(node.data_dir / "voxgate.db") as db:
        return [(str(aor), int(port)) for aor, port in
                db.execute("SELECT aor, source_port FROM bindings ORDER BY aor")]  # fmt: skip


def _register_from(node: Node, tmp_path: Path, port: int, number: str, secret: str,
                   contact: str) -> None:  # fmt: skip
    inf = auth_csv(tmp_path / f"reg-{number}-{port}.csv", [(number, auth_field(number, secret), contact)])
    result = run_sipp(tmp_path, "register_auth", node.udp, calls=1, rate=1, local_port=port,
                      extra=["-inf", str(inf)])  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]


def test_registrations_spread_over_both_processes_and_all_are_stored(
    workers: Node, tmp_path: Path
) -> None:
    node = workers
    rows = [(str(n), _secret()) for n in range(3000, 3300)]
    _import(node, tmp_path, rows)
    inf = auth_csv(tmp_path / "register.csv",
                   [(n, auth_field(n, s), "127.0.0.1:5999") for n, s in rows])  # fmt: skip
    # -t un: a socket (source port) per call, as 300 phones; the kernel spreads them
    result = run_sipp(tmp_path, "register_auth", node.udp, transport="un", calls=300, rate=100,
                      extra=["-inf", str(inf), "-max_socket", "400"])  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.counter("SuccessfulCall") == 300
    assert [aor for aor, _ in _bindings(node)] == [n for n, _ in rows]
    node.process.send_signal(signal.SIGTERM)
    node.process.wait(timeout=30)
    [answered] = _wait_for_log(node, r"registrar worker 1 stopped: (\d+) REGISTERs answered")
    # 600 REGISTERs (challenge and answer) in all; a share to each process
    assert 0 < int(answered) < 600, answered


def test_call_between_phones_that_reach_the_worker_goes_through_the_main_process(
    workers: Node, tmp_path: Path
) -> None:
    """Caller and callee both reach the worker with their REGISTERs: the callee's registration
    is answered there and reaches the main process's location service; the INVITE, the
    callee's answers, the ACK and BYE go straight to the main process (the reuseport
    program), which runs the call and writes its record."""
    node = workers
    a, b = ("401", _secret()), ("402", _secret())
    _import(node, tmp_path, [a, b])
    caller_port, callee_port = _ports(node, 1, 2)
    _register_from(node, tmp_path, callee_port, b[0], b[1], f"127.0.0.1:{callee_port}")
    assert (b[0], callee_port) in _bindings(node)
    callee = start_sipp_uas(tmp_path, "uas_answer", calls=2, port=callee_port)
    inf = auth_csv(tmp_path / "call.csv", [(a[0], auth_field(*a), b[0])])
    result = run_sipp(tmp_path, "call_uac_auth", node.udp, calls=2, rate=2,
                      local_port=caller_port,
                      extra=["-inf", str(inf), "-auth_uri", f"{b[0]}@127.0.0.1:{node.udp}"])  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.counter("SuccessfulCall") == 2
    assert callee.finish().counter("SuccessfulCall") == 2
    done = voxgate(node, "cdr", "export", "--format", "csv")
    assert done.returncode == 0, done.stderr
    records = [line for line in done.stdout.splitlines()[1:] if line]
    assert len(records) == 2
    assert all(",answered," in record and ",401," in record for record in records), records
    node.process.send_signal(signal.SIGTERM)
    node.process.wait(timeout=30)
    [(answered, passed)] = _wait_for_log(
        node, r"registrar worker 1 stopped: (\d+) REGISTERs answered, (\d+) datagrams passed"
    )
    # the reuseport program sent every INVITE, response, ACK and BYE to the main process
    assert int(answered) >= 2
    assert int(passed) == 0


def test_a_nonce_from_the_other_process_gets_a_new_challenge_not_a_refusal(
    workers: Node, tmp_path: Path
) -> None:
    """A phone whose NAT mapping moves it from one process to the other answers a challenge
    of the first at the second: 401 stale=true (a new nonce), never 403 nor a lockout."""
    node = workers
    number, secret = "501", _secret()
    _import(node, tmp_path, [(number, secret)])
    [main_port], [worker_port] = _ports(node, 0, 1), _ports(node, 1, 1)
    challenges: dict[int, str] = {}
    for port in (main_port, worker_port):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((HOST, port))
            sock.settimeout(5)
            sock.sendto(_register(node, port, number, 1), (HOST, node.udp))
            challenges[port] = sock.recv(65535).decode()
    nonce = re.search(r'nonce="([^"]+)"', challenges[main_port])
    realm = re.search(r'realm="([^"]+)"', challenges[main_port])
    assert nonce is not None
    assert realm is not None
    from voxgate.sip.digest import Challenge, answer  # noqa: PLC0415 - the client side only

    uri = f"sip:{HOST}:{node.udp}"
    credentials = answer(Challenge(realm.group(1), nonce.group(1), "MD5"), "REGISTER", uri, number,
                         password=secret, cnonce="c0ffee", nc=1)  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, worker_port))
        sock.settimeout(5)
        sock.sendto(_register(node, worker_port, number, 2, f"Authorization: {credentials}\r\n"),
                    (HOST, node.udp))  # fmt: skip
        again = sock.recv(65535).decode()
    assert again.startswith("SIP/2.0 401"), again
    assert "stale=TRUE" in again, again
    assert "lockout" not in node.log_text()


def _register(node: Node, port: int, number: str, cseq: int, extra: str = "") -> bytes:
    return (
        f"REGISTER sip:{HOST}:{node.udp} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
        f"From: <sip:{number}@{HOST}>;tag=t{port}\r\nTo: <sip:{number}@{HOST}>\r\n"
        f"Call-ID: stale-{port}\r\nCSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{number}@{HOST}:{port}>\r\n{extra}Max-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def test_a_killed_worker_is_started_again_and_its_share_is_served_meanwhile(
    workers: Node, tmp_path: Path
) -> None:
    node = workers
    [pid] = _wait_for_log(node, r"registrar worker 1 \(pid (\d+)\) serving")
    os.kill(int(pid), signal.SIGKILL)
    _wait_for_log(node, "registrar worker 1 is gone")
    number, secret = "601", _secret()
    _import(node, tmp_path, [(number, secret)], processes=1)  # the worker is gone
    # with the worker gone the main process has the whole port
    _register_from(node, tmp_path, free_port(), number, secret, "127.0.0.1:5997")
    found = _wait_for_log(node, r"registrar worker 1 \(pid (\d+)\) serving", count=2)
    assert found[1] != pid
    [worker_port] = _ports(node, 1, 1)
    _register_from(node, tmp_path, worker_port, number, secret, "127.0.0.1:5996")
    assert [aor for aor, _ in _bindings(node)].count(number) == 2
    assert node.alive()


async def _fresh_database(url: str, name: str) -> str:
    """A new, empty database ``name`` on the server of ``url``; its SQLAlchemy URL."""
    server = url.removeprefix("postgresql+asyncpg://").rsplit("/", 1)[0]
    connection = await asyncpg.connect(f"postgresql://{server}/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"postgresql+asyncpg://{server}/{name}"


async def _postgres_bindings(url: str) -> list[str]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return [str(row["aor"]) for row in await connection.fetch(
            "SELECT aor FROM bindings ORDER BY aor")]  # fmt: skip
    finally:
        await connection.close()


def test_registrations_through_both_processes_are_stored_in_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    """The same as on SQLite, with the store on a real PostgreSQL server: each process writes
    its own binding changes (no commit lock there; PostgreSQL's own locking serves)."""
    url = asyncio.run(_fresh_database(postgres_url, f"workers_{os.getpid()}"))
    config = f'\n[pbx]\ndigest_algorithms = "MD5"\nworkers = 2\n\n[store]\nurl = "{url}"\n'
    with running_node(tmp_path, config) as node:
        _wait_for_log(node, r"registrar worker 1 \(pid \d+\) serving")
        rows = [(str(n), _secret()) for n in range(7000, 7200)]
        _import(node, tmp_path, rows)
        inf = auth_csv(tmp_path / "register.csv",
                       [(n, auth_field(n, s), "127.0.0.1:5999") for n, s in rows])  # fmt: skip
        result = run_sipp(tmp_path, "register_auth", node.udp, transport="un", calls=200,
                          rate=100, extra=["-inf", str(inf), "-max_socket", "300"])  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:]
        assert result.counter("SuccessfulCall") == 200
        assert asyncio.run(_postgres_bindings(url)) == [n for n, _ in rows]
        assert _bindings(node) == []  # nothing went to the SQLite file voxgate init made
        node.process.send_signal(signal.SIGTERM)
        node.process.wait(timeout=30)
        [answered] = _wait_for_log(node, r"registrar worker 1 stopped: (\d+) REGISTERs answered")
        assert 0 < int(answered) < 400, answered
