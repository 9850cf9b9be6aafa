"""The data commands as an administrator runs them (the real `voxgate` command in a
subprocess): `voxgate ext …`, `db upgrade`, `cdr export`, against a data directory made by
`voxgate init`.  Tests share one data directory and use their own numbers."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voxgate.config.load import load_settings
from voxgate.services.extensions import generate_secret
from voxgate.sip.digest import ha1
from voxgate.storage.engine import Store
from voxgate.storage.repos.cdr import CdrRecord, CdrRepo
from voxgate.storage.repos.media import MediaRecord, MediaRepo, SideCounters

GOOD = "Tq7-vLp2-Wz9k"


@pytest.fixture(scope="module")
def initialized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `voxgate init` for the module; each test gets a copy (tests stay independent, in
    any order and on any worker)."""
    data = tmp_path_factory.mktemp("cli") / "data"
    subprocess.run([sys.executable, "-m", "voxgate", "init", "--data", str(data)], check=True,
                   capture_output=True)  # fmt: skip
    return data


@pytest.fixture
def config(initialized: Path, tmp_path: Path) -> Path:
    data = shutil.copytree(initialized, tmp_path / "data")
    return data / "voxgate.toml"


def vg(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voxgate", *args, "--config", str(config)],
                          capture_output=True, text=True, input=stdin, check=False)  # fmt: skip


def listed(config: Path) -> set[str]:
    """The numbers `voxgate ext list` shows (first column, header and total left out)."""
    lines = vg(config, "ext", "list").stdout.splitlines()[1:-1]
    return {line.split()[0] for line in lines}


def test_db_upgrade(config: Path) -> None:
    done = vg(config, "db", "upgrade")
    assert done.returncode == 0
    assert "revision 0006" in done.stdout


def test_ext_lifecycle(config: Path) -> None:
    assert vg(config, "ext", "add", "301", "--name", "Alice", "--secret", "-", stdin=GOOD + "\n").returncode == 0
    generated = vg(config, "ext", "add", "302", "--generate-secret")
    assert generated.returncode == 0
    assert generated.stdout.startswith("secret: ")
    weak = vg(config, "ext", "add", "303", "--secret", "letmein123")
    assert weak.returncode == 1
    assert "too weak" in weak.stderr
    listing = vg(config, "ext", "list").stdout
    assert "Alice" in listing
    assert {"301", "302"} <= listed(config)
    assert "303" not in listed(config)
    assert vg(config, "ext", "set", "301", "--disable", "--max-contacts", "2").returncode == 0
    shown = vg(config, "ext", "show", "301").stdout
    assert "enabled:      no" in shown
    assert "max contacts: 2" in shown
    assert GOOD not in shown
    assert vg(config, "ext", "del", "302").returncode == 0
    missing = vg(config, "ext", "show", "302")
    assert (missing.returncode, missing.stderr.strip()) == (1, "voxgate: ext: no extension 302")


def test_bad_import_names_each_line_and_imports_nothing(config: Path, tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(f"number,display_name,secret\n401,A,{GOOD}\n402,B,short\n4x3,C,{GOOD}\n")
    done = vg(config, "ext", "import", str(csv))
    assert done.returncode == 1
    assert "line 3: secret is too short" in done.stderr
    assert "line 4: bad extension number" in done.stderr
    assert "401" not in listed(config)


def test_export_then_import_elsewhere(config: Path, tmp_path: Path) -> None:
    assert vg(config, "ext", "add", "301", "--secret", "-", stdin=GOOD + "\n").returncode == 0
    exported = tmp_path / "exported.csv"
    assert vg(config, "ext", "export", str(exported)).returncode == 0
    assert GOOD not in exported.read_text()
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600  # HA1 digests register like secrets
    other = tmp_path / "other"
    subprocess.run([sys.executable, "-m", "voxgate", "init", "--data", str(other)], check=True,
                   capture_output=True)  # fmt: skip
    done = vg(other / "voxgate.toml", "ext", "import", str(exported))
    assert done.returncode == 0, done.stderr
    assert "301" in listed(other / "voxgate.toml")


def test_cdr_export_of_an_empty_table_is_a_header(config: Path) -> None:
    done = vg(config, "cdr", "export", "--format", "csv", "--since", "2026-01-01")
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        "call_id,caller,caller_name,callee,started_at,answered_at,ended_at,duration,disposition,"
        "status,reason,caller_source,callee_call_id,wan_packets,wan_lost,wan_dropped,"
        "wan_jitter_ms,lan_packets,lan_lost,lan_dropped,lan_jitter_ms"
    ]


