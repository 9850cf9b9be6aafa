"""The data commands as an administrator runs them: `voxgate ext …`, `db upgrade`, `cdr export`,
against a data directory made by `voxgate init`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

GOOD = "Tq7-vLp2-Wz9k"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli") / "data"
    subprocess.run([sys.executable, "-m", "voxgate", "init", "--data", str(data)], check=True,
                   capture_output=True)  # fmt: skip
    return data / "voxgate.toml"


def vg(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voxgate", *args, "--config", str(config)],
                          capture_output=True, text=True, input=stdin, check=False)  # fmt: skip


def test_db_upgrade(config: Path) -> None:
    done = vg(config, "db", "upgrade")
    assert done.returncode == 0
    assert "revision 0001" in done.stdout


def test_ext_lifecycle(config: Path) -> None:
    assert vg(config, "ext", "add", "301", "--name", "Alice", "--secret", "-", stdin=GOOD + "\n").returncode == 0
    generated = vg(config, "ext", "add", "302", "--generate-secret")
    assert generated.returncode == 0
    assert generated.stdout.startswith("secret: ")
    weak = vg(config, "ext", "add", "303", "--secret", "letmein123")
    assert weak.returncode == 1
    assert "too weak" in weak.stderr
    listing = vg(config, "ext", "list").stdout
    assert "301" in listing
    assert "Alice" in listing
    assert "302" in listing
    assert "303" not in listing
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
    assert "401" not in vg(config, "ext", "list").stdout


def test_export_then_import_elsewhere(config: Path, tmp_path: Path) -> None:
    exported = tmp_path / "exported.csv"
    assert vg(config, "ext", "export", str(exported)).returncode == 0
    assert GOOD not in exported.read_text()
    other = tmp_path / "other"
    subprocess.run([sys.executable, "-m", "voxgate", "init", "--data", str(other)], check=True,
                   capture_output=True)  # fmt: skip
    done = vg(other / "voxgate.toml", "ext", "import", str(exported))
    assert done.returncode == 0, done.stderr
    assert "301" in vg(other / "voxgate.toml", "ext", "list").stdout


def test_cdr_export_of_an_empty_table_is_a_header(config: Path) -> None:
    done = vg(config, "cdr", "export", "--format", "csv", "--since", "2026-01-01")
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        "call_id,caller,caller_name,callee,started_at,answered_at,ended_at,duration,disposition,"
        "status,reason,caller_source"
    ]


def test_bad_since_is_a_usage_error(config: Path) -> None:
    done = vg(config, "cdr", "export", "--since", "yesterday")
    assert done.returncode == 2
    assert "not an ISO 8601 time" in done.stderr
