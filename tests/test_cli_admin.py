"""`voxgate admin add|list|show|set|passwd|del` and the first administrator of `voxgate init`,
as an administrator runs them (the real command in a subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = "Vq8-mRt4-Lp2x-Adm"
INIT_LINE = re.compile(r"created  administrator 'admin' \(system\) with password: (\S{20})\n")


def voxgate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voxgate", *args], capture_output=True,
                          text=True, input=stdin, check=False, timeout=120)  # fmt: skip


@pytest.fixture
def init_output(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    done = voxgate("init", "--data", str(tmp_path / "data"))
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def config(tmp_path: Path, init_output: subprocess.CompletedProcess[str]) -> Path:
    del init_output
    return tmp_path / "data" / "voxgate.toml"


def vg(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return voxgate(*args, "--config", str(config), stdin=stdin)


def test_init_creates_the_first_admin_and_prints_its_password_once(
    tmp_path: Path, init_output: subprocess.CompletedProcess[str]
) -> None:
    match = INIT_LINE.search(init_output.stdout)
    assert match is not None, init_output.stdout
    password = match.group(1)
    assert "must be changed at the first login at https://<this host>:8444/" in init_output.stdout
    config = tmp_path / "data" / "voxgate.toml"
    listing = vg(config, "admin", "list")
    assert re.search(r"^admin\s+system\s+enabled\s+must change\s+never$", listing.stdout, re.M), listing.stdout
    assert password not in listing.stdout + vg(config, "audit").stdout
    again = voxgate("init", "--data", str(tmp_path / "data"), "--force")
    assert again.returncode == 0, again.stderr
    assert "kept     the administrator accounts" in again.stdout
    assert password not in again.stdout and "with password" not in again.stdout


def test_add_list_passwd_set_del(config: Path) -> None:
    weak = vg(config, "admin", "add", "alice", "--role", "group", stdin="password1\n")
    assert weak.returncode == 1
    assert "password is too short" in weak.stderr and "--generate-password" in weak.stderr
    done = vg(config, "admin", "add", "alice", "--role", "group", "--no-must-change", stdin=GOOD + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "added group account alice\n"
    assert GOOD not in done.stdout + done.stderr
    taken = vg(config, "admin", "add", "alice", "--role", "user", "--generate-password")
    assert taken.returncode == 1 and "exists" in taken.stderr and "password:" not in taken.stdout
    generated = vg(config, "admin", "add", "bob", "--role", "system", "--generate-password")
    assert generated.returncode == 0, generated.stderr
    match = re.match(r"password: (\S{20})  \(shown once; it is stored only as a hash\)\n", generated.stdout)
    assert match is not None, generated.stdout
    assert "to be changed at the first login" in generated.stdout
    listing = vg(config, "admin", "list").stdout
    assert re.search(r"^alice\s+group\s+enabled\s+no expiry\s+never$", listing, re.M), listing
    assert re.search(r"^bob\s+system\s+enabled\s+must change", listing, re.M), listing
    assert "3 account(s)" in listing

    changed = vg(config, "admin", "set", "alice", "--grant", "form:devices:write",
                 "--grant", "device:00:04:f2:a1:b2:c3:read", "--max-age", "90")
    assert changed.returncode == 0, changed.stderr
    shown = vg(config, "admin", "show", "alice").stdout
    assert "grant form:devices:write" in shown and "grant device:0004f2a1b2c3:read" in shown
    assert "expires" in shown
    bad = vg(config, "admin", "set", "alice", "--grant", "form:shell:write")
    assert bad.returncode == 1 and "unknown form 'shell'" in bad.stderr

    passwd = vg(config, "admin", "passwd", "alice", "--generate-password")
    assert passwd.returncode == 0, passwd.stderr
    assert "password of alice set (to be changed at the next login)" in passwd.stdout
    assert re.search(r"^alice\s+group\s+enabled\s+must change", vg(config, "admin", "list").stdout, re.M)
    missing = vg(config, "admin", "passwd", "nobody", "--generate-password")
    assert missing.returncode == 1 and "no account 'nobody'" in missing.stderr
    assert "password:" not in missing.stdout

    assert vg(config, "admin", "del", "alice").returncode == 0
    assert vg(config, "admin", "del", "admin").returncode == 0  # bob is still a system admin
    last = vg(config, "admin", "del", "bob")
    assert last.returncode == 1 and "last enabled system administrator" in last.stderr
    assert vg(config, "admin", "set", "bob", "--disable").returncode == 1
    audit = [line.split()[3] for line in vg(config, "audit", "--action", "admin.").stdout.splitlines()]
    assert audit == ["admin.delete", "admin.delete", "admin.password", "admin.grant", "admin.grant",
                     "admin.change", "admin.add", "admin.add", "admin.add"]
