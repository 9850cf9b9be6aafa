"""Authenticated registrations/s through the edge over TLS, and the same scenario straight to
the call control (no edge) for comparison.

Targets (each a `voxgate serve` on free 127.0.0.1 ports, one TLS listener):
  edge  the edge enabled in front of the embedded call control: --users SIP users (imported
        with `voxgate sipuser import`, each tied to its own device) whose devices are
        enabled (`voxgate device import`), and their extensions (`voxgate ext import`).
        A device REGISTER (MAC in +sip.instance) → 401 → REGISTER with credentials; the
        edge checks the SIP user and the device, then registers the extension with the call
        control from its LAN side (REGISTER → 401 → REGISTER with the level-2 credential
        → 200) before it answers 200.
  pbx   the edge disabled: the same devices register with the call control itself over its
        TLS listener, as the extensions (REGISTER → 401 → REGISTER → 200).
SIPp (tests/interop/scenarios/register_device.xml; Debian's SIPp has no TLS) speaks TCP to
a socat TCP→TLS bridge: --connections SIPp processes, each one TCP connection (-t t1), so
as many TLS connections, each registering its share of the users in turn at its share of
the offered rate.  A step is clean when no registration failed and at least 95 % of the
offered rate was achieved; steps stop at the first one that is not.  Each step prints the
CPU of the node (one process: the edge and the call control share its event loop), of
socat and of SIPp, as shares of the machine's cores.  The achieved rate is over SIPp's full
one-second statistics periods (its start, the connection set-up and the last answers left
out); between steps the bench waits until the node is idle again (the edge unregisters the
devices of each closed connection with the call control).

    .venv/bin/python bench/bench_edge.py [--target both|edge|pbx] [--rates 100,200,...]
        [--seconds 20] [--users 1000] [--connections 4]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pbx  # bench/bench_pbx.py: steps, SIPp counters, CPU of a process tree
import users as users_module  # bench/scenarios/users.py (bench_pbx put it on sys.path)
from bench_pbx import HOST, Step, free_port, sipp_counters, stop, tree_cpu

SCENARIO = bench_pbx.ROOT / "tests" / "interop" / "scenarios" / "register_device.xml"
EDGE_REALM = "voxgate-edge"


def mac_of(i: int) -> str:
    """A locally administered MAC per bench device."""
    return f"02{i:010x}"


def device_password(number: str, seed: str) -> str:
    """The level-1 (device) password of bench SIP user ``dev<number>``: not the extension's."""
    return str(users_module.secret_for(f"dev{number}", seed))


@dataclass
class EdgeStep(Step):
    """A step, with the CPU the TCP→TLS bridge used."""

    bridge_cpu: float = 0.0
    wall: float = 0.0  # seconds from starting SIPp to its end: what the CPU shares are of
    steady: float = 0.0  # registrations/s over SIPp's full statistics periods
    slow_commits: int = 0  # the call control's "slow commit" warnings (> 200 ms) in the step


    @property
    def rate(self) -> float:
        return self.steady


@dataclass
class Bridge:
    process: subprocess.Popen[bytes]
    port: int


@dataclass
class Target:
    name: str
    process: subprocess.Popen[bytes]
    tls_port: int
    log: Path

    def check(self) -> None:
        if self.process.poll() is not None:
            raise SystemExit(f"{self.name} exited ({self.process.returncode}):\n"
                             + self.log.read_text(errors="replace")[-3000:])  # fmt: skip


def _config(init_text: str, tls: int, pbx_port: int, edge: bool, log_level: str) -> str:
    kept: list[str] = []
    skipping = False
    for line in init_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            skipping = stripped in ("[[sip.listeners]]", "[log]", "[pbx]", "[edge]")
        if not skipping:
            kept.append(line)
    text = "\n".join(kept) + (
        f'\n\n[[sip.listeners]]\ntransport = "tls"\naddress = "{HOST}"\nport = {tls}\n'
        f'\n[log]\nlevel = "{log_level}"\n'
        f'\n[pbx]\nrealm = "{users_module.DEFAULT_REALM}"\ndigest_algorithms = "MD5"\n'
    )
    if edge:
        text += (f'listen_address = "{HOST}"\nlisten_port = {pbx_port}\n'
                 f'\n[edge]\nenabled = true\nrealm = "{EDGE_REALM}"\n'
                 f'upstream_host = "{HOST}"\nupstream_port = {pbx_port}\n')  # fmt: skip
    return text


def _voxgate(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "voxgate", *args], capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"voxgate {' '.join(args[:2])} failed:\n{done.stdout}{done.stderr}"[-3000:])


