"""`voxgate device …`, `voxgate sipuser …` and `voxgate ext add --remote` as an administrator
runs them (the real command in a subprocess, against a data directory made by `voxgate init`)."""

from __future__ import annotations

import asyncio
import csv
import io
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from voxgate.config.load import load_settings
from voxgate.services.sipusers import SipUserService
from voxgate.sip.digest import ha1
from voxgate.storage.engine import Store
from voxgate.storage.secretbox import read_key_file

EDGE_REALM = "voxgate-edge"
GOOD = "Tq7-vLp2-Wz9k"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "voxgate", "init", "--data", str(data)], check=True,
                   capture_output=True)  # fmt: skip
    return data / "voxgate.toml"


def vg(config: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voxgate", *args, "--config", str(config)],
                          capture_output=True, text=True, input=stdin, check=False)  # fmt: skip


def macs(config: Path, *args: str) -> list[str]:
    """The MACs `voxgate device list` shows (header and total left out)."""
    return [line.split()[0] for line in vg(config, "device", "list", *args).stdout.splitlines()[1:-1]]


def snapshot(config: Path) -> dict[str, tuple[str, str, str | None]]:
    """username → (extension, HA1 MD5, decrypted upstream secret), as the edge loads them."""
    settings = load_settings(config)

    async def main() -> dict[str, tuple[str, str, str | None]]:
        store = await Store.open(settings.store_url)
        try:
            service = SipUserService(store, settings.edge.realm, read_key_file(settings.store.secret_key))
            entries, _ = await service.snapshot()
            return {e.username: (e.extension, e.ha1_md5, e.upstream_secret) for e in entries}
        finally:
            await store.close()

    return asyncio.run(main())


def test_device_lifecycle(config: Path) -> None:
    done = vg(config, "device", "add", "00-04-F2-A1-B2-C3", "--description", "Reception")
    assert (done.returncode, done.stdout.strip()) == (0, "added device 00:04:f2:a1:b2:c3 (disabled)")
    assert vg(config, "device", "add", "0004f2a1b2c4", "--enable").returncode == 0
    assert macs(config) == ["00:04:f2:a1:b2:c3", "00:04:f2:a1:b2:c4"]
    assert macs(config, "--disabled") == ["00:04:f2:a1:b2:c3"]
    assert macs(config, "--search", "recep") == ["00:04:f2:a1:b2:c3"]
    assert vg(config, "device", "enable", "0004f2a1b2c3").returncode == 0
    assert macs(config, "--disabled") == []
    assert vg(config, "device", "set", "0004f2a1b2c3", "--description", "Front desk").returncode == 0
    shown = vg(config, "device", "show", "00:04:f2:a1:b2:c3").stdout
    assert "description: Front desk" in shown and "enabled:     yes" in shown and "learned by:  admin" in shown
    assert vg(config, "device", "disable", "0004f2a1b2c3").returncode == 0
    assert vg(config, "device", "del", "0004f2a1b2c4").returncode == 0
    assert macs(config) == ["00:04:f2:a1:b2:c3"]
    audit = [line.split()[3] for line in vg(config, "audit", "--action", "device.").stdout.splitlines()]
    assert audit == ["device.delete", "device.disable", "device.set", "device.enable", "device.add", "device.add"]


