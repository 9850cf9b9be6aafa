"""`voxgate installer set|show|clear` as an administrator runs them (the real command in a
subprocess, against a data directory made by `voxgate init`)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = "Tq7-vLp2-Wz9k-Inst"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "voxgate", "init", "--data", str(data)], check=True,
                   capture_output=True)  # fmt: skip
    return data / "voxgate.toml"


def vg(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voxgate", *args, "--config", str(config)],
                          capture_output=True, text=True, input=stdin, check=False)  # fmt: skip


def test_set_from_stdin_show_clear_and_the_audit_log(config: Path) -> None:
    shown = vg(config, "installer", "show")
    assert shown.returncode == 0 and "installer password: not set" in shown.stdout
    assert "provisioning server: off" in shown.stdout
    weak = vg(config, "installer", "set", stdin="password1\n")
    assert weak.returncode == 1 and "too short" in weak.stderr and "--generate-password" in weak.stderr
    done = vg(config, "installer", "set", stdin=GOOD + "\n")
    assert done.returncode == 0, done.stderr
    assert GOOD not in done.stdout + done.stderr
    shown = vg(config, "installer", "show")
    assert re.search(r"installer password: set \d{4}-\d\d-\d\dT\S+ by cli:", shown.stdout), shown.stdout
    with sqlite3.connect(config.parent / "voxgate.db") as db:
        [(value,)] = db.execute("SELECT value FROM meta WHERE key = 'installer_password'").fetchall()
    assert '"hash": "scrypt$15$8$1$' in value and GOOD not in value
    assert vg(config, "installer", "clear").stdout.startswith("installer password cleared")
    assert vg(config, "installer", "clear").stdout.startswith("no installer password was set")
    assert "not set" in vg(config, "installer", "show").stdout
    audit = vg(config, "audit", "--action", "installer.").stdout.splitlines()
    assert [line.split()[3] for line in audit] == ["installer.clear", "installer.set"]


def test_a_generated_password_is_printed_once(config: Path) -> None:
    done = vg(config, "installer", "set", "--generate-password")
    assert done.returncode == 0, done.stderr
    match = re.fullmatch(r"installer password: (\S{20})  \(shown once; it is stored only as a hash\)\n",
                         done.stdout)  # fmt: skip
    assert match is not None, done.stdout
    assert match.group(1) not in vg(config, "installer", "show").stdout
    assert match.group(1) not in vg(config, "audit").stdout