@contextlib.contextmanager
def start_node(work: Path, edge: bool, numbers: list[str], args: argparse.Namespace) -> Iterator[Target]:
    data = work / "data"
    _voxgate("init", "--data", str(data))
    config = data / "voxgate.toml"
    tls = free_port()
    config.write_text(_config(config.read_text(), tls, free_port(), edge, args.log_level))
    conf = ("--config", str(config))
    extensions = users_module.write_extensions_csv(work / "extensions.csv", numbers, args.seed)
    _voxgate("ext", "import", str(extensions), *conf)
    if edge:
        sipusers = work / "sipusers.csv"
        sipusers.write_text(
            "username,password,extension,upstream_username,upstream_secret,device_mac,enabled\n"
            + "".join(f"dev{n},{device_password(n, args.seed)},{n},{n},"
                      f"{users_module.secret_for(n, args.seed)},{mac_of(i)},true\n"
                      for i, n in enumerate(numbers))
        )  # fmt: skip
        _voxgate("sipuser", "import", str(sipusers), *conf)
        devices = work / "devices.csv"
        devices.write_text("mac,description,enabled\n" + "".join(
            f"{mac_of(i)},bench device {n},true\n" for i, n in enumerate(numbers)))  # fmt: skip
        _voxgate("device", "import", str(devices), *conf)
    log = work / "voxgate.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "voxgate", "serve", *conf], stdout=out,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    target = Target("edge" if edge else "pbx", process, tls, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            target.check()
            try:
                socket.create_connection((HOST, tls), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"nothing listens on {HOST}:{tls}") from None
                time.sleep(0.1)
        yield target
    finally:
        stop(process)


