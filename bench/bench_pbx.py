"""Authenticated REGISTERs/s and call setups/s over UDP, measured with SIPp against voxgate's
embedded registrar/B2BUA and against Kamailio (a minimal registrar + proxy,
bench/kamailio/kamailio.cfg) in the same run, with the voxgate/Kamailio ratio.
Issue targets for voxgate on 2 cores: 3,000 authenticated REGISTER/s, 500 call setups/s.

For each target (started on free 127.0.0.1 ports, loaded with the same --users
extensions and secrets from bench/scenarios/users.py):
  1. REGISTER: SIPp register_auth.xml (REGISTER → 401 → REGISTER with MD5/qop=auth
     credentials → 200) at each of --rates for --seconds.
  2. Calls: one SIPp process registers the callee(s) with digest auth and answers
     every INVITE (register_uas.xml + out-of-call uas_answer_ooc.xml); SIPp
     call_uac_auth.xml (INVITE → 407 → ACK → INVITE with credentials → 180/200 →
     ACK → BYE → 200) runs at each of --call-rates for --seconds, split over one
     caller process per callee (SIPp signs one fixed digest-uri per process).
A step is clean when no call failed and at least 95 % of the offered rate was
achieved; steps stop at the first one that is not.  Each step also prints the
retransmissions SIPp sent, the UDP datagrams the kernel dropped on full receive
buffers (whole machine, /proc/net/snmp), and the CPU the target and SIPp used: SIPp
and the target share the machine's cores, so the figures are for this machine, not for
the target alone, and a target far from 100 % CPU when steps fail was not the limit.
The voxgate side needs `voxgate ext import` (the call control); Kamailio runs from
bench/kamailio/kamailio.cfg as user kamailio when started as root.

    .venv/bin/python bench/bench_pbx.py [--target both|voxgate|kamailio]
        [--rates 1000,2000,...] [--call-rates 100,200,...] [--seconds 10]
        [--users 1000] [--callees 1] [--children 2] [--workers 1]
        [--register-transport u1|un]

With --workers N voxgate runs pbx.workers = N (registrar worker processes sharing the UDP
port, spread by the sender's address and port): use --register-transport un, so that each
registration comes from its own port as from many phones (SIPp's default u1 sends everything
from one port, which the kernel gives to one process).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "bench" / "scenarios"
KAMAILIO_CFG = ROOT / "bench" / "kamailio" / "kamailio.cfg"
HOST = "127.0.0.1"
CLEAN_SHARE = 0.95  # of the offered rate, for a step to count as sustained
#: SIPp's default 64 KiB socket buffers overflow in bursts (UDP RcvbufErrors) long before
#: either side runs out of CPU; the load generator must not be what drops packets.
SIPP_BUFFERS = ("-buff_size", str(4 * 1024 * 1024))

sys.path.insert(0, str(SCENARIOS))
import users as bench_users  # noqa: E402 - bench/scenarios/users.py, found through sys.path


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((HOST, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


# -- SIPp -----------------------------------------------------------------------------------------
@dataclass
class Step:
    """One offered rate: what SIPp counted and what the target spent."""

    offered: int
    ok: int = 0
    failed: int = 0
    retransmissions: int = 0
    seconds: float = 0.0
    response_ms: float = 0.0  # mean REGISTER…200 or INVITE…200 (incl. the challenge)
    server_cpu: float = 0.0  # CPU seconds the target used during the step
    load_cpu: float = 0.0  # CPU seconds the SIPp processes (callers and callee) used
    udp_drops: int = 0  # datagrams the kernel dropped on full receive buffers (whole machine)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def clean(self) -> bool:
        return self.failed == 0 and self.ok > 0 and self.rate >= CLEAN_SHARE * self.offered


def sipp_args(scenario: str, port: int, stats: Path, *extra: str, mode: str = "u1") -> list[str]:
    # un: a socket (a source port) per call, as many phones; u1: one socket for all
    local = ["-p", str(free_port())] if mode == "u1" else ["-max_socket", "15000"]
    return [
        "sipp", f"{HOST}:{port}", "-sf", str(SCENARIOS / scenario), "-t", mode,
        "-i", HOST, *local, "-nostdin", "-trace_stat", "-stf", str(stats), "-fd", "1",
        "-trace_err", "-error_file", str(stats.with_suffix(".errors")), *SIPP_BUFFERS, *extra,
    ]  # fmt: skip


def udp_rcvbuf_errors() -> int:
    """The kernel's count of UDP datagrams dropped on a full receive buffer (/proc/net/snmp)."""
    rows = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()
            if line.startswith("Udp:")]  # fmt: skip
    return int(rows[1][rows[0].index("RcvbufErrors")]) if len(rows) >= 2 else 0


