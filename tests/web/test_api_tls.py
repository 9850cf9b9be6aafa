"""``/api/v1/tls``: the certificate in use, and a customer certificate installed through the
API that the admin port presents at its next handshake (checked with a fresh TLS handshake
that trusts only the customer's CA) while an established connection keeps working; the
refusals: group administrator and end user (403), no CSRF header (403), bad uploads (422
naming the field), each leaving the files as they were."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
from pathlib import Path

from adminweb import Admin
from apiclient import caller, run
from minica import pki

from voxgate.config import certificates
from voxgate.services.devices import DeviceService
from voxgate.storage.repos.admins import AdminGrantRecord

BASE = "/api/v1/tls"
CA = pki()
LEAF, CHAIN = CA.leaf, CA.intermediate


def handshake(base: str, cafile: Path | None = None) -> str:
    """The SHA-256 fingerprint of the certificate a fresh handshake with ``base`` (on
    127.0.0.1) is shown, verified against ``cafile`` when given."""
    port = int(base.rsplit(":", 1)[1])
    if cafile is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:  # fmt: skip
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def upload(cert: bytes = LEAF.pem, key: bytes = LEAF.key_pem,
           chain: bytes | None = CHAIN.pem) -> dict[str, str | None]:  # fmt: skip
    return {"cert": cert.decode(), "key": key.decode(),
            "chain": None if chain is None else chain.decode()}  # fmt: skip


def test_a_system_administrator_reads_the_certificate_and_installs_another(tmp_path: Path) -> None:
    ca_file = tmp_path / "customer-ca.pem"
    ca_file.write_bytes(CA.root.pem)

    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        status, shown = await root.call("GET", BASE)
        assert status == 200, shown
        old = certificates.fingerprint(admin.cafile.read_bytes())
        assert shown["certificate"]["fingerprint_sha256"] == old
        assert shown["certificate"]["self_signed"] is True
        assert shown["warnings"][0].startswith("This certificate is self-signed")
        assert shown["settings"] == {
            "min_version": "1.2",
            "ciphers": "ECDHE+AESGCM:ECDHE+CHACHA20",
            "verify_client": "none",
            "client_ca": None,
        }
        assert shown["files"]["certificate"] == str(admin.cafile)
        assert shown["reload_pending"] is False
        assert await asyncio.to_thread(handshake, admin.base) == old

        status, answer = await root.call("PUT", BASE + "/certificate", json=upload())
        assert status == 200, answer
        assert answer["reloaded"] is True and answer["warnings"] == []
        new = answer["certificate"]
        assert new["fingerprint_sha256"] == LEAF.fingerprint
        assert (new["common_name"], new["chain_length"], new["self_signed"]) == (
            "edge.example",
            1,
            False,
        )
        assert new["names"] == ["edge.example", "localhost", "127.0.0.1"]
        # a new handshake gets it, with its chain: verified against the customer's root only
        assert await asyncio.to_thread(handshake, admin.base, ca_file) == LEAF.fingerprint
        # the connection this client opened before keeps working (it trusts the old one only)
        status, shown = await root.call("GET", BASE)
        assert status == 200 and shown["certificate"]["fingerprint_sha256"] == LEAF.fingerprint
        assert (await admin.audit_actions("tls.")) == ["tls.install"]
        [event] = await admin.audit.recent(action_prefix="tls.")
        assert event.actor == "admin:root" and LEAF.fingerprint in event.detail

    run(tmp_path, body)


def test_the_chain_may_follow_the_certificate_and_chain_may_be_null(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        root = await caller(admin, "root")
        status, answer = await root.call(
            "PUT", BASE + "/certificate", json=upload(cert=LEAF.pem + CHAIN.pem, chain=None)
        )
        assert status == 200, answer
        assert answer["certificate"]["chain_length"] == 1

    run(tmp_path, body)


def test_only_system_administrators(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        before = admin.cafile.read_bytes()
        group = await caller(admin, "grouper", "group", (("form", "devices", "write"),))
        # a tls grant cannot be made any more; one made before it was refused gives nothing
        await admin.admins.repo.put_grant("grouper", AdminGrantRecord("form", "tls", "write"))
        user = await caller(admin, "enduser", "user")
        for who in (group, user):
            status, answer = await who.call("GET", BASE)
            assert status == 403 and "system administrators only" in answer["error"], answer
            status, answer = await who.call("PUT", BASE + "/certificate", json=upload())
            assert status == 403 and "system administrators only" in answer["error"], answer
        assert admin.cafile.read_bytes() == before
        assert await admin.audit_actions("admin.denied") == ["admin.denied"] * 4
        assert await admin.audit_actions("tls.") == []

    run(tmp_path, body)


def test_an_upload_without_the_csrf_header_is_refused(tmp_path: Path) -> None:
    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        before = admin.cafile.read_bytes()
        root = await caller(admin, "root")
        status, answer = await root.call("PUT", BASE + "/certificate", json=upload(),
                                         csrf_header=False)  # fmt: skip
        assert status == 403 and "CSRF" in answer["error"]
        assert admin.cafile.read_bytes() == before
        assert await admin.audit_actions("tls.") == []

    run(tmp_path, body)


def test_bad_uploads_are_422_naming_the_field(tmp_path: Path) -> None:
    other = CA.server("other.example")
    cases = [
        (upload(key=other.key_pem), "key", "does not belong to the certificate"),
        (upload(chain=CA.root.pem + CHAIN.pem), "chain", "out of order"),
        (upload(cert=b"not a certificate"), "cert", "not PEM text"),
        (upload(key=LEAF.encrypted_key_pem()), "key", "encrypted"),
        ({"cert": LEAF.pem.decode()}, "key", "key is required"),
        ({**upload(), "password": "x"}, "password", "unknown field"),
        ({**upload(), "chain": 5}, "chain", "chain must be a string"),
    ]

    async def body(admin: Admin, devices: DeviceService) -> None:
        del devices
        before = admin.cafile.read_bytes()
        root = await caller(admin, "root")
        for sent, field, words in cases:
            status, answer = await root.call("PUT", BASE + "/certificate", json=sent)
            assert status == 422, (sent, answer)
            assert answer["field"] == field and words in answer["reason"], answer
        status, answer = await root.call(
            "PUT",
            BASE + "/certificate",
            data=b"[1, 2]",
            headers={"Content-Type": "application/json"},
        )
        assert (status, answer["field"]) == (422, "body")
        assert admin.cafile.read_bytes() == before
        assert await admin.audit_actions("tls.") == []
        assert await asyncio.to_thread(handshake, admin.base) == certificates.fingerprint(before)

    run(tmp_path, body)
