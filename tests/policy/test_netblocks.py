"""Netlists (NET-1): the text format, and lookups checked against ipaddress on random sets."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxgate.policy.netblocks import NetblockSet, NetlistError, format_netlist, parse_netlist

TEXT = """# Blocked countries
# exported 2026-11-01

192.0.2.0/24        # TEST-NET-1
198.51.100.7 # one host
2001:db8::/32
203.0.113.9/24      # host bits set: the /24
"""


def test_parse_title_entries_and_comments() -> None:
    netlist = parse_netlist(TEXT)
    assert netlist.title == "Blocked countries"
    assert [(str(e.network), e.comment, e.line) for e in netlist.entries] == [
        ("192.0.2.0/24", "TEST-NET-1", 4),
        ("198.51.100.7/32", "one host", 5),
        ("2001:db8::/32", "", 6),
        ("203.0.113.0/24", "host bits set: the /24", 7),
    ]
    again = parse_netlist(format_netlist(netlist))
    assert again.title == netlist.title
    assert [(e.network, e.comment) for e in again.entries] == [(e.network, e.comment) for e in netlist.entries]


def test_every_bad_line_is_named_and_nothing_is_used() -> None:
    with pytest.raises(NetlistError) as failure:
        parse_netlist("# t\n10.0.0.0/8\n10.0.0.0/33\nexample.com\n1.2.3.4 5.6.7.8\n", "cc.txt")
    assert [p.split(":")[0] for p in failure.value.problems] == ["line 3", "line 4", "line 5"]
    assert str(failure.value).startswith("cc.txt: 3 bad line(s), nothing loaded")


def test_lookups_with_tags_and_overlaps() -> None:
    blocks = NetblockSet.of([
        parse_netlist("# A\n10.0.0.0/24\n10.0.0.128/25\n2001:db8::/32\n"),
        parse_netlist("# B\n10.0.1.0/24\n10.0.0.0/8\n"),
    ])  # fmt: skip
    # inside both: the block that starts first wins, the larger one on a tie (B's /8)
    assert blocks.match("10.0.0.200") == "B"
    blocks2 = NetblockSet.of([parse_netlist("# A\n10.0.0.0/24\n"), parse_netlist("# B\n10.0.1.0/24\n")])
    assert blocks2.match("10.0.1.5") == "B"  # adjacent to A's block: not merged into it
    assert blocks2.match("10.0.0.255") == "A"
    assert blocks.match("10.200.0.1") == "B"
    assert blocks.match("11.0.0.1") is None
    assert blocks.match("2001:db8::1") == "A"
    assert blocks.match("[2001:db8::2]") == "A"
    assert blocks.match("::ffff:10.0.1.9") == "B"  # IPv4-mapped source
    assert "2001:db9::1" not in blocks
    for bad in ("10.0.0", "10.0.0.256", "010.0.0.1", "x", ""):
        with pytest.raises(ValueError, match="not an IP address"):
            blocks.match(bad)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_random_sets_agree_with_ipaddress(seed: int) -> None:
    rng = random.Random(seed)
    networks = [
        ipaddress.ip_network((rng.getrandbits(32), rng.randint(8, 32)), strict=False)
        for _ in range(rng.randint(0, 60))
    ]
    blocks = NetblockSet((n, "t") for n in networks)
    for _ in range(200):
        address = ipaddress.IPv4Address(rng.getrandbits(32))
        if networks and rng.random() < 0.5:  # probe inside and at the edges of blocks too
            n = rng.choice(networks)
            address = rng.choice([n.network_address, n.broadcast_address,
                                  n.network_address + rng.randrange(n.num_addresses)])  # fmt: skip
        expected = any(address in n for n in networks)
        assert (str(address) in blocks) is expected


def test_packed_addresses_match_like_text() -> None:
    import socket  # noqa: PLC0415 - the listeners' side of the interface

    blocks = NetblockSet.of([parse_netlist("# A\n192.0.2.0/24\n2001:db8::/32\n")])
    assert blocks.match_packed(socket.inet_pton(socket.AF_INET, "192.0.2.77")) == "A"
    assert blocks.match_packed(socket.inet_pton(socket.AF_INET, "192.0.3.1")) is None
    assert blocks.match_packed(socket.inet_pton(socket.AF_INET6, "2001:db8::9")) == "A"
    assert blocks.match_packed(socket.inet_pton(socket.AF_INET6, "::ffff:192.0.2.1")) == "A"
    with pytest.raises(ValueError, match="4 or 16 bytes"):
        blocks.match_packed(b"\x01\x02")