def test_bad_since_is_a_usage_error(config: Path) -> None:
    done = vg(config, "cdr", "export", "--since", "yesterday")
    assert done.returncode == 2
    assert "not an ISO 8601 time" in done.stderr
    done = vg(config, "cdr", "export", "--disposition", "lost")
    assert done.returncode == 2
    assert "argument --disposition: not one of answered, busy, no-answer" in done.stderr


def test_a_generated_secret_is_printed_once_and_is_the_one_stored(config: Path, tmp_path: Path) -> None:
    done = vg(config, "ext", "add", "501", "--generate-secret", "--name", "Gen")
    assert done.returncode == 0, done.stderr
    secret = done.stdout.split()[1]
    assert len(secret) == 20
    export = tmp_path / "e.csv"
    assert vg(config, "ext", "export", str(export)).returncode == 0
    [row] = [r for r in csv.DictReader(export.open()) if r["number"] == "501"]
    assert row["ha1_md5"] == ha1("MD5", "501", "voxgate", secret)
    assert row["ha1_sha256"] == ha1("SHA-256", "501", "voxgate", secret)
    assert secret not in vg(config, "ext", "show", "501").stdout
    changed = vg(config, "ext", "set", "501", "--secret", "-", stdin=GOOD + "\n")
    assert changed.returncode == 0
    assert GOOD not in changed.stdout + changed.stderr
    weak = vg(config, "ext", "set", "501", "--secret", "-", stdin="password12\n")
    assert (weak.returncode, "too weak" in weak.stderr) == (1, True)
    assert vg(config, "ext", "set", "501", "--enable", "--max-contacts", "default").returncode == 0


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (("ext", "set", "599", "--disable"), 1, "voxgate: ext set: no extension 599"),
        (("ext", "del", "599"), 1, "voxgate: ext: no extension 599"),
        (("ext", "add", "5a9", "--secret", GOOD), 1, "bad extension number '5a9'"),
        (("ext", "add", "599"), 2, "give --secret S, --secret - (stdin) or --generate-secret"),
        (("ext", "set", "599", "--max-contacts", "many"), 2, "takes a number or 'default'"),
        (("ext", "import", "/nonexistent.csv"), 1, "cannot read /nonexistent.csv"),
    ],
)
def test_refusals_say_why(config: Path, args: tuple[str, ...], status: int, message: str) -> None:
    done = vg(config, *args)
    assert done.returncode == status
    assert message in done.stderr


def test_a_missing_config_is_a_configuration_error(tmp_path: Path) -> None:
    done = vg(tmp_path / "none.toml", "ext", "list")
    assert done.returncode == 2
    assert "config error" in done.stderr


def test_several_bad_rows_are_each_named_and_nothing_is_written(config: Path, tmp_path: Path) -> None:
    assert vg(config, "ext", "add", "301", "--secret", "-", stdin=GOOD + "\n").returncode == 0
    path = tmp_path / "bad.csv"
    path.write_text(
        "number,display_name,secret,enabled,max_contacts\n"
        f"601,Good,{GOOD},true,\n"       # 2: good
        "602,Weak,password123,true,\n"   # 3: weak
        f"60x,Bad,{GOOD},true,\n"        # 4: number
        f"601,Again,{GOOD},true,\n"      # 5: duplicate
        f"604,Flag,{GOOD},perhaps,\n"    # 6: enabled
        f"605,Limit,{GOOD},true,0\n"     # 7: max_contacts
        f"301,Taken,{GOOD},true,\n"      # 8: exists (added above)
    )
    done = vg(config, "ext", "import", str(path))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == "voxgate: ext import: 6 bad row(s), nothing imported:"
    assert [line.split(":")[0] for line in lines[1:]] == [f"line {n}" for n in range(3, 9)]
    assert "line 5: extension 601 already on line 2" in lines
    assert "601" not in listed(config)


