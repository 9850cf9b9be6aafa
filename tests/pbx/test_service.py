"""The group-commit writer: answers go out only after their commit, and nothing is lost when a
commit fails or the writer stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from voxgate.pbx.callstate import CallRecord, Disposition
from voxgate.pbx.location import Binding
from voxgate.pbx.service import Batch, GroupCommitWriter
from voxgate.sip.flow import Flow, Transport
from voxgate.sip.uri import parse_uri


class FakeStore:
    def __init__(self, failures: int = 0) -> None:
        self.batches: list[Batch] = []
        self.failures = failures
        self.gate = asyncio.Event()
        self.gate.set()

    async def write(self, batch: Batch) -> None:
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise OSError("database is locked")
        self.batches.append(batch)


def record(n: int) -> CallRecord:
    return CallRecord(f"c{n}", "201", "", "202", 1.0, None, 2.0, Disposition.BUSY, 486, "Busy", "x")


def writer_for(
    store: FakeStore, interval: float = 0.01
) -> tuple[GroupCommitWriter, list[str]]:
    answered: list[str] = []

    def done(then: list[Callable[[float], None]]) -> None:
        for answer in then:
            answer(0.0)

    return GroupCommitWriter(store, done, interval), answered  # type: ignore[arg-type]


def test_answers_follow_the_commit_and_concurrent_items_share_one() -> None:
    asyncio.run(_answers_follow_the_commit())


async def _answers_follow_the_commit() -> None:
    store = FakeStore()
    writer, answered = writer_for(store)
    writer.start()
    store.gate.clear()
    writer.record(record(1), lambda _t: answered.append("c1"))
    await asyncio.sleep(0.01)  # c1's commit is under way (blocked on the gate)
    for n in (2, 3, 4):
        writer.record(record(n), lambda _t, n=n: answered.append(f"c{n}"))
    assert answered == []
    store.gate.set()
    await asyncio.sleep(0.05)
    assert answered == ["c1", "c2", "c3", "c4"]
    assert [len(b.records) for b in store.batches] == [1, 3]
    await writer.close()


def test_changes_soon_after_a_commit_wait_for_the_interval_and_share_the_next() -> None:
    asyncio.run(_changes_share_the_next_commit())


async def _changes_share_the_next_commit() -> None:
    store = FakeStore()
    writer, answered = writer_for(store, interval=0.3)
    writer.start()
    writer.record(record(1), lambda _t: answered.append("c1"))
    await asyncio.sleep(0.05)  # far less than the interval: the first commit did not wait
    assert answered == ["c1"]
    writer.record(record(2), lambda _t: answered.append("c2"))
    await asyncio.sleep(0.05)  # a finished commit, an empty queue: still within the interval
    writer.record(record(3), lambda _t: answered.append("c3"))
    await asyncio.sleep(0.05)
    assert answered == ["c1"]
    await asyncio.sleep(0.3)
    assert answered == ["c1", "c2", "c3"]
    assert [len(b.records) for b in store.batches] == [1, 2]
    await writer.close()


def test_without_an_interval_each_change_after_a_commit_starts_the_next() -> None:
    asyncio.run(_no_interval())


async def _no_interval() -> None:
    store = FakeStore()
    writer, answered = writer_for(store, interval=0.0)
    writer.start()
    for n in (1, 2, 3):
        writer.record(record(n), lambda _t, n=n: answered.append(f"c{n}"))
        await asyncio.sleep(0.02)
    assert answered == ["c1", "c2", "c3"]
    assert [len(b.records) for b in store.batches] == [1, 1, 1]
    await writer.close()


def test_a_failed_commit_is_retried_before_anyone_is_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("voxgate.pbx.service.RETRY_DELAY", 0.01)
    asyncio.run(_failed_commit_is_retried())


async def _failed_commit_is_retried() -> None:
    store = FakeStore(failures=2)
    writer, answered = writer_for(store)
    writer.start()
    writer.record(record(1), lambda _t: answered.append("c1"))
    await asyncio.sleep(0.1)
    assert answered == ["c1"]
    assert len(store.batches) == 1
    await writer.close()


def test_close_writes_what_is_queued() -> None:
    asyncio.run(_close_writes_what_is_queued())


async def _close_writes_what_is_queued() -> None:
    store = FakeStore()
    writer, answered = writer_for(store)
    writer.start()
    store.gate.clear()
    writer.record(record(1), lambda _t: answered.append("c1"))
    await asyncio.sleep(0.01)
    closing = asyncio.ensure_future(writer.close())
    await asyncio.sleep(0.01)
    store.gate.set()
    await closing
    assert [r.call_id for b in store.batches for r in b.records] == ["c1"]
    assert answered == ["c1"]


def binding(contact: str, cseq: int) -> Binding:
    flow = Flow(Transport.UDP, ("127.0.0.1", 5060), ("192.0.2.1", 5060))
    return Binding("201", contact, parse_uri(contact), 1000.0, "cid", cseq, flow, 0.0)


def test_the_last_change_of_a_binding_in_a_batch_wins() -> None:
    asyncio.run(_last_change_wins())


async def _last_change_wins() -> None:
    store = FakeStore()
    writer, answered = writer_for(store)
    writer.start()
    store.gate.clear()
    writer.record(record(1), lambda _t: answered.append("c1"))
    await asyncio.sleep(0.01)  # the next changes wait for the following commit
    a, b = "sip:201@192.0.2.1", "sip:201@192.0.2.2"
    writer.bindings([binding(a, 1)], [], None, lambda _t: answered.append("a registered"))
    writer.bindings([binding(b, 1)], [], None, lambda _t: answered.append("b registered"))
    writer.bindings([], [binding(a, 2)], None, lambda _t: answered.append("a unregistered"))
    writer.bindings([binding(b, 2)], [], None, lambda _t: answered.append("b refreshed"))
    store.gate.set()
    await asyncio.sleep(0.05)
    second = store.batches[1]
    assert [(x.contact, x.cseq) for x in second.saved] == [(b, 2)]  # written once, the latest
    assert [(x.contact, x.cseq) for x in second.removed] == [(a, 2)]  # not written back
    assert answered == ["c1", "a registered", "b registered", "a unregistered", "b refreshed"]
    await writer.close()
