from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from voxgate import __version__
from voxgate.cli import main
from voxgate.config.schema import Settings


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("cli") / "data"
    assert main(["init", "--data", str(data)]) == 0
    return data


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"voxgate {__version__}"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "check-config" in capsys.readouterr().err


def test_init_reports_files_and_fingerprint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--data", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert f"created  {tmp_path / 'd' / 'tls' / 'key.pem'}" in out
    assert "certificate SHA-256 fingerprint: " in out
    assert "next: voxgate check-config" in out


def test_init_defaults_to_data_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert (tmp_path / "data" / "voxgate.toml").is_file()
    assert main(["check-config"]) == 0


def test_init_twice_refuses_then_force_keeps_key(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["init", "--data", str(data_dir)]) == 1
    assert "already exists; use --force" in capsys.readouterr().err
    key = (data_dir / "tls" / "key.pem").read_bytes()
    assert main(["init", "--data", str(data_dir), "--force"]) == 0
    out = capsys.readouterr().out
    assert "replaced" in out
    assert "kept" in out
    assert (data_dir / "tls" / "key.pem").read_bytes() == key


def test_check_config_on_the_initialized_config(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(data_dir / "voxgate.toml")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "OK: tls 0.0.0.0:5061"
    assert "warning" not in out


def test_check_config_warns_about_plain_sip_on_all_addresses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "plain.toml"
    config.write_text('[[sip.listeners]]\ntransport = "udp"\naddress = "::"\n'
                      '[[sip.listeners]]\ntransport = "tcp"\naddress = "10.1.2.3"\n'
                      "enabled = false\n")
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "OK: udp [::]:5060"
    assert "disabled: tcp 10.1.2.3:5060" in out
    assert "warning:  udp [::]:5060 carries SIP unencrypted" in out


def test_check_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[[sip.listeners]]\nport = 5061\n[[sip.listeners]]\nport = 99999\n")
    assert main(["check-config", str(config)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("voxgate: config error: sip.listeners[1].port: "
                            "must be between 0 and 65535: 99999\n")


def test_python_m_voxgate_check_config_bad_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[log]\nlevel = "loud"\n')
    result = subprocess.run(
        [sys.executable, "-m", "voxgate", "check-config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "voxgate: config error: log.level: must be one of" in result.stderr
    assert '"loud"' in result.stderr


def test_serve_with_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[sip]\nmax_connections = 0\n")
    assert main(["serve", "--config", str(config)]) == 2
    assert capsys.readouterr().err.startswith(
        "voxgate: config error: sip.max_connections: must be between")


def test_serve_hands_settings_to_the_app(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[Settings] = []

    def serve(settings: Settings) -> int:
        received.append(settings)
        return 0

    monkeypatch.setitem(sys.modules, "voxgate.app", types.SimpleNamespace(serve=serve))
    assert main(["serve", "--config", str(data_dir / "voxgate.toml")]) == 0
    assert len(received) == 1
    assert received[0].tls.certificate == data_dir / "tls" / "cert.pem"


def test_serve_without_an_app_module(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "voxgate.app", None)
    assert main(["serve", "--config", str(data_dir / "voxgate.toml")]) == 1
    assert "no voxgate.app" in capsys.readouterr().err