def sipp_counters(stats: Path) -> dict[str, str]:
    lines = stats.read_text().splitlines()
    if len(lines) < 2:
        return {}
    return dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))


def _ms(value: str) -> float:
    """SIPp's hh:mm:ss:uuuuuu durations, in milliseconds."""
    try:
        h, m, s, us = (int(p) for p in value.split(":"))
    except ValueError:
        return 0.0
    return (h * 3600 + m * 60 + s) * 1000 + us / 1000


def run_steps(work: Path, name: str, scenario: str, port: int, rate: int, seconds: int,
              infs: list[tuple[Path, list[str]]], server: Server,
              callee: subprocess.Popen[bytes] | None = None, tail: float = 0.0,
              mode: str = "u1") -> Step:  # fmt: skip
    """Run one SIPp per (injection file, extra args) at rate/len(infs) each, all at once.

    ``tail`` is how long the last call lasts by design (talk time): it is not counted in
    the time over which the achieved rate is computed."""
    step = Step(rate)
    share = max(1, rate // len(infs))
    processes = []
    for i, (inf, extra) in enumerate(infs):
        stats = work / f"{name}-{rate}-{i}.csv"
        args = sipp_args(scenario, port, stats, "-inf", str(inf), "-r", str(share),
                         "-m", str(share * seconds), "-l", str(max(share * 4, 200)),
                         "-timeout", f"{seconds * 3 + 30}s", "-max_recv_loops", "10000",
                         # a late 180 (reordered behind the 200 by a multi-process proxy)
                         # is dropped, not an abort; a missing answer fails after 10 s
                         "-default_behaviors", "all,-abortunexp", "-recv_timeout", "10000",
                         *extra, mode=mode)  # fmt: skip
        processes.append((stats, subprocess.Popen(
            args, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "TERM": "dumb"},
        )))  # fmt: skip
    cpu_before = server.cpu_seconds()
    callee_before = tree_cpu(callee.pid) if callee else 0.0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    drops_before = udp_rcvbuf_errors()
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
        step.failed += int(counters.get("FailedCall(C)", 0))
        step.retransmissions += int(counters.get("Retransmissions(C)", 0))
        key = next((k for k in counters if k.startswith("ResponseTime") and k.endswith("(C)")
                    and "StDev" not in k), None)  # fmt: skip
        if key:
            step.response_ms = max(step.response_ms, _ms(counters[key]))
        errors = stats.with_suffix(".errors")
        if step.failed and errors.exists():
            step.errors.append(errors.read_text(errors="replace")[:400])
    step.seconds = max(time.monotonic() - started - tail, 0.001)
    step.server_cpu = server.cpu_seconds() - cpu_before
    step.udp_drops = udp_rcvbuf_errors() - drops_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    step.load_cpu = (after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
                     + (tree_cpu(callee.pid) - callee_before if callee else 0.0))  # fmt: skip
    return step


