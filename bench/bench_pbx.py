"""Authenticated REGISTERs/s and call setups/s with SIPp over UDP: voxgate's call control and
Kamailio (a minimal registrar + proxy, bench/kamailio/kamailio.cfg) in the same run.

For each target and each offered rate, SIPp runs for --seconds; a rate counts as
sustained when no call failed.  REGISTER: REGISTER → 401 → REGISTER with
credentials → 200 (bench users 1000…, MD5).  Call: INVITE → 407 → INVITE with
credentials → 180/200 → ACK → 200 ms → BYE → 200, to one callee registered by a
SIPp UAS; for voxgate that is two dialogs through the B2BUA, for Kamailio one
record-routed proxy dialog.

    .venv/bin/python bench/bench_pbx.py [--target both] [--register-rates 500,1000,...]
        [--call-rates 100,200,...] [--seconds 10] [--users 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "tests" / "interop" / "scenarios"
KAMAILIO_CFG = ROOT / "bench" / "kamailio" / "kamailio.cfg"
HOST = "127.0.0.1"
CALLEE = "2000"


def secret(user: str) -> str:
    return f"Bench-{user}-Qx7vLp2Wz"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Result:
    offered: int
    successful: int
    failed: int
    retransmissions: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.successful / self.seconds if self.seconds else 0.0


def sipp(work: Path, scenario: str, port: int, *, rate: int, calls: int, inf: Path,
         extra: list[str] | None = None) -> Result:  # fmt: skip
    stats = work / f"{scenario}-{rate}-{time.monotonic_ns()}.csv"
    args = [
        "sipp", f"{HOST}:{port}", "-sf", str(SCENARIOS / f"{scenario}.xml"), "-t", "u1",
        "-i", HOST, "-p", str(free_port()), "-r", str(rate), "-m", str(calls),
        "-l", str(max(rate * 2, 100)), "-inf", str(inf), "-nostdin", "-trace_stat", "-stf",
        str(stats), "-fd", "1", "-timeout", "120s", "-recv_timeout", "10000",
        *(extra or []),
    ]  # fmt: skip
    started = time.monotonic()
    subprocess.run(args, cwd=work, capture_output=True, timeout=300, check=False,
                   env={**os.environ, "TERM": "dumb"})  # fmt: skip
    elapsed = time.monotonic() - started
    rows = list(csv.reader(stats.read_text().splitlines(), delimiter=";"))
    header, last = rows[0], rows[-1]

    def counter(name: str) -> int:
        return int(last[header.index(f"{name}(C)")])

    return Result(rate, counter("SuccessfulCall"), counter("FailedCall"),
                  counter("Retransmissions"), elapsed)  # fmt: skip


def injection(path: Path, users: list[str], third: str) -> Path:
    path.write_text("SEQUENTIAL\n" + "".join(
        f"{u};[authentication username={u} password={secret(u)}];{third}\n" for u in users
    ))  # fmt: skip
    return path


# -- the two targets ----------------------------------------------------------------------------
@contextlib.contextmanager
def voxgate(work: Path, users: list[str]) -> Iterator[int]:
    port = free_port()
    data = work / "voxgate"
    vg = [sys.executable, "-m", "voxgate"]
    subprocess.run([*vg, "init", "--data", str(data)], check=True, capture_output=True)
    config = data / "voxgate.toml"
    config.write_text(
        "[node]\nname = \"bench\"\n[log]\nlevel = \"warning\"\n"
        f"[[sip.listeners]]\ntransport = \"udp\"\naddress = \"{HOST}\"\nport = {port}\n"
        "[pbx]\ndigest_algorithms = \"MD5\"\n"
    )
    rows = "".join(f"{u},Bench {u},{secret(u)},true,\n" for u in [*users, CALLEE])
    (work / "users.csv").write_text("number,display_name,secret,enabled,max_contacts\n" + rows)
    imported = subprocess.run([*vg, "ext", "import", str(work / "users.csv"), "--config",
                               str(config)], capture_output=True, text=True, check=False)  # fmt: skip
    if imported.returncode != 0:
        raise SystemExit(f"voxgate ext import failed: {imported.stderr}")
    log = (work / "voxgate.log").open("wb")
    process = subprocess.Popen([*vg, "serve", "--config", str(config)], stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    try:
        time.sleep(3)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)


@contextlib.contextmanager
def kamailio(work: Path, users: list[str], children: int) -> Iterator[int]:
    del users  # passwords are derived from the user name in the config
    if shutil.which("kamailio") is None:
        raise SystemExit("kamailio is not installed (Debian package kamailio)")
    port = free_port()
    cfg = work / "kamailio.cfg"
    cfg.write_text(KAMAILIO_CFG.read_text().replace("CHILDREN", str(children))
                   .replace("LISTEN", f"{HOST}:{port}"))  # fmt: skip
    run = work / "kamailio-run"
    run.mkdir()
    log = (work / "kamailio.log").open("wb")
    process = subprocess.Popen(
        ["kamailio", "-f", str(cfg), "-DD", "-E", "-Y", str(run), "-m", "256", "-M", "16"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        time.sleep(2)
        if process.poll() is not None:
            raise SystemExit("kamailio did not start: " + (work / "kamailio.log").read_text()[-2000:])
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


# -- the measurements ---------------------------------------------------------------------------
def measure(target: str, work: Path, args: argparse.Namespace) -> dict[str, list[Result]]:
    users = [str(1000 + i) for i in range(args.users)]
    server = voxgate(work, users) if target == "voxgate" else kamailio(work, users, args.children)
    out: dict[str, list[Result]] = {"register": [], "call": []}
    with server as port:
        inf = injection(work / "register.csv", users, "127.0.0.1:5999")
        for rate in args.register_rates:
            result = sipp(work, "register_auth", port, rate=rate, calls=rate * args.seconds, inf=inf)
            out["register"].append(result)
            print(f"{target:9} REGISTER offered {rate:5}/s: {result.rate:7.0f}/s ok, "
                  f"{result.failed} failed, {result.retransmissions} retransmissions", flush=True)  # fmt: skip
            if result.failed:
                break
        uas_port = free_port()
        total = sum(args.call_rates) * args.seconds + 10
        uas = subprocess.Popen(
            ["sipp", "-sf", str(SCENARIOS / "uas_answer.xml"), "-t", "u1", "-i", HOST, "-p",
             str(uas_port), "-m", str(total), "-nostdin", "-l", "10000"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "TERM": "dumb"},
        )  # fmt: skip
        time.sleep(0.5)
        callee = injection(work / "callee.csv", [CALLEE], f"127.0.0.1:{uas_port}")
        sipp(work, "register_auth", port, rate=1, calls=1, inf=callee)
        callers = injection(work / "callers.csv", users, CALLEE)
        for rate in args.call_rates:
            result = sipp(work, "call_uac_auth", port, rate=rate, calls=rate * args.seconds,
                          inf=callers, extra=["-auth_uri", f"{CALLEE}@{HOST}:{port}"])  # fmt: skip
            out["call"].append(result)
            print(f"{target:9} calls    offered {rate:5}/s: {result.rate:7.0f}/s ok, "
                  f"{result.failed} failed, {result.retransmissions} retransmissions", flush=True)  # fmt: skip
            if result.failed:
                break
        uas.terminate()
        uas.wait(timeout=10)
    return out


def best(results: list[Result]) -> float:
    sustained = [r.rate for r in results if r.failed == 0]
    return max(sustained, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("voxgate", "kamailio", "both"), default="both")
    parser.add_argument("--register-rates", default="500,1000,1500,2000,3000,4000")
    parser.add_argument("--call-rates", default="100,200,300,500,700")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--children", type=int, default=2, help="Kamailio UDP workers")
    args = parser.parse_args()
    args.register_rates = [int(r) for r in args.register_rates.split(",")]
    args.call_rates = [int(r) for r in args.call_rates.split(",")]
    targets = ["voxgate", "kamailio"] if args.target == "both" else [args.target]
    summary: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="voxgate-bench-") as tmp:
        for target in targets:
            work = Path(tmp) / target
            work.mkdir()
            results = measure(target, work, args)
            summary[target] = (best(results["register"]), best(results["call"]))
    print("\nsustained (no failed call)   REGISTER/s   calls/s")
    for target, (reg, call) in summary.items():
        print(f"  {target:27} {reg:10.0f} {call:9.0f}")
    if len(summary) == 2:
        (vr, vc), (kr, kc) = summary["voxgate"], summary["kamailio"]
        print(f"  voxgate / kamailio          {vr / kr if kr else 0:10.2f} {vc / kc if kc else 0:9.2f}")


if __name__ == "__main__":
    main()
