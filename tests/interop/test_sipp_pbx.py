"""SIPp against the embedded call control of a real `voxgate serve`: registrations with
digest auth for 1,000 imported extensions over UDP and TLS, and calls between SIPp
instances (answered, busy, not answered, cancelled, unknown number) with their CDRs."""

from __future__ import annotations

import csv
import io
import secrets
import sqlite3
from pathlib import Path

import pytest
from peers import (
    SCENARIOS,
    Node,
    auth_csv,
    auth_field,
    import_extensions,
    run_sipp,
    start_sipp_uas,
    voxgate,
)

#: SIPp 3.6 answers only the first challenge and knows only MD5 (docs/interop.md).
SIPP_PBX = '\n[pbx]\ndigest_algorithms = "MD5"\n'
pytestmark = [pytest.mark.interop, pytest.mark.node_config(SIPP_PBX)]


def _secret() -> str:
    return "Vx" + secrets.token_urlsafe(15)


def _bindings(node: Node) -> int:
    with sqlite3.connect(node.data_dir / "voxgate.db") as db:
        return int(db.execute("SELECT count(*) FROM bindings").fetchone()[0])


def _cdrs(node: Node) -> list[dict[str, str]]:
    done = voxgate(node, "cdr", "export", "--format", "csv")
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def test_thousand_extensions_register_over_udp_and_tls(node: Node, tls_bridge: int, tmp_path: Path) -> None:
    rows = [(str(n), _secret()) for n in range(1000, 2000)]
    import_extensions(node, tmp_path, rows)
    udp = auth_csv(tmp_path / "udp.csv", [(n, auth_field(n, s), "127.0.0.1:5999") for n, s in rows])
    result = run_sipp(tmp_path, "register_auth", node.udp, calls=1000, rate=250,
                      extra=["-inf", str(udp)])  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.counter("SuccessfulCall") == 1000
    assert _bindings(node) == 1000
    # TLS (SIPp speaks TCP to a socat bridge): each registers a second contact
    tls = auth_csv(tmp_path / "tls.csv", [(n, auth_field(n, s), "127.0.0.1:5998;transport=tls") for n, s in rows])
    result = run_sipp(tmp_path, "register_auth", tls_bridge, transport="t1", calls=1000, rate=250,
                      extra=["-inf", str(tls)])  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.counter("SuccessfulCall") == 1000
    assert _bindings(node) == 2000


def _register(node: Node, tmp_path: Path, number: str, secret: str, contact: str) -> None:
    inf = auth_csv(tmp_path / f"reg-{number}.csv", [(number, auth_field(number, secret), contact)])
    result = run_sipp(tmp_path, "register_auth", node.udp, calls=1, rate=1, extra=["-inf", str(inf)])
    assert result.returncode == 0, result.stdout[-3000:]


def _call(node: Node, tmp_path: Path, scenario: str | Path, caller: tuple[str, str], callee: str,
          calls: int = 1) -> None:  # fmt: skip
    number, secret = caller
    inf = auth_csv(tmp_path / f"call-{number}-{callee}.csv", [(number, auth_field(number, secret), callee)])
    # SIPp signs sip:<remote> unless told the Request-URI (FIELD-NOTES.md)
    auth_uri = f"{callee}@127.0.0.1:{node.udp}"  # SIPp puts "sip:" in front
    result = run_sipp(tmp_path, scenario, node.udp, calls=calls, rate=5,
                      extra=["-inf", str(inf), "-auth_uri", auth_uri])  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.counter("SuccessfulCall") == calls


@pytest.fixture
def two(node: Node, tmp_path: Path) -> tuple[tuple[str, str], tuple[str, str]]:
    a, b = ("201", _secret()), ("202", _secret())
    import_extensions(node, tmp_path, [a, b])
    return a, b


def _refused(tmp_path: Path, status: int) -> Path:
    path = tmp_path / f"call_uac_refused_{status}.xml"
    path.write_text((SCENARIOS / "call_uac_refused.xml").read_text().replace("EXPECTED", str(status)))
    return path


