"""A real admin HTTPS server on 127.0.0.1 (free port, the node's self-signed certificate,
SQLite) and browser-like clients that trust that certificate; the server's clock is a list
the test moves (no sleeping)."""

from __future__ import annotations

import re
import secrets
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from voxgate.config import certificates
from voxgate.config.schema import AdminSettings, TlsSettings
from voxgate.services.admins import AdminService
from voxgate.services.audit import Actor, AuditLog
from voxgate.services.sipusers import SipUserService
from voxgate.storage.engine import Store
from voxgate.storage.secretbox import KEY_SIZE
from voxgate.transport.tlsctx import ReloadableContext, build_server_context
from voxgate.web.server import AdminServer

ME = Actor("cli:tester")
GOOD = "Vq8-mRt4-Lp2x-Adm"
NEW = "Zk3-wNp7-Hs9d-Adm"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key, as `voxgate init` makes them."""
    key = certificates.generate_private_key()
    cert = certificates.self_signed_certificate(key, "admin.test", now=datetime.now(UTC))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificates.certificate_pem(cert))
    key_path.write_bytes(certificates.private_key_pem(key))
    return cert_path, key_path


@dataclass
class Admin:
    server: AdminServer
    admins: AdminService
    audit: AuditLog
    clock: list[float]
    base: str
    cafile: Path
    clients: list[aiohttp.ClientSession] = field(default_factory=list)

    def client(self) -> aiohttp.ClientSession:
        """A new browser (its own cookies) that trusts the node's certificate."""
        context = ssl.create_default_context(cafile=str(self.cafile))
        session = aiohttp.ClientSession(
            base_url=self.base, connector=aiohttp.TCPConnector(ssl=context),
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # cookies for an IP address
        )
        self.clients.append(session)
        return session

    async def audit_actions(self, prefix: str = "admin.") -> list[str]:
        return [e.action for e in reversed(await self.audit.recent(action_prefix=prefix))]


async def login(client: aiohttp.ClientSession, username: str, password: str, next_path: str = "/"
                ) -> tuple[int, str, str]:  # fmt: skip
    """GET the form, POST it; (status, Location, body)."""
    async with client.get("/login") as page:
        assert page.status == 200
        token = TOKEN.search(await page.text())
    assert token is not None
    form = {"username": username, "password": password, "csrf_token": token.group(1),
            "next": next_path}  # fmt: skip
    async with client.post("/login", data=form, allow_redirects=False) as answer:
        return answer.status, answer.headers.get("Location", ""), await answer.text()


async def csrf(client: aiohttp.ClientSession) -> str:
    async with client.get("/api/v1/session") as answer:
        assert answer.status == 200, await answer.text()
        return str((await answer.json())["csrf_token"])


def node_context(tls: TlsSettings) -> ReloadableContext:
    """The node's reloadable context of ``tls``, as app.py builds it."""
    return ReloadableContext(lambda: build_server_context(
        certificate=tls.certificate, private_key=tls.private_key, chain=tls.chain,
        min_version=tls.min_version, ciphers=tls.ciphers, verify_client=tls.verify_client,
        client_ca=tls.client_ca))


@asynccontextmanager
async def running(tmp_path: Path, settings: AdminSettings | None = None,
                  *, store: Store | None = None, cert: tuple[Path, Path] | None = None,
                  chain: Path | None = None, with_key: bool = True,
                  ) -> AsyncIterator[Admin]:  # fmt: skip
    """The server over ``cert`` (a self-signed one made here if not given) and ``chain``
    (``tls.chain``), reloadable as the node's is; ``with_key=False``: as a node without its
    key file (no SIP users, no extensions)."""
    settings = settings or AdminSettings(address="127.0.0.1", port=0)
    own = store is None
    if store is None:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}")
        await store.upgrade()
    cert_path, key_path = cert or certificate(tmp_path)
    tls_settings = TlsSettings(certificate=cert_path, private_key=key_path, chain=chain)
    tls = node_context(tls_settings)
    clock = [1000.0]
    users = SipUserService(store, "edge.test", secrets.token_bytes(KEY_SIZE),
                           pbx_realm="pbx.test") if with_key else None  # without: no key file
    server = AdminServer(settings, store, tls=tls, tls_settings=tls_settings,
                         clock=lambda: clock[0], sipusers=users)  # fmt: skip
    host, port = await server.start(settings.address, settings.port)
    admin = Admin(server, AdminService(store), AuditLog(store), clock, f"https://{host}:{port}",
                  cert_path)
    try:
        yield admin
    finally:
        for client in admin.clients:
            await client.close()
        await server.close()
        if own:
            await store.close()
