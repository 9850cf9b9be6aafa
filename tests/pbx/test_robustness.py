"""The call control takes every message of the torture corpus (RFC 4475 and our own) without
raising: each is answered, refused or dropped, and the core keeps working afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import REALM, Phone, extension, make_bench
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxgate.sip.flow import Flow, Transport

CORPUS = sorted((Path(__file__).resolve().parents[1] / "corpus").rglob("*.sip"))


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_corpus_message_through_the_pbx_core(path: Path) -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    flow = Flow(Transport.UDP, ("127.0.0.1", 5060), ("192.0.2.99", 5060))
    bench.core.receive(path.read_bytes(), flow, bench.now)  # must not raise
    bench.flush()
    bench.advance(40)  # every timer the message started fires without raising
    phone = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1")
    assert phone.register().status == 200  # and the core still serves
    assert phone.bench.core.registrar.digest.realm == REALM


_SEEDS = [p.read_bytes() for p in CORPUS if p.parent.name in ("valid", "application")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 4000), st.binary(max_size=8)), max_size=6),
)
def test_mutated_messages_never_raise_out_of_the_core(seed: bytes, edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(seed)
    for offset, insert in edits:  # overwrite a few bytes at a few places
        at = offset % max(len(data), 1)
        data[at : at + len(insert)] = insert
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    flow = Flow(Transport.UDP, ("127.0.0.1", 5060), ("192.0.2.99", 5060))
    bench.core.receive(bytes(data), flow, bench.now)
    bench.flush()
    bench.advance(40)
