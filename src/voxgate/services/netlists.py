"""The allow and block lists (NET-1): named netlists imported from files or edited by hand.

A netlist is named by its title (the first comment line of its file, e.g.
"Blocked countries"); importing a file with the same title again replaces that
netlist, so an updated country list is one command.  Netblocks added by hand
go to the netlist ``manual`` unless another title is given.  Every change is
one transaction, bumps the change counter (running nodes swap in the new sets
within seconds) and writes an audit event.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass
from typing import Final

from voxgate.policy.netblocks import NetblockSet, Netlist, parse_netlist
from voxgate.services.audit import Actor, AuditLog
from voxgate.storage.engine import Store
from voxgate.storage.repos.netblocks import NetblockRecord, NetblockRepo, NetlistSummary

KINDS: Final = ("allow", "block")
#: Title of the netlist that hand-added netblocks go to.
MANUAL: Final = "manual"
MAX_TITLE: Final = 128
MAX_COMMENT: Final = 200


class NetlistChangeError(Exception):
    """A refused change; the message says what and why."""


@dataclass(frozen=True, slots=True)
class NetlistImport:
    """What an import did."""

    kind: str
    title: str
    netblocks: int
    replaced: int


@dataclass(frozen=True, slots=True)
class NetlistSnapshot:
    """The lists a node applies, and the change counter they were read at."""

    allow: NetblockSet
    block: NetblockSet
    generation: int


def check_kind(kind: str) -> str:
    """``allow`` or ``block``."""
    if kind not in KINDS:
        raise NetlistChangeError(f"unknown list {kind!r}: use allow or block")
    return kind


def check_title(title: str) -> str:
    """A netlist title: printable, one line, at most 128 characters, not empty."""
    title = title.strip()
    if not title or len(title) > MAX_TITLE or not title.isprintable():
        raise NetlistChangeError(f"bad netlist title {title!r}: 1 to {MAX_TITLE} printable "
                                 "characters")  # fmt: skip
    return title


def check_network(text: str) -> str:
    """A netblock (``192.0.2.0/24``, ``2001:db8::/32``, or one address) in canonical form."""
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError as err:
        raise NetlistChangeError(f"bad netblock {text!r}: {err}") from None


class NetlistService:
    """Netlists in the store: import, add, delete, list, export, and the node's snapshot."""

    def __init__(self, store: Store) -> None:
        self.repo = NetblockRepo(store)
        self.audit = AuditLog(store)

    async def import_text(
        self, kind: str, text: str, source: str, actor: Actor, *, title: str | None = None
    ) -> NetlistImport:
        """Replace netlist ``title`` (default: the file's title line, else ``source``) of the
        ``kind`` list with the netblocks of ``text``; raises
        :class:`~voxgate.policy.netblocks.NetlistError` naming every bad line, writing nothing."""
        check_kind(kind)
        netlist = parse_netlist(text, source)
        name = check_title(title or netlist.title or source)
        records = _records(kind, name, netlist)
        replaced = await self.repo.replace_list(kind, name, records)
        await self.audit.record(actor, "netlist.import", f"{kind} list {name!r}",
                                f"{len(records)} netblocks from {source} (replacing "
                                f"{replaced})")  # fmt: skip
        return NetlistImport(kind, name, len(records), replaced)

    async def add(
        self, kind: str, network: str, actor: Actor, *, comment: str = "", title: str = MANUAL
    ) -> bool:
        """Add one netblock; ``False`` when that netlist already has it."""
        check_kind(kind)
        record = NetblockRecord(kind, check_title(title), check_network(network),
                                _comment(comment))  # fmt: skip
        fresh = await self.repo.add([record])
        if fresh:
            await self.audit.record(actor, "netlist.add", f"{kind} list {record.title!r}",
                                    record.network + (f" # {record.comment}"
                                                      if record.comment else ""))  # fmt: skip
        return bool(fresh)

    async def delete(
        self, kind: str, network: str, actor: Actor, *, title: str | None = None
    ) -> int:
        """Delete a netblock from the ``kind`` list (every netlist holding it, or only
        ``title``); raises :class:`NetlistChangeError` when no netlist holds it."""
        check_kind(kind)
        canonical = check_network(network)
        count = await self.repo.delete(kind, canonical, title)
        if not count:
            where = f"netlist {title!r}" if title else f"the {kind} list"
            raise NetlistChangeError(f"{canonical} is not in {where}")
        await self.audit.record(actor, "netlist.delete", f"{kind} list {title or '*'!r}",
                                canonical)  # fmt: skip
        return count

    async def delete_list(self, kind: str, title: str, actor: Actor) -> int:
        """Delete a whole netlist; raises :class:`NetlistChangeError` when there is none."""
        check_kind(kind)
        count = await self.repo.delete_list(kind, title)
        if not count:
            raise NetlistChangeError(f"there is no {kind} netlist {title!r}")
        await self.audit.record(actor, "netlist.delete", f"{kind} list {title!r}",
                                f"the whole netlist ({count} netblocks)")  # fmt: skip
        return count

    async def entries(self, kind: str, title: str | None = None) -> list[NetblockRecord]:
        """The netblocks of the ``kind`` list (or of its netlist ``title``), oldest first."""
        return await self.repo.entries(check_kind(kind), title)

    async def summaries(self) -> list[NetlistSummary]:
        """Every netlist with its size."""
        return await self.repo.summaries()

    async def export_text(self, kind: str, title: str | None = None) -> str:
        """The ``kind`` list (or one netlist of it) in the netlist text format, one section per
        netlist, each starting with its title line."""
        check_kind(kind)
        groups: dict[str, list[NetblockRecord]] = defaultdict(list)
        for record in await self.repo.entries(kind, title):
            groups[record.title].append(record)
        sections = []
        for name, records in groups.items():
            lines = [f"# {name}"]
            lines += [f"{r.network}  # {r.comment}" if r.comment else r.network for r in records]
            sections.append("\n".join(lines) + "\n")
        return "\n".join(sections)

    async def snapshot(self) -> NetlistSnapshot:
        """The allow and block sets to apply, each netblock tagged with its netlist's title."""
        records, generation = await self.repo.snapshot()
        return self.build_snapshot(records, generation)

    @staticmethod
    def build_snapshot(records: list[NetblockRecord], generation: int) -> NetlistSnapshot:
        """The sets of ``records`` (CPU only: a node builds big ones in a worker thread)."""
        lists: dict[str, list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]] = {
            kind: [] for kind in KINDS
        }
        for record in records:
            lists[record.kind].append((ipaddress.ip_network(record.network), record.title))
        return NetlistSnapshot(NetblockSet(lists["allow"]), NetblockSet(lists["block"]),
                               generation)  # fmt: skip

    async def generation(self) -> int:
        """The lists' change counter."""
        return await self.repo.generation()


def _records(kind: str, title: str, netlist: Netlist) -> list[NetblockRecord]:
    seen: dict[str, NetblockRecord] = {}
    for entry in netlist.entries:  # a netblock listed twice: the last comment wins
        network = str(entry.network)
        seen.pop(network, None)
        seen[network] = NetblockRecord(kind, title, network, _comment(entry.comment))
    return list(seen.values())


def _comment(text: str) -> str:
    text = " ".join(text.split())
    return text[:MAX_COMMENT]
