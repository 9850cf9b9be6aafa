"""Network topologies for real-network tests, built from Linux network namespaces.

A :class:`Topology` creates namespaces (each with ``lo`` up), veth links between them,
addresses, default routes, forwarding, nftables masquerade and port forwarding, runs
processes inside them (``ip netns exec``), and tears all of it down on exit, also when
the test failed: its processes are stopped (the last started first), then anything else
still inside one of its namespaces is killed, then the namespaces are deleted (which
destroys their veths and nft tables with them).

Nothing here touches the host's own (root) namespace: veths are created directly
inside their namespaces (``ip -n A link add … peer … netns B``), addresses only exist
inside namespaces made here, and namespace names carry the pid of the test process
(``vgt<pid>-<n>-<role>``) so parallel runs don't collide; namespaces left by a killed
run (its pid gone) are removed by the next one.

Independent of voxgate: it needs ``ip`` (iproute2), ``nft`` for masquerade, and root.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, Literal

import pytest

#: Every namespace made here is named ``vgt<pid>-<n>-<role>``.
PREFIX: Final = "vgt"
_NAME_RE: Final = re.compile(rf"^{PREFIX}(\d+)-\d+-[a-z0-9]+$")
_ROLE_RE: Final = re.compile(r"^[a-z][a-z0-9]{0,11}$")
#: Interface names are at most 15 bytes (IFNAMSIZ - 1).
_IFNAME_RE: Final = re.compile(r"^[a-z][a-z0-9]{0,14}$")

_Output = int | IO[bytes] | None
#: ``setns(2)`` namespace type of a network namespace (linux/sched.h).
_CLONE_NEWNET: Final = 0x40000000


class NetnsError(RuntimeError):
    """An ``ip``/``nft`` command failed; the message has the command and its stderr."""


def _ip() -> str:
    ip = shutil.which("ip")
    if ip is None:
        raise NetnsError("`ip` (iproute2) is not installed")
    return ip


def _run(args: Sequence[str], *, stdin: str | None = None, timeout: float = 30) -> str:
    done = subprocess.run(  # noqa: PLW1510 - checked below, with stderr in the error
        list(args), input=stdin, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(args)} → exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


@functools.cache
def namespaces_available() -> str | None:
    """``None`` if this process can build namespaces, else why not (a pytest skip reason).

    Probes for real: creates and deletes one namespace.
    """
    if os.name != "posix" or not Path("/proc/self/ns/net").exists():
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs the tests as root)"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed"
    probe = f"{PREFIX}{os.getpid()}-0-probe"
    try:
        _run([_ip(), "netns", "add", probe])
    except (NetnsError, OSError, subprocess.TimeoutExpired) as err:
        return f"cannot create a network namespace here (container without CAP_SYS_ADMIN?): {err}"
    try:
        _run([_ip(), "netns", "delete", probe])
    except (NetnsError, OSError, subprocess.TimeoutExpired) as err:
        return f"cannot delete a network namespace here: {err}"
    return None


def remove_stale() -> list[str]:
    """Delete namespaces made here by test processes that no longer exist; returns their names.

    Only names of our own pattern whose pid is gone are touched.
    """
    gone: list[str] = []
    for name in list_namespaces():
        m = _NAME_RE.match(name)
        if m is None or Path(f"/proc/{m[1]}").exists():
            continue
        _kill_inside(name)
        with contextlib.suppress(NetnsError):
            _run([_ip(), "netns", "delete", name])
            gone.append(name)
    return gone


def list_namespaces() -> list[str]:
    """Names of the named network namespaces (``ip netns list``)."""
    return [line.split()[0] for line in _run([_ip(), "netns", "list"]).splitlines() if line.strip()]


def _pids_inside(name: str) -> list[int]:
    try:
        return [int(p) for p in _run([_ip(), "netns", "pids", name]).split()]
    except NetnsError:
        return []


def _kill_inside(name: str) -> None:
    for pid in _pids_inside(name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True, slots=True)
class Interface:
    """One end of a veth link: its namespace, name and address (with prefix length)."""

    netns: Namespace
    name: str
    address: ipaddress.IPv4Interface | ipaddress.IPv6Interface

    @property
    def ip(self) -> str:
        """The address alone, as text (e.g. ``10.231.0.1``)."""
        return str(self.address.ip)


@dataclass(eq=False)
class Namespace:
    """A network namespace of a :class:`Topology`."""

    name: str
    role: str
    #: What :meth:`popen` started, in order: shared by the namespaces of one topology.
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    @property
    def exec_prefix(self) -> list[str]:
        """Put in front of a command to run it inside this namespace."""
        return [_ip(), "netns", "exec", self.name]

    def run(self, *args: str, stdin: str | None = None, timeout: float = 30) -> str:
        """Run a command inside; its stdout, or :class:`NetnsError` if it failed."""
        return _run([*self.exec_prefix, *args], stdin=stdin, timeout=timeout)

    def popen(
        self, args: Sequence[str], *, stdout: _Output = None, stderr: _Output = None,
        cwd: Path | str | None = None, env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:  # fmt: skip
        """Start a command inside (stdin from /dev/null); it is stopped at teardown.

        ``ip netns exec`` execs the command itself: the Popen's pid is the command's.
        """
        process = subprocess.Popen(
            [*self.exec_prefix, *args], stdin=subprocess.DEVNULL, stdout=stdout,
            stderr=stderr, cwd=cwd, env=None if env is None else dict(env),
        )  # fmt: skip
        self.processes.append(process)
        return process

    def sysctl(self, key: str, value: str) -> None:
        """Set a per-namespace sysctl (``net.*``) inside, through ``/proc/sys`` (which shows
        the namespace of the process that opens it; no procps needed)."""
        if not re.fullmatch(r"net(\.[a-z0-9_-]+)+", key) or not re.fullmatch(r"[0-9a-z -]+", value):
            raise ValueError(f"sysctl {key}={value!r}: a net.* key and a plain value")
        self.run("sh", "-c", f'echo "{value}" > /proc/sys/{key.replace(".", "/")}')

    def enable_forwarding(self) -> None:
        """Route between its interfaces (IPv4 and IPv6)."""
        self.sysctl("net.ipv4.ip_forward", "1")
        self.sysctl("net.ipv6.conf.all.forwarding", "1")

    def default_route(self, via: Interface | str) -> None:
        """Send everything not on a link through ``via`` (an address on a shared link)."""
        gateway = via.ip if isinstance(via, Interface) else via
        family = "-6" if ":" in gateway else "-4"
        _run([_ip(), "-n", self.name, family, "route", "replace", "default", "via", gateway])

    def masquerade(self, out: Interface) -> None:
        """Source-NAT everything that leaves through ``out`` to ``out``'s address (nftables
        ``masquerade``, IPv4 and IPv6), as a home router or a firewall does; conntrack
        sends the answers back."""
        if out.netns is not self:
            raise ValueError(f"{out.name} is not an interface of {self.role}")
        if shutil.which("nft") is None:
            pytest.fail("nft is not installed: ./test installs Debian's nftables")
        self.run("nft", "-f", "-", stdin=(
            "table inet vgt_nat {\n"
            "  chain postrouting {\n"
            "    type nat hook postrouting priority srcnat; policy accept;\n"
            f'    oifname "{out.name}" masquerade\n'
            "  }\n"
            "}\n"
        ))  # fmt: skip

    def forward_port(
        self, inbound: Interface, protocol: Literal["udp", "tcp"], port: int, to: str,
        to_port: int | None = None,
    ) -> None:  # fmt: skip
        """Destination-NAT ``protocol``/``port`` arriving on ``inbound`` to ``to`` (port
        ``to_port``, default the same), as a firewall forwards ports to a host in its DMZ.
        The source stays the client's; conntrack rewrites the answers back."""
        if inbound.netns is not self:
            raise ValueError(f"{inbound.name} is not an interface of {self.role}")
        family = "ip6" if ":" in to else "ip"
        target = f"[{to}]" if family == "ip6" else to
        self.run("nft", "-f", "-", stdin=(
            "table inet vgt_dnat {\n"
            "  chain prerouting { type nat hook prerouting priority dstnat; policy accept; }\n"
            "}\n"
            f'add rule inet vgt_dnat prerouting iifname "{inbound.name}" meta nfproto '
            f"{'ipv6' if family == 'ip6' else 'ipv4'} {protocol} dport {port} "
            f"dnat {family} to {target}:{to_port or port}\n"
        ))  # fmt: skip

    def nft(self, ruleset: str) -> None:
        """Load an nftables ruleset (``nft -f -``) inside."""
        self.run("nft", "-f", "-", stdin=ruleset)

    def connect(self, host: str, port: int, timeout: float = 0.5) -> socket.socket:
        """A TCP connection opened from inside (e.g. to a phone's control port on the
        namespace's own ``lo``), usable from the test process.

        A socket belongs to the namespace it was created in: a helper thread enters this
        one (``setns(2)`` changes the network namespace of the calling thread only),
        creates and connects the socket, and goes back.  ``OSError`` if it fails."""
        made: list[socket.socket] = []
        failed: list[BaseException] = []

        def inside() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            with open("/proc/thread-self/ns/net", "rb") as own, \
                    open(f"/run/netns/{self.name}", "rb") as target:  # fmt: skip
                if libc.setns(target.fileno(), _CLONE_NEWNET) != 0:
                    failed.append(OSError(ctypes.get_errno(), f"setns into {self.name}"))
                    return
                try:
                    made.append(socket.create_connection((host, port), timeout=timeout))
                except OSError as err:
                    failed.append(err)
                finally:
                    if libc.setns(own.fileno(), _CLONE_NEWNET) != 0:
                        failed.append(OSError(ctypes.get_errno(), "setns back"))

        thread = threading.Thread(target=inside, name=f"connect-in-{self.role}")
        thread.start()
        thread.join()
        if failed:
            for sock in made:
                sock.close()
            raise failed[0]
        return made[0]


