from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from voxgate.config import certificates
from voxgate.config.load import ConfigError, load_settings, parse_settings
from voxgate.config.schema import Listener, Settings

WriteConfig = Callable[[str], Path]

# (TOML text, key path, reason fragment, offending value as shown)
ERRORS = [
    pytest.param("colour = 1", "colour", "unknown key 'colour'", "known keys in the top level",
                 id="unknown-top-level"),
    pytest.param("[sip]\nlistner = []", "sip.listner", "unknown key", "did you mean 'listeners'",
                 id="unknown-with-suggestion"),
    pytest.param("[[sip.listeners]]\nport = 5061\n[[sip.listeners]]\nprot = 1",
                 "sip.listeners[1].prot", "unknown key", "'prot'", id="unknown-in-array"),
    pytest.param("[log]\nlevel = 3", "log.level", "expected a string, not an integer", ": 3",
                 id="type-int-for-string"),
    pytest.param("[sip]\nkeepalive_pong = 1", "sip.keepalive_pong",
                 "expected a boolean, not an integer", ": 1", id="type-int-for-bool"),
    pytest.param("[sip]\ntcp_idle_timeout = true", "sip.tcp_idle_timeout",
                 "expected an integer, not a boolean", ": true", id="type-bool-for-int"),
    pytest.param("[sip]\ntcp_idle_timeout = 60.5", "sip.tcp_idle_timeout",
                 "expected an integer, not a float", ": 60.5", id="type-float-for-int"),
    pytest.param('[sip]\nlisteners = "tls"', "sip.listeners", "expected an array, not a string",
                 '"tls"', id="type-string-for-array"),
    pytest.param("sip = 1", "sip", "expected a table, not an integer", ": 1", id="type-section"),
    pytest.param('[tls]\nmin_version = 1.2', "tls.min_version", "expected a string, not a float",
                 "1.2", id="type-float-version"),
    pytest.param("[node]\ndata_dir = 1", "node.data_dir", "expected a string", ": 1",
                 id="type-path"),
    pytest.param("[[sip.listeners]]\nport = 5061\n[[sip.listeners]]\nport = 70000",
                 "sip.listeners[1].port", "must be between 0 and 65535", ": 70000",
                 id="bounds-port-high"),
    pytest.param("[[sip.listeners]]\nport = -1", "sip.listeners[0].port",
                 "must be between 0 and 65535", ": -1", id="bounds-port-negative"),
    pytest.param("[sip.limits]\nmax_message_size = 100", "sip.limits.max_message_size",
                 "must be between 1024 and 1048576", ": 100", id="bounds-message-size"),
    pytest.param("[sip]\ntcp_idle_timeout = 0", "sip.tcp_idle_timeout",
                 "must be between 10 and 86400", ": 0", id="bounds-idle"),
    pytest.param('[sip]\nserver_name = "' + "x" * 200 + '"', "sip.server_name",
                 "longer than 128 characters", '"xxx', id="bounds-string-length"),
    pytest.param('[sip]\nserver_name = "vox\\r\\nX-Evil: 1"', "sip.server_name",
                 "not allowed", "vox", id="pattern-crlf-in-header-value"),
    pytest.param('[node]\nname = "a b"', "node.name", "not allowed", '"a b"', id="pattern-name"),
    pytest.param('[log]\nlevel = "verbose"', "log.level", "must be one of debug, info",
                 '"verbose"', id="choice-level"),
    pytest.param('[log]\nformat = "xml"', "log.format", "must be one of text, json", '"xml"',
                 id="choice-format"),
    pytest.param('[[sip.listeners]]\ntransport = "sctp"', "sip.listeners[0].transport",
                 "must be one of udp, tcp, tls", '"sctp"', id="choice-transport"),
    pytest.param('[tls]\nmin_version = "1.1"', "tls.min_version", "must be one of 1.2, 1.3",
                 '"1.1"', id="choice-tls-version"),
    pytest.param('[tls]\nverify_client = "yes"', "tls.verify_client", "must be one of none",
                 '"yes"', id="choice-verify"),
    pytest.param('[[sip.listeners]]\naddress = "example.com"', "sip.listeners[0].address",
                 "not an IPv4 or IPv6 address", '"example.com"', id="address-name"),
    pytest.param('[[sip.listeners]]\naddress = "10.0.0.256"', "sip.listeners[0].address",
                 "not an IPv4 or IPv6 address", '"10.0.0.256"', id="address-octet"),
    pytest.param('[[sip.listeners]]\naddress = "[::1]"', "sip.listeners[0].address",
                 "not an IPv4 or IPv6 address", '"[::1]"', id="address-brackets"),
    pytest.param('[tls]\nciphers = "NOPE"', "tls.ciphers", "selects no cipher", '"NOPE"',
                 id="ciphers-unknown"),
    pytest.param('[tls]\nciphers = "aNULL:@SECLEVEL=0"', "tls.ciphers",
                 "unencrypted or unauthenticated", "aNULL", id="ciphers-anonymous"),
    pytest.param('[tls]\ncertificate = "missing.pem"', "tls.certificate", "file not found",
                 "missing.pem", id="missing-certificate"),
    pytest.param('[tls]\nprivate_key = "missing.pem"', "tls.private_key", "file not found",
                 "missing.pem", id="missing-key"),
    pytest.param('[tls]\nchain = "missing.pem"', "tls.chain", "file not found", "missing.pem",
                 id="missing-chain"),
    pytest.param('[tls]\nclient_ca = "missing.pem"', "tls.client_ca", "file not found",
                 "missing.pem", id="missing-client-ca"),
    pytest.param('[tls]\ncertificate = "tls"', "tls.certificate", "not a regular file", "tls",
                 id="certificate-is-directory"),
    pytest.param('[tls]\ncertificate = "tls/key.pem"', "tls.certificate",
                 "not a PEM certificate", "key.pem", id="key-as-certificate"),
    pytest.param('[node]\ndata_dir = "nowhere"', "node.data_dir", "directory not found",
                 "nowhere", id="missing-data-dir"),
    pytest.param('[tls]\nverify_client = "required"', "tls.client_ca",
                 'must be set when tls.verify_client = "required"', "", id="required-needs-ca"),
    pytest.param('[tls]\nverify_client = "optional"', "tls.client_ca",
                 'must be set when tls.verify_client = "optional"', "", id="optional-needs-ca"),
    pytest.param("[[sip.listeners]]\nenabled = false", "sip.listeners", "no enabled listener", "",
                 id="no-enabled-listener"),
    pytest.param("[sip]\nlisteners = []", "sip.listeners", "no enabled listener", "",
                 id="empty-listeners"),
    pytest.param('[[sip.listeners]]\ntransport = "tcp"\n[[sip.listeners]]\ntransport = "tls"\n'
                 "port = 5060", "sip.listeners[1]", "same stream socket as sip.listeners[0]",
                 "5060", id="duplicate-socket"),
    pytest.param("[sip.limits]\nmax_line_length = 9000\nmax_message_size = 4096",
                 "sip.limits.max_line_length", "exceeds sip.limits.max_message_size", "9000",
                 id="line-longer-than-message"),
    pytest.param("[media]\nport_min = 20000\nport_max = 20003", "media.port_max",
                 "fewer than 8 ports", "20003", id="media-range-too-small"),
    pytest.param('[media]\nsrtp_suites = ["AES_CM_128_HMAC_SHA1_80", "ROT13"]',
                 "media.srtp_suites", "unknown suite 'ROT13'", "ROT13", id="media-bad-suite"),
    pytest.param('[media]\nwan_address = "1.2.3.4.5"', "media.wan_address", "not an IP address",
                 "1.2.3.4.5", id="media-bad-address"),
    pytest.param("[pbx]\nworkers = 0", "pbx.workers", "must be between 1 and 16", ": 0",
                 id="workers-zero"),
    pytest.param("[pbx]\nworkers = 2\n[edge]\nenabled = true", "pbx.workers",
                 "must be 1 with the edge enabled", ": 2", id="workers-behind-the-edge"),
    pytest.param("[pbx]\nworkers = 2\nenabled = false", "pbx.workers",
                 "must be 1 with pbx.enabled = false", ": 2", id="workers-without-pbx"),
    pytest.param('[pbx]\nworkers = 3\n[[sip.listeners]]\ntransport = "tls"', "pbx.workers",
                 "needs an enabled UDP listener", ": 3", id="workers-without-udp"),
]


