"""Netlists in the store, on SQLite and PostgreSQL: import replaces by title, bad files write
nothing, hand edits, export round trip, the node's snapshot, and an audit event per change."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from voxgate.policy.netblocks import NetlistError, parse_netlist
from voxgate.services.audit import Actor, AuditLog
from voxgate.services.netlists import NetlistChangeError, NetlistService
from voxgate.storage.engine import Store

ME = Actor("cli:tester")
COUNTRY = "# Country X\n192.0.2.0/24  # range one\n2001:db8::/32\n198.51.100.0/25\n"


def run(url: str, body: Callable[[NetlistService, AuditLog], Awaitable[None]]) -> None:
    async def main() -> None:
        store = await Store.open(url)
        try:
            await body(NetlistService(store), AuditLog(store))
        finally:
            await store.close()

    asyncio.run(main())


def test_import_then_reimport_replaces_the_netlist_of_that_title(store_url: str) -> None:
    async def body(service: NetlistService, audit: AuditLog) -> None:
        first = await service.import_text("block", COUNTRY, "x.txt", ME)
        assert (first.title, first.netblocks, first.replaced) == ("Country X", 3, 0)
        await service.import_text("block", "# Other\n203.0.113.0/24\n", "o.txt", ME)
        again = await service.import_text("block", "# Country X\n192.0.2.0/24\n", "x2.txt", ME)
        assert (again.netblocks, again.replaced) == (1, 3)
        sizes = {(s.kind, s.title): s.size for s in await service.summaries()}
        assert sizes == {("block", "Country X"): 1, ("block", "Other"): 1}
        events = await audit.recent()
        assert [e.action for e in events] == ["netlist.import"] * 3
        assert events[0].actor == "cli:tester" and "x2.txt" in events[0].detail

    run(store_url, body)


def test_a_bad_file_names_every_bad_line_and_changes_nothing(store_url: str) -> None:
    async def body(service: NetlistService, audit: AuditLog) -> None:
        await service.import_text("block", COUNTRY, "x.txt", ME)
        generation = await service.generation()
        with pytest.raises(NetlistError) as caught:
            await service.import_text("block", "# Country X\n10.0.0.0/8\nbogus\n1.2.3.4/40\n", "bad", ME)
        assert [p.split(":")[0] for p in caught.value.problems] == ["line 3", "line 4"]
        assert await service.generation() == generation
        assert len(await service.repo.entries("block")) == 3
        assert len(await audit.recent()) == 1

    run(store_url, body)


def test_hand_edits_and_their_refusals(store_url: str) -> None:
    async def body(service: NetlistService, audit: AuditLog) -> None:
        assert await service.add("allow", "198.51.100.7", ME, comment="office  NAT")
        assert not await service.add("allow", "198.51.100.7/32", ME)  # already there
        with pytest.raises(NetlistChangeError, match="bad netblock"):
            await service.add("block", "300.1.1.1", ME)
        with pytest.raises(NetlistChangeError, match="unknown list"):
            await service.add("deny", "192.0.2.1", ME)
        with pytest.raises(NetlistChangeError, match="not in the allow list"):
            await service.delete("allow", "192.0.2.1", ME)
        assert await service.delete("allow", "198.51.100.7", ME) == 1
        with pytest.raises(NetlistChangeError, match="no block netlist"):
            await service.delete_list("block", "Nothing", ME)
        actions = [e.action for e in await audit.recent()]
        assert actions == ["netlist.delete", "netlist.add"]

    run(store_url, body)


def test_export_reads_back_to_the_same_netlist(store_url: str) -> None:
    async def body(service: NetlistService, audit: AuditLog) -> None:
        del audit
        await service.import_text("block", COUNTRY, "x.txt", ME)
        text = await service.export_text("block", "Country X")
        again = parse_netlist(text)
        original = parse_netlist(COUNTRY)
        assert again.title == original.title
        assert [(e.network, e.comment) for e in again.entries] == [
            (e.network, e.comment) for e in original.entries
        ]

    run(store_url, body)


def test_snapshot_applies_both_lists_and_tracks_the_change_counter(store_url: str) -> None:
    async def body(service: NetlistService, audit: AuditLog) -> None:
        del audit
        empty = await service.snapshot()
        assert (len(empty.allow), len(empty.block), empty.generation) == (0, 0, 0)
        await service.import_text("block", COUNTRY, "x.txt", ME)
        await service.add("allow", "192.0.2.9", ME)
        snap = await service.snapshot()
        assert snap.generation == 2
        assert snap.block.match("192.0.2.200") == "Country X"
        assert snap.block.match("2001:db8:ffff::1") == "Country X"
        assert snap.allow.match("192.0.2.9") == "manual"
        assert snap.block.match("203.0.113.1") is None

    run(store_url, body)
