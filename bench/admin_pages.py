"""Render times of the admin pages with 10,000 devices (issue 6 target: p95 < 100 ms).

A real ``voxgate serve`` (edge off, admin on a free port) with 10,000 devices imported through
``voxgate device import``; a logged-in client on one keep-alive HTTPS connection asks for each
page N times in turn and records each answer's latency (request sent → body read; on loopback
this is the server's time plus well under a millisecond).

    .venv/bin/python bench/admin_pages.py [--devices 10000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "interop"))

from peers import HOST, free_port, init_node  # noqa: E402

LISTENING = re.compile(r"admin: listening on https 127\.0\.0\.1:(\d+)")
PAGES = ("/", "/devices", "/devices?q=00%3A04%3A13%3A00%3A1", "/devices?disabled=1&page=40",
         "/netlists", "/audit")


def vg(config: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "voxgate", *args, "--config", str(config)],
                          input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"voxgate {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def measure(port: int, password: str, rounds: int) -> dict[str, list[float]]:
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
        times: dict[str, list[float]] = {path: [] for path in PAGES}
        for path in PAGES:  # warm up
            async with client.get(base + path) as page:
                assert page.status == 200, (path, page.status)
                await page.read()
        for _ in range(rounds):
            for path in PAGES:
                start = time.perf_counter()
                async with client.get(base + path) as page:
                    await page.read()
                times[path].append((time.perf_counter() - start) * 1000)
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
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
            times = asyncio.run(measure(int(found.group(1)), password, args.rounds))
        finally:
            node.terminate()
            node.wait(timeout=20)
    print(f"{'page':42} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for path, values in times.items():
        print(f"{path:42} {statistics.median(values):8.1f} {percentile(values, 0.95):8.1f} "
              f"{max(values):8.1f}")


if __name__ == "__main__":
    main()
