"""OPTIONS transactions per second over UDP, measured with SIPp (issue target: >= 10,000/s).

Starts `voxgate serve` with one UDP listener on 127.0.0.1 (logging as configured
by --log-level, to a file), then runs SIPp's OPTIONS scenario at increasing
call rates; each step sends --seconds worth of OPTIONS and counts answered,
failed and retransmitted transactions.  The highest rate with no failed
transaction and at least 99 % of the offered rate achieved is the figure.

    .venv/bin/python bench/bench_options.py [--rates 2000,4000,...] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "tests" / "interop" / "scenarios" / "options_uac.xml"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_node(work: Path, port: int, log_level: str) -> subprocess.Popen[bytes]:
    data = work / "data"
    subprocess.run(
        [sys.executable, "-m", "voxgate", "init", "--data", str(data)], check=True,
        capture_output=True,
    )  # fmt: skip
    config = data / "voxgate.toml"
    config.write_text(
        f'[node]\ndata_dir = "."\n[log]\nlevel = "{log_level}"\nformat = "json"\n'
        f'[[sip.listeners]]\ntransport = "udp"\naddress = "127.0.0.1"\nport = {port}\n'
    )
    log = (work / "node.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "voxgate", "serve", "--config", str(config)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    time.sleep(1.5)
    if process.poll() is not None:
        raise SystemExit(f"voxgate serve exited: {(work / 'node.log').read_text()}")
    return process


def run_step(work: Path, port: int, rate: int, seconds: float) -> dict[str, float]:
    calls = int(rate * seconds)
    stats = work / f"stats-{rate}.csv"
    args = [
        "sipp", f"127.0.0.1:{port}", "-sf", str(SCENARIO), "-t", "u1", "-i", "127.0.0.1",
        "-p", str(free_port()), "-r", str(rate), "-m", str(calls), "-l", str(max(rate, 1000)),
        "-timeout", f"{int(seconds * 3 + 10)}s", "-nostdin", "-trace_stat", "-stf", str(stats),
        "-fd", "1",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(args, cwd=work, capture_output=True, timeout=seconds * 4 + 30, check=False)
    elapsed = time.perf_counter() - start
    lines = stats.read_text().splitlines()
    header, last = lines[0].split(";"), lines[-1].split(";")

    def counter(name: str) -> int:
        return int(last[header.index(name)])

    ok = counter("SuccessfulCall(C)")
    return {
        "offered": rate,
        "ok": ok,
        "failed": counter("FailedCall(C)"),
        "retrans": counter("Retransmissions(C)"),
        "achieved": ok / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="2000,4000,6000,8000,10000,12000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        raise SystemExit("sipp not found: run ./test once to install sip-tester")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"voxgate log level: {args.log_level}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        node = start_node(work, port, args.log_level)
        best = 0.0
        try:
            for rate in (int(r) for r in args.rates.split(",")):
                step = run_step(work, port, rate, args.seconds)
                print(
                    f"offered {step['offered']:>6}/s  achieved {step['achieved']:>8,.0f}/s  "
                    f"ok {step['ok']:>7}  failed {step['failed']:>5}  retrans {step['retrans']:>6}"
                )
                if step["failed"] == 0 and step["achieved"] >= 0.99 * rate:
                    best = max(best, step["achieved"])
        finally:
            node.terminate()
            node.wait(timeout=10)
        print(f"highest clean rate: {best:,.0f} OPTIONS/s")


if __name__ == "__main__":
    main()
