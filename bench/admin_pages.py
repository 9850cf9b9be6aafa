"""Render times of the admin pages with 10,000 devices and 100,000 call records (issue 6
target: p95 < 100 ms).

A real ``voxgate serve`` (edge off, admin on a free port) with 10,000 devices imported through
``voxgate device import`` and a year of call records (with the media counters of a fifth of
them) written into its database the way the call control and the edge write them; a
logged-in client on one keep-alive HTTPS connection asks for each page N times in turn and
records each answer's latency (request sent → body read; on loopback this is the server's
time plus well under a millisecond), then asks for each page N times more in a row and
divides the CPU time the server process used meanwhile by N: the page's cost, which other
processes on a shared machine do not inflate the way they inflate the latency.

    .venv/bin/python bench/admin_pages.py [--devices 10000] [--calls 100000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "interop"))

from peers import HOST, free_port, init_node  # noqa: E402

from voxgate.config.load import load_settings  # noqa: E402
from voxgate.storage.engine import Store  # noqa: E402
from voxgate.storage.repos.cdr import CdrRecord, CdrRepo  # noqa: E402
from voxgate.storage.repos.media import MediaRecord, MediaRepo, SideCounters  # noqa: E402

LISTENING = re.compile(r"admin: listening on https 127\.0\.0\.1:(\d+)")
PAGES = ("/", "/devices", "/devices?q=00%3A04%3A13%3A00%3A1", "/devices?disabled=1&page=40",
         "/netlists", "/audit",
         "/calls",                                      # newest first, no filter
         "/calls?page=1500",                            # far back
         "/calls?disposition=busy",                     # one disposition (~8 %)
         "/calls?caller=%2B4930&disposition=answered",  # a prefix and a disposition
         "/calls?callee=2101",                          # a rare prefix (~0.3 %)
         "/calls?since={month_ago}&until={today}&min_duration=300")  # a month, long calls
#: How the bench's calls end (about as often as in an office).
ENDINGS = (["answered"] * 60 + ["busy"] * 8 + ["no-answer"] * 14 + ["cancelled"] * 10
           + ["rejected", "rejected", "failed", "unavailable", "unavailable", "unknown-number"])


async def add_calls(url: str, count: int) -> None:
    """``count`` calls over a year between 400 extensions (a third from outside numbers), as
    the call control writes them; the edge's media counters for every fifth answered one."""
    pick = random.Random(6)
    store = await Store.open(url)
    year = datetime.now(UTC) - timedelta(days=365)
    try:
        step = 365 * 86400 / max(1, count)
        for first in range(0, count, 10_000):
            calls, media = [], []
            for n in range(first, min(count, first + 10_000)):
                start = year + timedelta(seconds=n * step + pick.uniform(0, step))
                ending = pick.choice(ENDINGS)
                talked = float(pick.randint(5, 1800)) if ending == "answered" else 0.0
                caller = (f"+4930{pick.randint(1_000_000, 9_999_999)}" if pick.random() < 0.3
                          else str(pick.randint(2000, 2399)))
                end = start + timedelta(seconds=talked + pick.randint(2, 30))
                calls.append(CdrRecord(
                    f"{n:08x}@bench", caller, f"Desk {caller[-3:]}", str(pick.randint(2000, 2399)),
                    start, start + timedelta(seconds=2) if talked else None, end, talked, ending,
                    200 if talked else 486, "callee hung up" if talked else "Busy Here",
                    "192.0.2.10:5061", callee_call_id=f"{n:08x}-b@bench"))
                if talked and n % 5 == 0:
                    packets = int(talked * 50)
                    media.append(MediaRecord(f"edge-{n:08x}", f"{n:08x}-b@bench", end,
                                             SideCounters(packets=packets, lost=n % 7),
                                             SideCounters(packets=packets)))
            await CdrRepo(store).add_many(calls)
            await MediaRepo(store).add_many(media)
    finally:
        await store.close()


def vg(config: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "voxgate", *args, "--config", str(config)],
                          input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"voxgate {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """The user + system CPU time process ``pid`` has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(port: int, password: str, rounds: int, pid: int
                  ) -> tuple[dict[str, list[float]], dict[str, float]]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the node's own self-signed certificate, on loopback
    connector = aiohttp.TCPConnector(ssl=context, limit=1)
    base = f"https://127.0.0.1:{port}"
    # unsafe=True: keep cookies of a host given as an IP address (aiohttp drops them by default)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        async with client.get(f"{base}/login") as page:
            token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
        assert token is not None
        form = {"csrf_token": token.group(1), "next": "/", "username": "bench",
                "password": password}
        async with client.post(f"{base}/login", data=form, allow_redirects=False) as done:
            assert done.status in (302, 303), done.status
        today = datetime.now(UTC).date()
        pages = [path.format(month_ago=today - timedelta(days=30), today=today) for path in PAGES]
        times: dict[str, list[float]] = {path: [] for path in pages}
        for path in pages:  # warm up; how many calls each call records page selects
            async with client.get(base + path) as page:
                assert page.status == 200, (path, page.status)
                total = re.search(r'id="calls-total">([^<]*)<', await page.text())
            if total is not None:
                print(f"{path}: {total.group(1)}")
        for _ in range(rounds):
            for path in pages:
                start = time.perf_counter()
                async with client.get(base + path) as page:
                    await page.read()
                times[path].append((time.perf_counter() - start) * 1000)
        cpu: dict[str, float] = {}
        for path in pages:
            used = cpu_seconds(pid)
            for _ in range(rounds):
                async with client.get(base + path) as page:
                    await page.read()
            cpu[path] = (cpu_seconds(pid) - used) * 1000 / rounds
        return times, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        config = init_node(data, HOST, free_port(), free_port(), free_port())
        csv = Path(tmp) / "devices.csv"
        rows = ["mac,description,enabled"]
        for n in range(args.devices):
            mac = f"00:04:13:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"
            rows.append(f"{mac},Desk {n} floor {n % 7},{'true' if n % 3 else 'false'}")
        csv.write_text("\n".join(rows) + "\n")
        started = time.perf_counter()
        vg(config, "device", "import", str(csv))
        print(f"imported {args.devices} devices in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        asyncio.run(add_calls(load_settings(config).store_url, args.calls))
        print(f"wrote {args.calls} call records in {time.perf_counter() - started:.1f} s")
        password = "Bench-" + secrets.token_urlsafe(12)
        vg(config, "admin", "add", "bench", "--role", "system", "--no-must-change",
           stdin=f"{password}\n")
        log = Path(tmp) / "serve.log"
        with log.open("wb") as out:
            node = subprocess.Popen([sys.executable, "-m", "voxgate", "serve", "--config",
                                     str(config)], stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while (found := LISTENING.search(log.read_text(errors="replace"))) is None:
                if time.monotonic() > deadline or node.poll() is not None:
                    raise SystemExit(log.read_text(errors="replace"))
                time.sleep(0.1)
            times, cpu = asyncio.run(measure(int(found.group(1)), password, args.rounds, node.pid))
        finally:
            node.terminate()
            node.wait(timeout=20)
    print(f"load average after the run: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(f"{'page':72} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'CPU ms':>8}")
    for path, values in times.items():
        print(f"{path:72} {statistics.median(values):8.1f} {percentile(values, 0.95):8.1f} "
              f"{max(values):8.1f} {cpu[path]:8.1f}")


if __name__ == "__main__":
    main()