@pytest.mark.parametrize(("args", "status", "message"), [
    (("device", "add", "00:04:f2"), 1, "voxgate: device add: not a MAC address: '00:04:f2'"),
    (("device", "enable", "0004f2a1b2c9"), 1, "voxgate: device enable: no device 00:04:f2:a1:b2:c9"),
    (("device", "set", "0004f2a1b2c9"), 2, "the following arguments are required: --description"),
    (("device", "import", "/nonexistent.csv"), 1, "cannot read /nonexistent.csv"),
    (("sipuser", "add", "alice"), 2, "the following arguments are required: --extension"),
    (("sipuser", "add", "alice", "--extension", "201", "--embedded"), 1,
     "voxgate: sipuser add: no extension 201 in the embedded call control"),
    (("sipuser", "add", "alice", "--extension", "201", "--embedded", "--upstream-secret", GOOD), 2,
     "--embedded generates the upstream credentials"),
    (("sipuser", "show", "nobody"), 1, "voxgate: sipuser: no SIP user 'nobody'"),
    (("ext", "add", "201", "--remote", "--generate-secret"), 2, "--remote generates the extension's secret"),
])
def test_refusals_are_one_clear_line(config: Path, args: tuple[str, ...], status: int, message: str) -> None:
    done = vg(config, *args)
    assert done.returncode == status
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_device_import_names_every_bad_line_then_imports_and_exports(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("mac,description,enabled\n00:04:f2:a1:b2:c3,A,true\n00:04:f2:a1:b2,B,true\n"
                   "0004f2a1b2c3,C,false\n00:04:f2:a1:b2:c5,D,maybe\n")
    done = vg(config, "device", "import", str(bad))
    assert done.returncode == 1
    assert "voxgate: device import: 3 bad row(s), nothing imported:" in done.stderr
    for line in ("line 3: not a MAC address", "line 4: device 00:04:f2:a1:b2:c3 already on line 2",
                 "line 5: enabled 'maybe' is not true or false"):
        assert line in done.stderr
    assert macs(config) == []
    good = tmp_path / "good.csv"
    good.write_text("mac,description,enabled\n" + "".join(f"00:04:f2:00:00:{i:02x},Phone {i},yes\n" for i in range(20)))
    done = vg(config, "device", "import", str(good))
    assert (done.returncode, done.stdout.strip()) == (0, "imported 20 new, 0 changed device(s)")
    again = vg(config, "device", "import", str(good))
    assert again.returncode == 1 and "20 bad row(s)" in again.stderr and "use --update" in again.stderr
    assert vg(config, "device", "import", str(good), "--update").returncode == 0
    out = tmp_path / "devices.csv"
    assert vg(config, "device", "export", str(out)).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 20 and rows[0]["mac"] == "00:04:f2:00:00:00" and rows[0]["enabled"] == "true"


def test_sipuser_embedded_one_step(config: Path) -> None:
    assert vg(config, "ext", "add", "201", "--name", "Alice", "--secret", "-", stdin=GOOD + "\n").returncode == 0
    done = vg(config, "sipuser", "add", "alice", "--extension", "201", "--embedded", "--device", "0004f2a1b2c3")
    assert done.returncode == 0, done.stderr
    [password_line] = [line for line in done.stdout.splitlines() if line.startswith("password: ")]
    password = password_line.split()[1]
    assert "upstream secret" not in done.stdout  # the level-2 secret is never shown
    extension, user_ha1, level2 = snapshot(config)["alice"]
    assert extension == "201"
    assert user_ha1 == ha1("MD5", "alice", EDGE_REALM, password)
    assert level2 is not None and level2 not in (password, GOOD)
    exported = vg(config, "ext", "export").stdout
    [row] = [r for r in csv.DictReader(io.StringIO(exported)) if r["number"] == "201"]
    assert row["ha1_md5"] == ha1("MD5", "201", "voxgate", level2)  # the extension took the new secret
    shown = vg(config, "sipuser", "show", "alice")
    assert "device:            00:04:f2:a1:b2:c3" in shown.stdout
    assert "not in the device table" in shown.stdout
    assert password not in shown.stdout and level2 not in shown.stdout


def test_ext_add_remote_creates_both(config: Path) -> None:
    done = vg(config, "ext", "add", "301", "--remote", "--name", "Carol", "--username", "carol")
    assert done.returncode == 0, done.stderr
    assert "added extension 301 and SIP user carol for it" in done.stdout
    password = done.stdout.split("password: ", 1)[1].split()[0]
    _, user_ha1, level2 = snapshot(config)["carol"]
    assert user_ha1 == ha1("MD5", "carol", EDGE_REALM, password)
    [row] = [r for r in csv.DictReader(io.StringIO(vg(config, "ext", "export").stdout)) if r["number"] == "301"]
    assert (row["display_name"], row["ha1_md5"]) == ("Carol", ha1("MD5", "301", "voxgate", level2 or ""))


def test_sipuser_foreign_pbx_set_del_and_export(config: Path, tmp_path: Path) -> None:
    done = vg(config, "sipuser", "add", "bob", "--extension", "401", "--password", "-", "--upstream-secret", "-",
              stdin=f"{GOOD}\nPbx-Side-Secret-42\n")
    assert done.returncode == 0, done.stderr
    assert "password:" not in done.stdout and "upstream secret:" not in done.stdout  # given, not generated
    assert snapshot(config)["bob"] == ("401", ha1("MD5", "bob", EDGE_REALM, GOOD), "Pbx-Side-Secret-42")
    same = vg(config, "sipuser", "set", "bob", "--upstream-secret", "-", stdin=GOOD + "\n")
    assert same.returncode == 1 and "must differ from the device (level-1) password" in same.stderr
    weak = vg(config, "sipuser", "set", "bob", "--password", "-", stdin="letmein123\n")
    assert weak.returncode == 1 and "password is too weak" in weak.stderr
    changed = vg(config, "sipuser", "set", "bob", "--generate-password", "--extension", "402", "--disable")
    assert changed.returncode == 0, changed.stderr
    new_password = changed.stdout.split("password: ", 1)[1].split()[0]
    assert snapshot(config)["bob"][:2] == ("402", ha1("MD5", "bob", EDGE_REALM, new_password))
    plain = vg(config, "sipuser", "export").stdout
    assert "Pbx-Side-Secret-42" not in plain and new_password not in plain
    full = tmp_path / "users.csv"
    full.write_text("stale")
    full.chmod(0o644)
    assert vg(config, "sipuser", "export", "--include-secrets", str(full)).returncode == 0
    assert stat.S_IMODE(full.stat().st_mode) == 0o600
    [row] = list(csv.DictReader(full.open()))
    assert (row["username"], row["upstream_secret"], row["enabled"]) == ("bob", "Pbx-Side-Secret-42", "false")
    assert vg(config, "sipuser", "del", "bob").returncode == 0
    assert vg(config, "sipuser", "import", str(full)).returncode == 0  # a backup restores as is
    assert snapshot(config)["bob"] == ("402", ha1("MD5", "bob", EDGE_REALM, new_password), "Pbx-Side-Secret-42")
    audit = vg(config, "audit", "--action", "sipuser.").stdout
    assert GOOD not in audit and new_password not in audit and "Pbx-Side-Secret-42" not in audit


def test_sipuser_import_names_every_bad_line(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "users.csv"
    bad.write_text("username,password,extension,upstream_secret\n"
                   f"ok,{GOOD},201,Other-Secret-77x\nweak,password123,202,Other-Secret-77x\n"
                   f"same,{GOOD},203,{GOOD}\n")
    done = vg(config, "sipuser", "import", str(bad))
    assert done.returncode == 1
    assert "2 bad row(s), nothing imported" in done.stderr
    assert "line 3: password is too weak" in done.stderr and "line 4: the upstream (level-2) secret must differ" in done.stderr
    assert vg(config, "sipuser", "list").stdout.splitlines()[-1] == "0 SIP user(s)"


def test_a_missing_key_file_is_a_clear_error(config: Path) -> None:
    (config.parent / "secret.key").unlink()
    done = vg(config, "sipuser", "list")
    assert done.returncode == 1
    assert "voxgate: sipuser list: cannot read the secret key" in done.stderr