@contextlib.contextmanager
def tls_bridge(target: Target) -> Iterator[Bridge]:
    """socat: TCP on 127.0.0.1 → TLS to the target, one TLS connection per TCP connection."""
    port = free_port()
    process = subprocess.Popen(
        ["socat", f"TCP-LISTEN:{port},bind={HOST},reuseaddr,fork,backlog=512",
         f"OPENSSL:{HOST}:{target.tls_port},verify=0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("socat did not listen") from None
                time.sleep(0.05)
        yield Bridge(process, port)
    finally:
        stop(process)


def injection_files(work: Path, edge: bool, numbers: list[str], connections: int,
                    seed: str) -> list[Path]:  # fmt: skip
    """One SIPp -inf per connection, each with its own users: (user, auth keyword, contact,
    MAC)."""
    files = []
    for c in range(connections):
        rows = []
        for i, n in list(enumerate(numbers))[c::connections]:
            user, secret = (f"dev{n}", device_password(n, seed)) if edge else (
                n, users_module.secret_for(n, seed))  # fmt: skip
            rows.append((user, f"[authentication username={user} password={secret}]",
                         f"{HOST}:{5999}", mac_of(i)))  # fmt: skip
        files.append(users_module.write_injection(work / f"register-{c}.csv", rows))
    return files


def run_step(work: Path, target: Target, bridge: Bridge, rate: int, seconds: int,
             infs: list[Path]) -> EdgeStep:  # fmt: skip
    share = max(1, rate // len(infs))
    step = EdgeStep(share * len(infs))
    processes = []
    for i, inf in enumerate(infs):
        stats = work / f"{target.name}-{rate}-{i}.csv"
        args = [
            "sipp", f"{HOST}:{bridge.port}", "-sf", str(SCENARIO), "-t", "t1",
            "-i", HOST, "-p", str(free_port()), "-inf", str(inf), "-r", str(share),
            "-m", str(share * seconds), "-l", str(max(share * 4, 200)),
            "-timeout", f"{seconds * 3 + 30}s", "-nostdin", "-trace_stat", "-stf", str(stats),
            "-fd", "1", "-trace_err", "-error_file", str(stats.with_suffix(".errors")),
            "-max_recv_loops", "10000", "-recv_timeout", "10000", *bench_pbx.SIPP_BUFFERS,
        ]  # fmt: skip
        processes.append((stats, subprocess.Popen(
            args, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "TERM": "dumb"},
        )))  # fmt: skip
    slow_before = target.log.read_text(errors="replace").count("slow commit")
    node_before, socat_before = tree_cpu(target.process.pid), own_and_reaped_cpu(bridge.process.pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    for stats, process in processes:
        try:
            _, err = process.communicate(timeout=seconds * 3 + 60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        counters = sipp_counters(stats) if stats.exists() else {}
        if not counters:
            step.errors.append(f"SIPp wrote no statistics (exit {process.returncode}): {err[-500:]}")
            continue
        step.ok += int(counters.get("SuccessfulCall(C)", 0))
        step.steady += steady_rate(stats)
        step.failed += int(counters.get("FailedCall(C)", 0))
        # CallLength: the whole REGISTER → 401 → REGISTER → 200 exchange, mean over the step
        step.response_ms = max(step.response_ms, bench_pbx._ms(counters.get("CallLength(C)", "")))
        errors = stats.with_suffix(".errors")
        if step.failed and errors.exists():
            step.errors.append(errors.read_text(errors="replace")[:400])
    step.wall = step.seconds = max(time.monotonic() - started, 0.001)
    step.server_cpu = tree_cpu(target.process.pid) - node_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    step.load_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    step.bridge_cpu = own_and_reaped_cpu(bridge.process.pid) - socat_before
    step.slow_commits = target.log.read_text(errors="replace").count("slow commit") - slow_before
    return step


def steady_rate(stats: Path) -> float:
    """Successful registrations/s over SIPp's full one-second statistics periods (-fd 1),
    leaving out the tail after the last one: its last answers may wait for a commit, or for
    the edge unregistering the devices of another SIPp process's connection, just closed."""
    lines = stats.read_text().splitlines()
    header = lines[0].split(";")
    done, seconds, previous = 0, 0.0, None
    for line in lines[1:]:
        row = dict(zip(header, line.split(";"), strict=False))
        try:
            now = float(row["CurrentTime"].split("\t")[-1])  # "date\ttime\tepoch"
        except (KeyError, ValueError):
            continue
        if previous is not None and now - previous >= 0.9:
            done += int(row.get("SuccessfulCall(P)", 0))
            seconds += now - previous
        previous = now
    return done / seconds if seconds else 0.0


def wait_idle(target: Target, timeout: float = 60) -> None:
    """Until the node uses under 5 % of a core for a second: the edge unregisters the devices
    of every closed connection with the call control, which must not overlap the next step."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = tree_cpu(target.process.pid)
        time.sleep(1)
        if tree_cpu(target.process.pid) - before < 0.05:
            return


def own_and_reaped_cpu(pid: int) -> float:
    """CPU seconds of a process and of its children it has reaped (socat forks one per
    connection, and they end with their connection)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def report(target: str, step: EdgeStep, cores: int) -> None:
    def share(cpu: float) -> float:
        return 100 * cpu / step.wall / cores

    print(f"{target:5} offered {step.offered:5}/s  achieved {step.rate:6.0f}/s  ok {step.ok:6}  "
          f"failed {step.failed:4}  mean {step.response_ms:5.0f} ms  CPU of {cores} cores: node "
          f"{share(step.server_cpu):3.0f}%, socat {share(step.bridge_cpu):3.0f}%, "
          f"SIPp {share(step.load_cpu):3.0f}%  slow commits {step.slow_commits}" + ("" if step.clean else "  <- not clean"),
          flush=True)  # fmt: skip
    for error in step.errors[:1]:
        print("    " + error.strip().replace("\n", "\n    ")[:600], flush=True)


def measure(target: str, work: Path, args: argparse.Namespace) -> list[EdgeStep]:
    cores = os.cpu_count() or 1
    numbers = users_module.numbers(args.first, args.users)
    edge = target == "edge"
    steps: list[EdgeStep] = []
    with start_node(work, edge, numbers, args) as node, tls_bridge(node) as bridge:
        infs = injection_files(work, edge, numbers, args.connections, args.seed)
        warm = run_step(work, node, bridge, args.connections, 1, infs)  # every path works?
        if warm.failed or not warm.ok:
            raise SystemExit(f"{target}: the warm-up registrations failed: {warm.errors[:1]}\n"
                             + node.log.read_text(errors="replace")[-2000:])  # fmt: skip
        for rate in args.rates:
            wait_idle(node)
            step = run_step(work, node, bridge, rate, args.seconds, infs)
            steps.append(step)
            report(target, step, cores)
            node.check()
            if not step.clean:
                break
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("edge", "pbx", "both"), default="both")
    parser.add_argument("--rates", default="50,100,150,200,300,400,600,800",
                        help="offered authenticated registrations/s, in steps")  # fmt: skip
    parser.add_argument("--seconds", type=int, default=20,
                        help="length of each step (one slow commit at its end costs ~0.5 s)")  # fmt: skip
    parser.add_argument("--users", type=int, default=1000, help="devices (SIP users) registering")
    parser.add_argument("--first", type=int, default=1000, help="first extension number")
    parser.add_argument("--connections", type=int, default=4,
                        help="SIPp processes, each one TLS connection through socat")  # fmt: skip
    parser.add_argument("--seed", default=users_module.DEFAULT_SEED)
    parser.add_argument("--log-level", default="warning", help="voxgate log level")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    args.rates = [int(r) for r in args.rates.split(",")]
    for binary in ("sipp", "socat"):
        if shutil.which(binary) is None:
            raise SystemExit(f"{binary} is not installed (./test installs it)")
    targets = ["edge", "pbx"] if args.target == "both" else [args.target]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.users} devices, {args.connections} TLS "
          f"connection(s), {args.seconds} s per step", flush=True)  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="voxgate-bench-edge-"))
    summary: dict[str, list[EdgeStep]] = {}
    try:
        for target in targets:
            work = tmp / target
            work.mkdir()
            summary[target] = measure(target, work, args)
    finally:
        if args.keep:
            print(f"work directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\nhighest clean rate (no failure, >= 95 % of offered) / first offered rate not clean")
    for target, steps in summary.items():
        clean, first_bad = bench_pbx.best(list[Step](steps))
        print(f"  {target:5} {clean:7.0f} registrations/s   not clean at {first_bad or '-'}")


if __name__ == "__main__":
    main()
