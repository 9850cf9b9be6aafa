"""`voxgate netlist …` and `voxgate audit` as an administrator runs them (the real command in
a subprocess, against a data directory made by `voxgate init`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "voxgate", "init", "--data", str(data)], check=True,
                   capture_output=True)  # fmt: skip
    return data / "voxgate.toml"


def vg(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voxgate", *args, "--config", str(config)],
                          capture_output=True, text=True, input=stdin, check=False)  # fmt: skip


def test_import_list_export_and_delete(config: Path, tmp_path: Path) -> None:
    country = tmp_path / "country.txt"
    country.write_text("# Country X\n192.0.2.0/24  # first\n2001:db8::/32\n")
    done = vg(config, "netlist", "import", "--block", str(country))
    assert done.returncode == 0, done.stderr
    assert "block list 'Country X': 2 netblocks (replaced 0)" in done.stdout
    assert vg(config, "netlist", "add", "--allow", "198.51.100.7", "--comment", "office").returncode == 0
    listing = vg(config, "netlist", "list").stdout
    assert "allow  manual" in listing and "block  Country X 2" in listing
    exported = vg(config, "netlist", "export", "--block").stdout
    assert exported == "# Country X\n192.0.2.0/24  # first\n2001:db8::/32\n"
    assert vg(config, "netlist", "del", "--block", "--list", "Country X").returncode == 0
    assert "Country X" not in vg(config, "netlist", "list").stdout
    audit = vg(config, "audit", "--action", "netlist.").stdout.splitlines()
    assert [line.split()[3] for line in audit] == ["netlist.delete", "netlist.add", "netlist.import"]
    assert all("cli:" in line for line in audit)


def test_a_bad_file_is_refused_with_every_line_and_nothing_imported(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("# Broken\n192.0.2.0/24\n10.0.0.0/8 extra words\n1.2.3.4/33\n")
    done = vg(config, "netlist", "import", "--block", str(bad))
    assert done.returncode == 1
    assert "2 bad line(s), nothing loaded" in done.stderr
    assert "line 3:" in done.stderr and "line 4:" in done.stderr
    assert "no netlists" in vg(config, "netlist", "list").stdout


def test_import_from_stdin_with_a_title(config: Path) -> None:
    done = vg(config, "netlist", "import", "--allow", "-", "--title", "Branches", stdin="10.1.0.0/16\n")
    assert done.returncode == 0, done.stderr
    assert "allow list 'Branches': 1 netblocks" in done.stdout


def test_refusals_are_clear(config: Path) -> None:
    done = vg(config, "netlist", "add", "--block", "999.1.1.1")
    assert done.returncode == 1 and "bad netblock '999.1.1.1'" in done.stderr
    done = vg(config, "netlist", "del", "--block", "192.0.2.1")
    assert done.returncode == 1 and "192.0.2.1/32 is not in the block list" in done.stderr
    done = vg(config, "netlist", "add", "192.0.2.1")
    assert done.returncode == 2 and "one of the arguments --allow --block is required" in done.stderr