# -- the targets ----------------------------------------------------------------------------------
def tree_cpu(root: int) -> float:
    """User + system CPU seconds of a live process and all its descendants (Kamailio forks
    its workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid, cpu in times.items():
        p = pid
        while p > 1:
            if p == root:
                total += cpu
                break
            p = parents.get(p, 0)
    return total


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def cpu_seconds(self) -> float:
        return tree_cpu(self.process.pid)

    def check(self) -> None:
        if self.process.poll() is not None:
            raise SystemExit(f"{self.name} exited ({self.process.returncode}):\n"
                             + self.log.read_text(errors="replace")[-3000:])  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_udp(port: int, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Wait until something answers an OPTIONS on 127.0.0.1:port (any SIP response)."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        s.settimeout(0.3)
        local = s.getsockname()[1]
        while time.monotonic() < deadline and process.poll() is None:
            branch = f"z9hG4bKbench{time.monotonic_ns()}"
            s.sendto((
                f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {HOST}:{local};branch={branch}\r\n"
                f"From: <sip:probe@{HOST}>;tag=1\r\nTo: <sip:{HOST}:{port}>\r\n"
                f"Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            ).encode(), (HOST, port))  # fmt: skip
            try:
                if s.recv(65535).startswith(b"SIP/2.0 "):
                    return
            except TimeoutError:
                continue
    raise TimeoutError(f"nothing answers SIP on udp {HOST}:{port}")


def voxgate_config(init_text: str, port: int, log_level: str, realm: str, workers: int = 1
                   ) -> str:  # fmt: skip
    """The init'ed config with one UDP listener, quiet logging and MD5 digest (SIPp 3.6), the
    edge off: SIPp talks to the call control directly."""
    kept: list[str] = []
    skipping = False
    for line in init_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            skipping = stripped in ("[[sip.listeners]]", "[log]", "[pbx]", "[edge]")
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + (
        f'\n\n[[sip.listeners]]\ntransport = "udp"\naddress = "{HOST}"\nport = {port}\n'
        f'\n[log]\nlevel = "{log_level}"\n'
        f'\n[pbx]\nrealm = "{realm}"\ndigest_algorithms = "MD5"\nworkers = {workers}\n'
        '\n[edge]\nenabled = false\n'
    )


@contextlib.contextmanager
def start_voxgate(work: Path, extensions: list[str], args: argparse.Namespace) -> Iterator[Server]:
    vg = [sys.executable, "-m", "voxgate"]
    probe = subprocess.run([*vg, "ext", "import", "--help"], capture_output=True, text=True,
                           check=False)  # fmt: skip
    if probe.returncode != 0:
        raise SystemExit("voxgate has no working `voxgate ext import` command (call control not "
                         f"installed in {sys.executable}?):\n{probe.stderr.strip()[-1500:]}")  # fmt: skip
    data = work / "data"
    done = subprocess.run([*vg, "init", "--data", str(data)], capture_output=True, text=True,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"voxgate init failed:\n{done.stdout}{done.stderr}")
    port = free_port()
    config = data / "voxgate.toml"
    config.write_text(voxgate_config(config.read_text(), port, args.log_level, args.realm,
                                     args.workers))  # fmt: skip
    csv = bench_users.write_extensions_csv(work / "extensions.csv", extensions, args.seed)
    done = subprocess.run([*vg, "ext", "import", str(csv), "--config", str(config)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"voxgate ext import failed:\n{done.stdout}{done.stderr}")
    log = work / "voxgate.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*vg, "serve", "--config", str(config)], stdout=out,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    server = Server("voxgate", process, port, log)
    try:
        wait_udp(port, process)
        wait_udp_sockets(port, args.workers, process)
        server.check()
        yield server
    finally:
        stop(process)


def wait_udp_sockets(port: int, count: int, process: subprocess.Popen[bytes],
                     timeout: float = 60) -> None:  # fmt: skip
    """Until ``count`` UDP sockets are bound to ``port`` (pbx.workers: every worker serving)."""
    deadline = time.monotonic() + timeout
    hexport = f":{port:04X}"
    while time.monotonic() < deadline:
        rows = Path("/proc/net/udp").read_text().splitlines()[1:]
        if sum(1 for row in rows if row.split()[1].endswith(hexport)) >= count:
            time.sleep(1.0)  # the rest of the start (web listeners) settles
            return
        if process.poll() is not None:
            return
        time.sleep(0.2)
    raise TimeoutError(f"fewer than {count} sockets on udp port {port} after {timeout} s")


@contextlib.contextmanager
def start_kamailio(work: Path, extensions: list[str], args: argparse.Namespace) -> Iterator[Server]:
    binary = shutil.which("kamailio")
    if binary is None:
        raise SystemExit("kamailio is not installed (Debian package kamailio; ./test installs it)")
    db = bench_users.write_kamailio_db(work / "kamailio-db", extensions, args.realm, args.seed)
    rundir = work / "kamailio-run"
    rundir.mkdir()
    port = free_port()
    command = [
        binary, "-f", str(KAMAILIO_CFG), "-DD", "-E", "-l", f"udp:{HOST}:{port}",
        "-n", str(args.children), "-Y", str(rundir), "-m", "256", "-M", "16",
        "-A", f'DBURL="text://{db}"', "-A", f'REALM="{args.realm}"',
    ]  # fmt: skip
    if os.geteuid() == 0:  # drop root like a packaged Kamailio: its user must read the files
        try:
            user = pwd.getpwnam("kamailio")
        except KeyError:
            pass
        else:
            for path in (work, *work.parents):
                if path == Path("/"):
                    break
                path.chmod(path.stat().st_mode | 0o011)  # let it traverse to the db files
            for path in (db, *db.iterdir()):
                path.chmod(path.stat().st_mode | 0o044 | (0o011 if path.is_dir() else 0))
            os.chown(rundir, user.pw_uid, user.pw_gid)
            command += ["-u", "kamailio", "-g", "kamailio"]
    log = work / "kamailio.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Server("kamailio", process, port, log)
    try:
        wait_udp(port, process)
        server.check()
        yield server
    finally:
        stop(process)


# -- the measurements -----------------------------------------------------------------------------
@dataclass
class Measured:
    register: list[Step] = field(default_factory=list)
    calls: list[Step] = field(default_factory=list)


def report(target: str, kind: str, step: Step, cores: int) -> None:
    def share(cpu: float) -> float:
        return 100 * cpu / step.seconds / cores if step.seconds else 0.0

    print(f"{target:9} {kind:8} offered {step.offered:6}/s  achieved {step.rate:7.0f}/s  "
          f"ok {step.ok:6}  failed {step.failed:4}  retrans {step.retransmissions:6}  "
          f"UDP drops {step.udp_drops:5}  "
          f"resp {step.response_ms:6.0f} ms  CPU of {cores} cores: {target} "
          f"{share(step.server_cpu):3.0f}%, SIPp {share(step.load_cpu):3.0f}%"
          + ("" if step.clean else "  <- not clean"), flush=True)  # fmt: skip
    for error in step.errors[:1]:
        print("    " + error.strip().replace("\n", "\n    ")[:600], flush=True)


def register_callees(work: Path, server: Server, callees: list[str], args: argparse.Namespace,
                     ) -> subprocess.Popen[bytes]:  # fmt: skip
    """One SIPp process: registers every callee, then answers INVITEs (out-of-call scenario)."""
    inf = bench_users.write_callee_inf(work / "callees.csv", callees, args.seed)
    stats = work / "callee.csv"
    command = [
        "sipp", f"{HOST}:{server.port}", "-sf", str(SCENARIOS / "register_uas.xml"),
        "-oocsf", str(SCENARIOS / "uas_answer_ooc.xml"), "-inf", str(inf), "-t", "u1",
        "-i", HOST, "-p", str(free_port()), "-m", str(len(callees)), "-r", "50",
        "-d", str(3_600_000), "-l", "100000", "-max_socket", "1000", "-nostdin", *SIPP_BUFFERS,
        "-trace_stat", "-stf", str(stats), "-fd", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL,
                               stderr=(work / "callee.err").open("wb"),
                               env={**os.environ, "TERM": "dumb"})  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if process.poll() is not None:
            break
        registered = sipp_counters(stats).get("registered(C)", "0") if stats.exists() else "0"
        if int(registered) >= len(callees):
            return process
    stop(process)
    raise SystemExit(f"{server.name}: the callee(s) {callees} did not register "
                     f"(see {work / 'callee.err'}, {server.log})")  # fmt: skip


def measure(target: str, work: Path, args: argparse.Namespace) -> Measured:
    cores = os.cpu_count() or 1
    users = bench_users.numbers(args.first, args.users)
    callees = bench_users.numbers(args.first + args.users, args.callees)
    start = start_voxgate if target == "voxgate" else start_kamailio
    out = Measured()
    with start(work, [*users, *callees], args) as server:
        register_inf = bench_users.write_register_inf(work / "register.csv", users,
                                                      f"{HOST}:5999", args.seed)  # fmt: skip
        for rate in args.rates:
            step = run_steps(work, "register", "register_auth.xml", server.port, rate,
                             args.seconds, [(register_inf, [])], server,
                             mode=args.register_transport)  # fmt: skip
            out.register.append(step)
            report(target, "REGISTER", step, cores)
            server.check()
            if not step.clean:
                break
        callee_process = register_callees(work, server, callees, args)
        try:
            infs = [
                (bench_users.write_calls_inf(work / f"calls-{c}.csv", users, c, args.seed),
                 ["-auth_uri", f"{c}@{HOST}:{server.port}", "-d", str(args.talk_ms)])
                for c in callees
            ]  # fmt: skip
            for rate in args.call_rates:
                step = run_steps(work, "calls", "call_uac_auth.xml", server.port, rate,
                                 args.seconds, infs, server, callee_process,
                                 tail=args.talk_ms / 1000)  # fmt: skip
                out.calls.append(step)
                report(target, "calls", step, cores)
                server.check()
                if not step.clean:
                    break
        finally:
            stop(callee_process)
    return out


def best(steps: list[Step]) -> tuple[float, int | None]:
    """Highest clean achieved rate, and the first offered rate that was not clean."""
    clean = max((s.rate for s in steps if s.clean), default=0.0)
    first_bad = next((s.offered for s in steps if not s.clean), None)
    return clean, first_bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("voxgate", "kamailio", "both"), default="both")
    parser.add_argument("--rates", "--register-rates", dest="rates",
                        default="500,1000,2000,3000,4000,6000,8000",
                        help="offered authenticated REGISTER/s, in steps")  # fmt: skip
    parser.add_argument("--call-rates", default="100,250,500,750,1000,1500,2000",
                        help="offered call setups/s, in steps")  # fmt: skip
    parser.add_argument("--seconds", type=int, default=10, help="length of each step")
    parser.add_argument("--users", type=int, default=1000, help="extensions that register/call")
    parser.add_argument("--first", type=int, default=1000, help="first extension number")
    parser.add_argument("--callees", type=int, default=1,
                        help="callee extensions (one SIPp caller process each)")  # fmt: skip
    parser.add_argument("--talk-ms", type=int, default=200, help="pause between ACK and BYE")
    parser.add_argument("--children", type=int, default=2, help="Kamailio UDP worker processes")
    parser.add_argument("--realm", default=bench_users.DEFAULT_REALM)
    parser.add_argument("--seed", default=bench_users.DEFAULT_SEED, help="secret derivation seed")
    parser.add_argument("--log-level", default="warning", help="voxgate log level")
    parser.add_argument("--workers", type=int, default=1,
                        help="voxgate pbx.workers (processes answering REGISTER)")  # fmt: skip
    parser.add_argument("--register-transport", choices=("u1", "un"), default="u1",
                        help="SIPp UDP mode of the REGISTER step: u1 one socket for all, un "
                        "one socket (source port) per registration, as many phones have; "
                        "--workers spreads REGISTERs by source, so it needs un (the call "
                        "step always uses u1)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    args.rates = [int(r) for r in args.rates.split(",")]
    args.call_rates = [int(r) for r in args.call_rates.split(",")]
    if shutil.which("sipp") is None:
        raise SystemExit("sipp is not installed (Debian package sip-tester; ./test installs it)")
    targets = ["voxgate", "kamailio"] if args.target == "both" else [args.target]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.users} users, {args.callees} callee(s), "
          f"{args.seconds} s per step, Kamailio children={args.children}", flush=True)  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="voxgate-bench-pbx-"))
    summary: dict[str, Measured] = {}
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
    print("\nhighest clean rate (no failed call, >= 95 % of offered) / first offered rate "
          "that was not clean")  # fmt: skip
    print(f"  {'target':10} {'REGISTER/s':>11} {'fails at':>9} {'calls/s':>9} {'fails at':>9}")
    figures: dict[str, tuple[float, float]] = {}
    for target, measured in summary.items():
        reg, reg_bad = best(measured.register)
        call, call_bad = best(measured.calls)
        figures[target] = (reg, call)
        print(f"  {target:10} {reg:11.0f} {reg_bad or '-':>9} {call:9.0f} {call_bad or '-':>9}")
    if len(figures) == 2:
        (vr, vc), (kr, kc) = figures["voxgate"], figures["kamailio"]
        print(f"  {'voxgate/kamailio':18} {vr / kr if kr else 0:5.2f} {'':9} "
              f"{vc / kc if kc else 0:7.2f}")  # fmt: skip
    if "voxgate" in figures:
        vr, vc = figures["voxgate"]
        print(f"  voxgate targets: 3,000 REGISTER/s ({'met' if vr >= 3000 else 'not met'}), "
              f"500 calls/s ({'met' if vc >= 500 else 'not met'})")  # fmt: skip


if __name__ == "__main__":
    main()