@pytest.mark.parametrize(("text", "key", "reason", "shown"), ERRORS)
def test_errors_name_key_reason_and_value(
    write_config: WriteConfig, text: str, key: str, reason: str, shown: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(text))
    error = caught.value
    assert error.key == key
    assert reason in error.reason
    assert shown in error.reason
    assert str(error) == f"{key}: {error.reason}"


def test_long_paths_are_shown_by_their_end(tmp_path: Path) -> None:
    """A long missing path keeps its file name in the message (the start is cut instead)."""
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 6)
    deep.mkdir(parents=True)
    config = deep / "voxgate.toml"
    config.write_text('[tls]\ncertificate = "missing-certificate.pem"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    reason = caught.value.reason
    assert reason.endswith('directory-name/missing-certificate.pem"'), reason
    assert '"...' in reason
    assert len(reason) < 200


def test_toml_syntax_error_reports_line_and_column(write_config: WriteConfig) -> None:
    path = write_config('[log]\nlevel = "info"\nformat = \n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.key == str(path)
    assert "TOML syntax error" in caught.value.reason
    assert "line 3, column 10" in caught.value.reason


def test_duplicate_toml_key_is_a_syntax_error(write_config: WriteConfig) -> None:
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load_settings(write_config("[log]\nlevel = 'info'\nlevel = 'debug'\n"))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "absent.toml")
    assert caught.value.key.endswith("absent.toml")
    assert "cannot read config file" in caught.value.reason


def test_non_utf8_config_file(write_config: WriteConfig) -> None:
    path = write_config("")
    path.write_bytes(b"[log]\nlevel = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path)


def test_empty_file_gives_the_defaults(write_config: WriteConfig, config_dir: Path) -> None:
    settings = load_settings(write_config(""))
    defaults = Settings()
    assert settings.sip == defaults.sip
    assert settings.log == defaults.log
    assert settings.node.data_dir == config_dir
    assert settings.tls.certificate == config_dir / "tls" / "cert.pem"
    assert settings.tls.private_key == config_dir / "tls" / "key.pem"


def test_relative_paths_resolve_against_the_config_directory(
    config_dir: Path, tls_pem: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    (config_dir / "etc").mkdir()
    (config_dir / "var").mkdir()
    path = config_dir / "etc" / "voxgate.toml"
    path.write_text('[node]\ndata_dir = "../var"\n[tls]\ncertificate = "../tls/cert.pem"\n'
                    'private_key = "../tls/key.pem"\nchain = "../tls/cert.pem"\n')
    monkeypatch.chdir("/")
    settings = load_settings(path)
    assert settings.node.data_dir.resolve() == config_dir / "var"
    assert settings.tls.certificate.resolve() == config_dir / "tls" / "cert.pem"
    assert settings.tls.chain is not None
    assert settings.tls.chain.resolve() == config_dir / "tls" / "cert.pem"


def test_full_listener_set(write_config: WriteConfig) -> None:
    settings = load_settings(write_config(
        '[[sip.listeners]]\ntransport = "tls"\naddress = "0.0.0.0"\nport = 5061\n'
        '[[sip.listeners]]\ntransport = "tls"\naddress = "0:0::0"\nport = 5061\n'
        '[[sip.listeners]]\ntransport = "udp"\naddress = "192.168.1.10"\n'
        '[[sip.listeners]]\ntransport = "tcp"\naddress = "192.168.1.10"\nenabled = false\n'
        '[[sip.listeners]]\ntransport = "tcp"\naddress = "127.0.0.1"\nport = 0\n'
        '[[sip.listeners]]\ntransport = "udp"\naddress = "127.0.0.1"\nport = 0\n'
    ))
    assert settings.sip.listeners == (
        Listener("tls", "0.0.0.0", 5061, True),
        Listener("tls", "::", 5061, True),  # normalized
        Listener("udp", "192.168.1.10", None, True),
        Listener("tcp", "192.168.1.10", None, False),
        Listener("tcp", "127.0.0.1", 0, True),
        Listener("udp", "127.0.0.1", 0, True),
    )
    assert [lst.effective_port for lst in settings.enabled_listeners] == [5061, 5061, 5060, 0, 0]


def test_no_tls_listener_needs_no_certificate(tmp_path: Path) -> None:
    settings = parse_settings(
        {"sip": {"listeners": [{"transport": "udp", "address": "127.0.0.1", "port": 0}]}},
        tmp_path,
    )
    assert settings.tls.certificate == tmp_path / "tls" / "cert.pem"


def test_parse_settings_accepts_a_mapping(config_dir: Path) -> None:
    settings = parse_settings({"log": {"level": "debug", "format": "json"}}, config_dir)
    assert (settings.log.level, settings.log.format) == ("debug", "json")


def test_key_that_does_not_match_the_certificate(config_dir: Path) -> None:
    other = certificates.generate_private_key()
    (config_dir / "tls" / "other.pem").write_bytes(certificates.private_key_pem(other))
    with pytest.raises(ConfigError) as caught:
        parse_settings({"tls": {"private_key": "tls/other.pem"}}, config_dir)
    assert caught.value.key == "tls.private_key"
    assert "not a PEM private key matching tls.certificate" in caught.value.reason


def test_encrypted_key_is_refused_without_prompting_or_showing_it(config_dir: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificates.self_signed_certificate(key, "edge.example", now=datetime.now(UTC))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"hunter2"))
    (config_dir / "tls" / "ec.pem").write_bytes(pem)
    (config_dir / "tls" / "ec-cert.pem").write_bytes(certificates.certificate_pem(cert))
    with pytest.raises(ConfigError) as caught:
        parse_settings({"tls": {"certificate": "tls/ec-cert.pem", "private_key": "tls/ec.pem"}},
                       config_dir)
    assert caught.value.key == "tls.private_key"
    assert "encrypted" in caught.value.reason
    assert "BEGIN" not in str(caught.value)


def test_error_messages_never_contain_file_contents(config_dir: Path) -> None:
    (config_dir / "tls" / "garbage.pem").write_text("SECRET-MATERIAL")
    with pytest.raises(ConfigError) as caught:
        parse_settings({"tls": {"private_key": "tls/garbage.pem"}}, config_dir)
    assert "SECRET-MATERIAL" not in str(caught.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_unreadable_key(config_dir: Path) -> None:
    (config_dir / "tls" / "key.pem").chmod(0)
    with pytest.raises(ConfigError) as caught:
        parse_settings({}, config_dir)
    assert caught.value.key == "tls.private_key"
    assert "not readable" in caught.value.reason


def test_loaded_certificate_and_key_work_in_ssl(config_dir: Path) -> None:
    tls = parse_settings({}, config_dir).tls
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.certificate, tls.private_key)


@pytest.mark.parametrize(("text", "key", "reason"), [
    ("[media]\nlan_srtp = true\n", "media.lan_srtp", 'upstream_transport = "tls"'),
    ("[edge]\nenabled = true\n[[sip.listeners]]\ntransport = 'udp'\naddress = '0.0.0.0'\n"
     "port = 5060\n", "media.wan_address", "binds 0.0.0.0"),
])
def test_media_rules_across_sections(write_config: WriteConfig, text: str, key: str, reason: str
                                     ) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(text))
    assert caught.value.key == key
    assert reason in caught.value.reason
