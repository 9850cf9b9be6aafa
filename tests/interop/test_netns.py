"""The namespace library itself (netns.py): NAT with real packets over IPv4 and IPv6, and a
teardown that leaves nothing behind, also when the test fails."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from netns import (
    PREFIX,
    Namespace,
    NetnsError,
    Topology,
    list_namespaces,
    namespaces_available,
    remove_stale,
)

pytestmark = pytest.mark.interop

#: Prints "<source address> <payload>" back to each datagram's sender, once per datagram.
_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 7000))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(f"{peer[0]} ".encode() + data, peer)
"""

_ASK = r"""
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for _ in range(10):
    s.sendto(b"hello", (sys.argv[1], 7000))
    try:
        print(s.recv(2048).decode())
        break
    except TimeoutError:
        pass
"""


def _skip_without_namespaces() -> None:
    reason = namespaces_available()
    if reason is not None:
        pytest.skip(reason)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan is reaped by whatever is pid 1, maybe late)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _root_links() -> list[str]:
    """The interfaces of the test process's (the host's) namespace."""
    return sorted(line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:])


def test_masquerade_rewrites_the_source_both_ways(netns: Topology, tmp_path: Path) -> None:
    server, router, home = netns.namespace("server"), netns.namespace("router"), netns.namespace("home")
    down, wan = netns.link(server, "10.231.0.1/24", router, "10.231.0.2/24", b_name="wan")
    netns.add_address(down, "fd00:231::1/64")
    netns.add_address(wan, "fd00:231::2/64")
    lan, up = netns.link(router, "10.231.1.1/24", home, "10.231.1.2/24", a_name="lan")
    netns.add_address(lan, "fd00:231:1::1/64")
    netns.add_address(up, "fd00:231:1::2/64")
    router.enable_forwarding()
    router.masquerade(wan)
    home.default_route(lan)
    home.default_route("fd00:231:1::1")
    for server_ip, public in (("10.231.0.1", "10.231.0.2"), ("fd00:231::1", "fd00:231::2")):
        _echo(server, server_ip, tmp_path)
        answer = home.run(sys.executable, "-c", _ASK, server_ip)
        assert answer.split() == [public, "hello"], answer


def _echo(ns: Namespace, address: str, tmp_path: Path) -> None:
    out_path = tmp_path / f"echo-{ns.role}-{address}.txt"
    with out_path.open("wb") as out:
        echo = ns.popen([sys.executable, "-c", _ECHO, address], stdout=out)
    deadline = time.monotonic() + 10
    while "ready" not in out_path.read_text():
        assert echo.poll() is None and time.monotonic() < deadline, "echo server did not start"
        time.sleep(0.05)


def test_port_forwarding_to_a_dmz_keeps_the_client_address(netns: Topology, tmp_path: Path) -> None:
    client, firewall, dmz = netns.namespace("client"), netns.namespace("firewall"), netns.namespace("dmz")
    _, wan = netns.link(client, "10.231.0.1/24", firewall, "10.231.0.2/24", b_name="wan")
    inside, host = netns.link(firewall, "10.231.5.1/24", dmz, "10.231.5.2/24", a_name="dmz")
    dmz.default_route(inside)
    firewall.enable_forwarding()
    firewall.masquerade(wan)  # the DMZ's own outgoing traffic
    firewall.forward_port(wan, "udp", 7000, host.ip)
    _echo(dmz, host.ip, tmp_path)
    # the client only knows the firewall's public address; the DMZ host sees the client's
    assert client.run(sys.executable, "-c", _ASK, wan.ip).split() == ["10.231.0.1", "hello"]


def test_teardown_leaves_nothing_even_when_the_test_fails() -> None:
    _skip_without_namespaces()
    before = _root_links()
    with pytest.raises(RuntimeError, match="the test failed"), Topology() as net:
        a, b = net.namespace("a"), net.namespace("b")
        net.link(a, "10.231.0.1/24", b, "10.231.0.2/24")
        a.masquerade(net.link(a, "10.231.1.1/24", net.namespace("c"), "10.231.1.2/24")[0])
        tracked = a.popen(["sleep", "600"])
        # a grandchild that the topology never saw: found with `ip netns pids`
        forked = int(b.run("sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!").strip())
        names = [ns.name for ns in net.namespaces]
        assert set(names) <= set(list_namespaces())
        raise RuntimeError("the test failed")
    assert not set(names) & set(list_namespaces())
    assert tracked.poll() is not None
    deadline = time.monotonic() + 5
    while _running(forked) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(forked)
    assert _root_links() == before, "the host's own namespace changed"


def test_namespaces_of_a_dead_test_process_are_removed() -> None:
    _skip_without_namespaces()
    stale = f"{PREFIX}99999999-1-left"  # above any pid_max: that process can't exist
    with Topology() as net:
        net.namespace("probe")  # a namespace of ours, alive: must stay
        subprocess.run(["ip", "netns", "add", stale], check=True)
        assert stale in list_namespaces()
        assert remove_stale() == [stale]
        assert stale not in list_namespaces()
        assert net.namespaces[0].name in list_namespaces()


def test_bad_names_and_failed_commands_raise() -> None:
    _skip_without_namespaces()
    with pytest.raises(ValueError, match="role"):
        Topology().namespace("Not A Role")
    with pytest.raises(ValueError, match="interface name"), Topology() as net:
        net.link(net.namespace("a"), "10.231.0.1/24", net.namespace("b"), "10.231.0.2/24",
                 a_name="far-too-long-a-name")  # fmt: skip
    with pytest.raises(NetnsError, match="exit"), Topology() as net:
        net.namespace("a").run("false")


def test_the_skip_reason_says_why_namespaces_cannot_be_made(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = namespaces_available.__wrapped__  # uncached
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert probe() == "network namespaces need root (CI runs the tests as root)"
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr("shutil.which", lambda name: None if name == "ip" else f"/usr/bin/{name}")
    assert probe() == "`ip` (iproute2) is not installed"
    monkeypatch.setattr("shutil.which", lambda name: "/bin/false")  # `ip netns add` fails
    assert str(probe()).startswith("cannot create a network namespace here")