def test_thousand_row_import_through_the_command(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "many.csv"
    rows = "".join(f"7{n:03d},Ext {n},{generate_secret()},true,\n" for n in range(1000))
    path.write_text("number,display_name,secret,enabled,max_contacts\n" + rows)
    done = vg(config, "ext", "import", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported 1000 new, 0 changed extension(s)"
    assert {f"7{n:03d}" for n in range(1000)} <= listed(config)


def test_cdr_export_of_a_filled_table(config: Path, tmp_path: Path) -> None:
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    records = [
        CdrRecord("a@x", "301", "Alice", "302", t0, t0 + timedelta(seconds=3),
                  t0 + timedelta(seconds=63), 60.0, "answered", 200, "caller hung up", "192.0.2.1:5061",
                  callee_call_id="a-leg-b@x"),
        CdrRecord("b@x", "302", "", "399", t0 + timedelta(hours=1), None, t0 + timedelta(hours=1),
                  0.0, "unknown-number", 404, "Not Found", "[2001:db8::1]:5061"),
        CdrRecord("c@x", "301", 'Al, "the" boss', "302", t0 + timedelta(days=1), None,
                  t0 + timedelta(days=1, seconds=20), 0.0, "no-answer", 480, "No Answer", "192.0.2.1:5061"),
    ]  # fmt: skip

    async def fill() -> None:
        store = await Store.open(load_settings(config).store_url)
        try:
            await CdrRepo(store).add_many(records)
            # the edge relayed a@x's media; the relay knew it by the callee leg's Call-ID
            await MediaRepo(store).add_many([MediaRecord(
                "edge-leg@x", "a-leg-b@x", t0 + timedelta(seconds=63),
                SideCounters(packets=3000, lost=2, dropped_auth=5, dropped_source=1, jitter_ms=1.234),
                SideCounters(packets=2990, jitter_ms=0.5),
            )])
        finally:
            await store.close()

    asyncio.run(fill())
    everything = vg(config, "cdr", "export")
    assert everything.returncode == 0, everything.stderr
    rows = list(csv.DictReader(io.StringIO(everything.stdout)))
    assert [r["call_id"] for r in rows] == ["a@x", "b@x", "c@x"]
    assert rows[0] == {
        "call_id": "a@x", "caller": "301", "caller_name": "Alice", "callee": "302",
        "started_at": "2026-11-01T09:00:00+00:00", "answered_at": "2026-11-01T09:00:03+00:00",
        "ended_at": "2026-11-01T09:01:03+00:00", "duration": "60.0", "disposition": "answered",
        "status": "200", "reason": "caller hung up", "caller_source": "192.0.2.1:5061",
        "callee_call_id": "a-leg-b@x", "wan_packets": "3000", "wan_lost": "2", "wan_dropped": "6",
        "wan_jitter_ms": "1.23", "lan_packets": "2990", "lan_lost": "0", "lan_dropped": "0",
        "lan_jitter_ms": "0.5",
    }  # fmt: skip
    assert rows[1]["answered_at"] == "" and rows[1]["wan_packets"] == ""  # no media record
    assert rows[2]["caller_name"] == 'Al, "the" boss'
    out = tmp_path / "cdr.csv"
    window = vg(config, "cdr", "export", "--since", "2026-11-01T10:00:00+01:00", "--until",
                "2026-11-02", str(out))  # fmt: skip
    assert (window.returncode, window.stdout) == (0, "")
    assert [r["call_id"] for r in csv.DictReader(out.open())] == ["a@x", "b@x"]
    # the filters of the call records page and the API
    some = vg(config, "cdr", "export", "--caller", "30", "--callee", "30")
    assert [r["call_id"] for r in csv.DictReader(io.StringIO(some.stdout))] == ["a@x", "c@x"]
    some = vg(config, "cdr", "export", "--caller", "30", "--disposition", "answered",
              "--min-duration", "1:00")  # fmt: skip
    assert [r["call_id"] for r in csv.DictReader(io.StringIO(some.stdout))] == ["a@x"]


def test_check_config_names_the_database_without_its_password(tmp_path: Path) -> None:
    data = tmp_path / "d"
    subprocess.run([sys.executable, "-m", "voxgate", "init", "--data", str(data)], check=True,
                   capture_output=True)  # fmt: skip
    config = data / "voxgate.toml"
    config.write_text(config.read_text().replace(
        "[store]", '[store]\nurl = "postgresql+asyncpg://vox:s3cr3t@db.example/voxgate"', 1))
    done = subprocess.run([sys.executable, "-m", "voxgate", "check-config", str(config)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "database: postgresql+asyncpg://vox:***@db.example/voxgate" in done.stdout
    assert "s3cr3t" not in done.stdout
    assert "pbx:      on 127.0.0.1:5070 (udp, tcp), realm voxgate, digest MD5" in done.stdout
    assert "edge:     on the listeners above" in done.stdout