def test_call_between_two_sipp_instances_completes_with_its_cdr(node: Node, tmp_path: Path, two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    callee = start_sipp_uas(tmp_path, "uas_answer", calls=3)
    _register(node, tmp_path, b[0], b[1], f"127.0.0.1:{callee.port}")
    _call(node, tmp_path, "call_uac_auth", a, b[0], calls=3)
    served = callee.finish()
    assert served.counter("SuccessfulCall") == 3, served.stdout[-2000:]
    records = _cdrs(node)
    assert len(records) == 3
    for record in records:
        assert (record["caller"], record["callee"], record["disposition"], record["status"]) == (
            "201", "202", "answered", "200"
        )
        assert 0.1 < float(record["duration"]) < 5
        assert record["answered_at"]


def test_busy_callee(node: Node, tmp_path: Path, two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    callee = start_sipp_uas(tmp_path, "uas_busy", calls=1)
    _register(node, tmp_path, b[0], b[1], f"127.0.0.1:{callee.port}")
    _call(node, tmp_path, _refused(tmp_path, 486), a, b[0])
    assert callee.finish().counter("SuccessfulCall") == 1
    [record] = _cdrs(node)
    assert (record["disposition"], record["status"], record["duration"]) == ("busy", "486", "0.0")


@pytest.mark.node_config(SIPP_PBX + "no_answer_timeout = 5\n")
def test_no_answer(node: Node, tmp_path: Path, two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    callee = start_sipp_uas(tmp_path, "uas_ring", calls=1)
    _register(node, tmp_path, b[0], b[1], f"127.0.0.1:{callee.port}")
    _call(node, tmp_path, _refused(tmp_path, 480), a, b[0])
    assert callee.finish().counter("SuccessfulCall") == 1
    [record] = _cdrs(node)
    assert (record["disposition"], record["status"]) == ("no-answer", "480")


def test_caller_cancels(node: Node, tmp_path: Path, two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    callee = start_sipp_uas(tmp_path, "uas_ring", calls=1)
    _register(node, tmp_path, b[0], b[1], f"127.0.0.1:{callee.port}")
    _call(node, tmp_path, "call_uac_cancel", a, b[0])
    assert callee.finish().counter("SuccessfulCall") == 1
    [record] = _cdrs(node)
    assert (record["disposition"], record["status"]) == ("cancelled", "487")


def test_unknown_number(node: Node, tmp_path: Path, two) -> None:  # type: ignore[no-untyped-def]
    a, _b = two
    _call(node, tmp_path, _refused(tmp_path, 404), a, "299")
    [record] = _cdrs(node)
    assert (record["disposition"], record["status"], record["callee"]) == ("unknown-number", "404", "299")


def test_bindings_and_cdrs_survive_kill_9(node: Node, tmp_path: Path, two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    callee = start_sipp_uas(tmp_path, "uas_answer", calls=2)
    _register(node, tmp_path, b[0], b[1], f"127.0.0.1:{callee.port}")
    _call(node, tmp_path, "call_uac_auth", a, b[0])
    node.crash_and_restart()
    assert "1 bindings restored" in node.log_text()
    [record] = _cdrs(node)  # the finished call's record made it
    assert record["disposition"] == "answered"
    _call(node, tmp_path, "call_uac_auth", a, b[0])  # 202 reachable without registering again
    assert callee.finish().counter("SuccessfulCall") == 2
    assert len(_cdrs(node)) == 2


def test_hold_reinvite_passes_through_both_legs(node: Node, tmp_path: Path, two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    callee = start_sipp_uas(tmp_path, "uas_hold", calls=1)
    _register(node, tmp_path, b[0], b[1], f"127.0.0.1:{callee.port}")
    _call(node, tmp_path, "call_uac_hold", a, b[0])
    served = callee.finish()
    assert served.counter("SuccessfulCall") == 1, served.stdout[-2000:]
    [record] = _cdrs(node)
    assert record["disposition"] == "answered"


def test_session_refresh_update_passes_through_both_legs(node: Node, tmp_path: Path, two) -> None:  # type: ignore[no-untyped-def]
    """RFC 4028 session timers are passed through: an UPDATE with Session-Expires from the
    caller reaches the callee, whose 200 (Session-Expires, Require: timer) comes back."""
    a, b = two
    callee = start_sipp_uas(tmp_path, "uas_update", calls=1)
    _register(node, tmp_path, b[0], b[1], f"127.0.0.1:{callee.port}")
    _call(node, tmp_path, "call_uac_update", a, b[0])
    served = callee.finish()
    assert served.counter("SuccessfulCall") == 1, served.stdout[-2000:]
    [record] = _cdrs(node)
    assert record["disposition"] == "answered"
