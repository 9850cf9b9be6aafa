"""IP allow and block lists (NET-1): the netlist text format and a fast lookup.

The text format, as published per-country and by abuse lists::

    # Blocked countries            <- the first comment line is the list's title
    192.0.2.0/24                   # a netblock a line
    2001:db8::/32  # a trailing comment
    198.51.100.7                   # a single address is a /32 (IPv6: /128)

Blank lines and other ``#`` lines are ignored.  A bad line is reported with its
line number and nothing of the file is used (:class:`NetlistError`).

:class:`NetblockSet` answers "is this address in the set, and in which list?"
with a binary search over sorted, merged address ranges (one ``bisect`` on a
list of ints per lookup), so a country-size list of 100,000 netblocks costs the
same as a short one (``bench/bench_netblocks.py``).  Sets are immutable: a
reload builds a new one and swaps it in.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class NetlistError(ValueError):
    """A netlist that can't be used: every bad line, with its number."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: {len(problems)} bad line(s), nothing loaded:\n"
                         + "\n".join(problems))  # fmt: skip
        self.source = source
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Entry:
    """One netblock of a list, with the comment written after it."""

    network: Network
    comment: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class Netlist:
    """A parsed list: its title (first comment line) and its netblocks in file order."""

    title: str
    entries: tuple[Entry, ...] = field(default=())


def parse_netlist(text: str, source: str = "netlist", *, max_entries: int = 1_000_000) -> Netlist:
    """Parse the netlist text format; raises :class:`NetlistError` naming every bad line."""
    title = ""
    entries: list[Entry] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if not title and not entries:
                title = line.lstrip("#").strip()
            continue
        block, _, comment = line.partition("#")
        block = block.strip()
        if not block or any(c.isspace() for c in block):
            problems.append(f"line {number}: expected one netblock, got {block[:60]!r}")
            continue
        try:
            network = ipaddress.ip_network(block, strict=False)
        except ValueError as err:
            problems.append(f"line {number}: {err}")
            continue
        entries.append(Entry(network, comment.strip(), number))
        if len(entries) > max_entries:
            problems.append(f"line {number}: more than {max_entries} netblocks")
            break
    if problems:
        raise NetlistError(source, problems[:100])
    return Netlist(title, tuple(entries))


def format_netlist(netlist: Netlist) -> str:
    """The text format of ``netlist`` (what :func:`parse_netlist` reads back)."""
    lines = [f"# {netlist.title}"] if netlist.title else []
    for entry in netlist.entries:
        lines.append(f"{entry.network}  # {entry.comment}" if entry.comment else str(entry.network))
    return "\n".join(lines) + "\n"


class NetblockSet:
    """An immutable set of netblocks, each tagged (e.g. with its list's title)."""

    __slots__ = ("_v4", "_v6", "size")

    def __init__(self, blocks: Iterable[tuple[Network, str]] = ()) -> None:
        v4: list[tuple[int, int, str]] = []
        v6: list[tuple[int, int, str]] = []
        size = 0
        for network, tag in blocks:
            first = int(network.network_address)
            last = first + network.num_addresses - 1
            (v4 if network.version == 4 else v6).append((first, last, tag))
            size += 1
        self._v4 = _Ranges(v4)
        self._v6 = _Ranges(v6)
        #: How many netblocks went in (before merging).
        self.size = size

    @classmethod
    def of(cls, netlists: Iterable[Netlist]) -> NetblockSet:
        """One set of several lists, each netblock tagged with its list's title."""
        return cls((e.network, n.title) for n in netlists for e in n.entries)

    def __len__(self) -> int:
        return self.size

    def match(self, address: str) -> str | None:
        """The tag of a netblock holding ``address`` (an IP literal), or ``None``.

        Raises :class:`ValueError` if ``address`` is not an IP address literal.
        """
        if ":" in address:
            value = int(ipaddress.IPv6Address(address.strip("[]").split("%", 1)[0]))
            mapped = value >> 32 == 0xFFFF  # ::ffff:a.b.c.d is an IPv4 source
            return self._v4.find(value & 0xFFFFFFFF) if mapped else self._v6.find(value)
        return self._v4.find(_ipv4(address))

    def match_packed(self, packed: bytes) -> str | None:
        """Like :meth:`match` for an address in network byte order (4 or 16 bytes), as
        ``socket.inet_pton`` gives it: the fast path of the listeners."""
        value = int.from_bytes(packed, "big")
        if len(packed) == 4:
            return self._v4.find(value)
        if len(packed) != 16:
            raise ValueError(f"a packed address has 4 or 16 bytes, not {len(packed)}")
        if value >> 32 == 0xFFFF:
            return self._v4.find(value & 0xFFFFFFFF)
        return self._v6.find(value)

    def __contains__(self, address: str) -> bool:
        return self.match(address) is not None


class _Ranges:
    """Disjoint, sorted [first, last] segments with a tag, searched with bisect.

    Where netblocks overlap, the part already covered keeps the tag of the block that
    starts first (the larger one on a tie); adjacent segments with the same tag are joined.
    """

    __slots__ = ("_firsts", "_lasts", "_tags")

    def __init__(self, ranges: list[tuple[int, int, str]]) -> None:
        ranges.sort(key=lambda r: (r[0], -r[1]))
        firsts: list[int] = []
        lasts: list[int] = []
        tags: list[str] = []
        for start, last, tag in ranges:
            first = start
            if lasts and first <= lasts[-1]:  # overlaps what is covered already
                if last <= lasts[-1]:
                    continue
                first = lasts[-1] + 1
            if lasts and first == lasts[-1] + 1 and tags[-1] == tag:
                lasts[-1] = last
                continue
            firsts.append(first)
            lasts.append(last)
            tags.append(tag)
        self._firsts = firsts
        self._lasts = lasts
        self._tags = tags

    def find(self, value: int) -> str | None:
        at = bisect.bisect_right(self._firsts, value) - 1
        if at >= 0 and value <= self._lasts[at]:
            return self._tags[at]
        return None


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")


def _ipv4(address: str) -> int:
    """A dotted-quad IPv4 literal as an int (faster than ipaddress, as strict: no leading
    zeros, each octet 0-255)."""
    m = _IPV4_RE.fullmatch(address)
    if m is None:
        raise ValueError(f"not an IP address: {address!r}")
    a, b, c, d = m.groups()
    return int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)
