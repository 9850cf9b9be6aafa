"""Two real phones (baresip) register over TLS with digest auth and call each other through the
embedded call control: auto-answer, talk a few seconds, hang up; the call states on both phones
and the call record are checked."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from peers import Node, import_extensions, voxgate
from phones import Baresip

pytestmark = pytest.mark.interop

SECRETS = {"201": "Tq7-vLp2-Wz9k", "202": "Hx4-rMn8-Pq2v"}


def phone(node: Node, tmp_path: Path, number: str, address: str) -> Baresip:
    account = (
        f"<sip:{number}@127.0.0.1:{node.tls};transport=tls>;auth_pass={SECRETS[number]};"
        "answermode=auto;regint=300"
    )
    return Baresip(f"phone{number}", address, account, node.data_dir / "tls" / "cert.pem", tmp_path)


def test_two_baresip_phones_call_over_tls(node: Node, tmp_path: Path) -> None:
    import_extensions(node, tmp_path, list(SECRETS.items()))
    with phone(node, tmp_path, "201", "127.0.0.21") as alice, phone(node, tmp_path, "202", "127.0.0.22") as bob:
        alice.wait_registered()
        bob.wait_registered()
        alice.command("dial", f"sip:202@127.0.0.1:{node.tls};transport=tls")
        alice.wait_event("CALL_ESTABLISHED")
        bob.wait_event("CALL_ESTABLISHED")
        time.sleep(3)
        alice.command("hangup")
        alice.wait_event("CALL_CLOSED")
        bob.wait_event("CALL_CLOSED")
    log = node.log_text()
    assert "REGISTER 200" in log
    assert '"flow": "tls:' in log
    done = voxgate(node, "cdr", "export")
    [record] = list(csv.DictReader(io.StringIO(done.stdout)))
    assert (record["caller"], record["callee"], record["disposition"], record["status"]) == (
        "201", "202", "answered", "200"
    )
    assert 2.5 < float(record["duration"]) < 10