class Topology:
    """Namespaces, links and processes that go away together (a context manager).

    >>> with Topology() as net:
    ...     home, router = net.namespace("home"), net.namespace("router")
    ...     lan_home, lan_router = net.link(home, "10.231.1.2/24", router, "10.231.1.1/24")
    ...     home.default_route(lan_router)
    """

    _counter = 0

    def __init__(self) -> None:
        self.namespaces: list[Namespace] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self._closed = False

    def __enter__(self) -> Topology:
        remove_stale()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def namespace(self, role: str) -> Namespace:
        """A new namespace with ``lo`` up; ``role`` (a short lowercase word) ends its name."""
        if not _ROLE_RE.match(role):
            raise ValueError(f"role {role!r}: a lowercase word of at most 12 characters")
        Topology._counter += 1
        name = f"{PREFIX}{os.getpid()}-{Topology._counter}-{role}"
        _run([_ip(), "netns", "add", name])
        ns = Namespace(name, role, self.processes)
        self.namespaces.append(ns)
        _run([_ip(), "-n", name, "link", "set", "dev", "lo", "up"])
        return ns

    def link(
        self, a: Namespace, a_address: str, b: Namespace, b_address: str,
        *, a_name: str | None = None, b_name: str | None = None,
    ) -> tuple[Interface, Interface]:  # fmt: skip
        """A veth pair between ``a`` and ``b``, each end with its address (``10.231.0.1/24``
        or ``fd00:231::1/64``) and up.  Interface names default to the role of the other side.
        IPv6 addresses skip duplicate address detection (usable at once)."""
        a_if = a_name or b.role[:15]
        b_if = b_name or a.role[:15]
        for name in (a_if, b_if):
            if not _IFNAME_RE.match(name):
                raise ValueError(f"interface name {name!r}: lowercase, at most 15 characters")
        _run([_ip(), "-n", a.name, "link", "add", "name", a_if, "type", "veth",
              "peer", "name", b_if, "netns", b.name])  # fmt: skip
        return (
            self._configure(a, a_if, a_address),
            self._configure(b, b_if, b_address),
        )

    def add_address(self, end: Interface, address: str) -> Interface:
        """Another address on an existing interface (e.g. IPv6 beside IPv4)."""
        return self._configure(end.netns, end.name, address, up=False)

    @staticmethod
    def _configure(ns: Namespace, ifname: str, address: str, *, up: bool = True) -> Interface:
        iface = ipaddress.ip_interface(address)
        extra = ["nodad"] if iface.version == 6 else []
        _run([_ip(), "-n", ns.name, "addr", "add", address, "dev", ifname, *extra])
        if up:
            _run([_ip(), "-n", ns.name, "link", "set", "dev", ifname, "up"])
        return Interface(ns, ifname, iface)

    def stop_processes(self, timeout: float = 5) -> None:
        """Stop what :meth:`Namespace.popen` started, the last started first (a phone goes
        before the server it un-registers from): SIGTERM, then SIGKILL after ``timeout``."""
        while self.processes:
            process = self.processes.pop()
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def close(self) -> None:
        """Stop processes, kill stragglers, delete the namespaces; raises if one remains."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop_processes()
        finally:
            left: list[str] = []
            for ns in reversed(self.namespaces):
                _kill_inside(ns.name)
                try:
                    _run([_ip(), "netns", "delete", ns.name])
                except NetnsError as err:
                    left.append(str(err))
            if left:
                raise NetnsError("namespaces not removed: " + "; ".join(left))


@pytest.fixture
def netns() -> Iterator[Topology]:
    """A :class:`Topology` torn down after the test; skips where namespaces can't be made."""
    reason = namespaces_available()
    if reason is not None:
        pytest.skip(reason)
    with Topology() as topology:
        yield topology
