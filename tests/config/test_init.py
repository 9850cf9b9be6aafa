from __future__ import annotations

import base64
import ipaddress
import ssl
import stat
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from voxgate.config import certificates
from voxgate.config.init import InitError, InitResult, init_data_dir, render_default_config
from voxgate.config.load import load_settings, parse_settings
from voxgate.config.reference import schema_tables
from voxgate.config.schema import Listener, Settings

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def initialized(tmp_path_factory: pytest.TempPathFactory) -> InitResult:
    data = tmp_path_factory.mktemp("init") / "data"
    return init_data_dir(data, host_name="edge.example", now=NOW)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_creates_the_files_with_private_modes(initialized: InitResult) -> None:
    data = initialized.data_dir
    assert _mode(data) == 0o700
    assert _mode(data / "tls") == 0o700
    assert _mode(data / "voxgate.toml") == 0o600
    assert _mode(data / "tls" / "cert.pem") == 0o600
    assert _mode(data / "tls" / "key.pem") == 0o600
    assert initialized.config_path == data / "voxgate.toml"
    assert _mode(data / "secret.key") == 0o600
    assert len(base64.b64decode((data / "secret.key").read_text())) == 32
    assert set(initialized.created) == {data, data / "tls", data / "voxgate.toml",
                                        data / "tls" / "cert.pem", data / "tls" / "key.pem",
                                        data / "secret.key"}
    assert initialized.kept == initialized.replaced == ()


def test_certificate_loads_with_its_key(initialized: InitResult) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(initialized.certificate, initialized.private_key)


def test_certificate_properties(initialized: InitResult) -> None:
    cert = x509.load_pem_x509_certificate(initialized.certificate.read_bytes())
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == 3072
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= timedelta(days=826)
    assert cert.not_valid_after_utc == NOW + timedelta(days=825)
    assert cert.not_valid_before_utc <= NOW
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["edge.example", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is False


def test_config_is_valid_and_tls_only(initialized: InitResult) -> None:
    settings = load_settings(initialized.config_path)
    assert settings.enabled_listeners == (Listener("tls", "0.0.0.0", 5061, True),)
    assert settings.node.name == "edge.example"
    assert settings.node.data_dir == initialized.data_dir
    assert settings.tls.certificate == initialized.certificate
    assert settings.tls.private_key == initialized.private_key
    assert settings.sip == Settings().sip
    assert settings.log == Settings().log


def test_refuses_to_overwrite_config_without_force(initialized: InitResult) -> None:
    before = {p: p.read_bytes() for p in (initialized.config_path, initialized.private_key)}
    with pytest.raises(InitError, match="already exists; use --force"):
        init_data_dir(initialized.data_dir, host_name="edge.example")
    assert {p: p.read_bytes() for p in before} == before


def test_force_replaces_config_but_keeps_key_and_certificate(tmp_path: Path) -> None:
    first = init_data_dir(tmp_path / "d", host_name="edge.example", now=NOW)
    key, cert = first.private_key.read_bytes(), first.certificate.read_bytes()
    secret_key = first.data_dir / "secret.key"
    secret = secret_key.read_bytes()
    first.config_path.write_text("# tuned by hand\n")
    second = init_data_dir(tmp_path / "d", force=True, host_name="edge.example", now=NOW)
    assert second.replaced == (first.config_path,)
    assert set(second.kept) == {first.private_key, first.certificate, secret_key}
    assert secret_key.read_bytes() == secret
    assert second.private_key.read_bytes() == key
    assert second.certificate.read_bytes() == cert
    backup = first.config_path.with_name("voxgate.toml.bak")
    assert backup.read_text() == "# tuned by hand\n"
    assert _mode(backup) == 0o600
    load_settings(second.config_path)


def test_existing_key_gets_a_certificate_not_a_new_key(tmp_path: Path) -> None:
    first = init_data_dir(tmp_path / "d", host_name="edge.example", now=NOW)
    key = first.private_key.read_bytes()
    first.certificate.unlink()
    first.config_path.unlink()
    second = init_data_dir(tmp_path / "d", host_name="edge.example", now=NOW)
    assert second.private_key.read_bytes() == key
    assert first.certificate in second.created
    assert first.private_key in second.kept
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(second.certificate,
                                                           second.private_key)


def test_certificate_without_key_is_an_error(tmp_path: Path) -> None:
    first = init_data_dir(tmp_path / "d", host_name="edge.example", now=NOW)
    first.private_key.unlink()
    with pytest.raises(InitError, match="without"):
        init_data_dir(tmp_path / "d", force=True, host_name="edge.example", now=NOW)
    assert not first.private_key.exists()


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(InitError, match="not a directory"):
        init_data_dir(tmp_path / "f")


def test_host_name_that_is_not_a_dns_name() -> None:
    names = certificates.subject_alt_names("my host")
    assert [n.value for n in names if isinstance(n, x509.DNSName)] == ["localhost"]
    assert 'name = "my host"' not in render_default_config("my host")


def test_default_config_mentions_every_key() -> None:
    text = render_default_config("edge.example")
    for path, array, _cls, leaves in schema_tables():
        assert (f"[[{path}]]" if array else f"[{path}]") in text
        for field in leaves:
            if not isinstance(field.default, tuple):
                assert f"{field.name} = " in text, f"{path}.{field.name}"


def test_default_config_is_the_schema_default(config_dir: Path) -> None:
    document = tomllib.loads(render_default_config("edge.example"))
    assert document["sip"]["listeners"] == [
        {"transport": "tls", "address": "0.0.0.0", "port": 5061}]
    settings = parse_settings(document, config_dir)
    expected = Settings()
    assert settings.sip == expected.sip
    assert settings.log == expected.log
    assert (settings.tls.min_version, settings.tls.ciphers, settings.tls.verify_client) == (
        expected.tls.min_version, expected.tls.ciphers, expected.tls.verify_client)


def test_commented_examples_parse_when_uncommented(config_dir: Path) -> None:
    text = render_default_config("edge.example")
    start = text.index("# [[sip.listeners]]")
    end = text.index("[sip.limits]")
    block = "\n".join(line.removeprefix("# ").removeprefix("#")
                      for line in text[start:end].splitlines())
    document = tomllib.loads(text[:start] + block + "\n" + text[end:])
    settings = parse_settings(document, config_dir)
    assert settings.sip.listeners == (
        Listener("tls", "0.0.0.0", 5061), Listener("tls", "::", 5061),
        Listener("udp", "192.168.1.10", 5060), Listener("tcp", "192.168.1.10", 5060),
    )
