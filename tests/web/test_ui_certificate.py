"""The TLS page over HTTPS without a browser (tests/web/adminweb.py): the multipart upload
installs and redirects to the page with the new certificate; its refusals — no CSRF token
(403), a group administrator (403 page), a missing file or a bad upload (400 saying why) —
leave the files as they were."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from adminweb import GOOD, ME, Admin, csrf, login, running
from minica import pki

from voxgate.storage.repos.admins import AdminGrantRecord

CA = pki()


def form(token: str, cert: bytes | None = CA.leaf.pem, key: bytes | None = CA.leaf.key_pem,
         chain: bytes | None = CA.intermediate.pem) -> aiohttp.FormData:  # fmt: skip
    """The page's form, as a browser sends it (an empty file part for a file not chosen)."""
    data = aiohttp.FormData({"csrf_token": token})
    for name, content in (("certificate", cert), ("private_key", key), ("chain", chain)):
        data.add_field(name, content or b"", filename="" if content is None else f"{name}.pem",
                       content_type="application/octet-stream")  # fmt: skip
    return data


def run(tmp_path: Path, body: Callable[[Admin, aiohttp.ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        async with running(tmp_path) as admin:
            await admin.admins.add("alice", GOOD, "system", ME)
            browser = admin.client()
            assert (await login(browser, "alice", GOOD))[:2] == (303, "/")
            await body(admin, browser)

    asyncio.run(main())


def test_the_upload_installs_and_the_page_shows_the_new_certificate(tmp_path: Path) -> None:
    async def body(admin: Admin, browser: aiohttp.ClientSession) -> None:
        async with browser.get("/tls") as answer:
            page = await answer.text()
        assert answer.status == 200 and "This certificate is self-signed" in page
        token = await csrf(browser)
        async with browser.post("/tls", data=form(token), allow_redirects=False) as answer:
            assert answer.status == 303, await answer.text()
            location = answer.headers["Location"]
        assert location.startswith("/tls?done=tls.install&subject=edge.example")
        async with browser.get(location) as answer:
            page = await answer.text()
        assert "Certificate edge.example installed" in page
        assert f'data-fingerprint="{CA.leaf.fingerprint}"' in page
        assert "self-signed" not in page
        assert admin.cafile.read_bytes() == CA.leaf.pem + CA.intermediate.pem
        [event] = await admin.audit.recent(action_prefix="tls.")
        assert (event.actor, event.source) == ("admin:alice", "127.0.0.1")

    run(tmp_path, body)


def test_refusals_change_nothing(tmp_path: Path) -> None:
    other = CA.server("other.example")

    async def body(admin: Admin, browser: aiohttp.ClientSession) -> None:
        before = admin.cafile.read_bytes()
        async with browser.post("/tls", data=form("forged")) as answer:
            assert answer.status == 403
        token = await csrf(browser)
        for sent, message in (
            (form(token, key=None), "Choose the private key file."),
            (form(token, cert=None), "Choose the certificate file."),
            (form(token, key=other.key_pem),
             "The private key does not belong to the certificate &#39;edge.example&#39;."),
            (form(token, chain=CA.root.pem), "The chain does not belong to the certificate"),
            (form(token, key=CA.leaf.encrypted_key_pem()), "The private key is encrypted"),
        ):  # fmt: skip
            async with browser.post("/tls", data=sent) as answer:
                page = await answer.text()
            assert answer.status == 400, page
            found = re.search(r'<p class="message" role="alert">([^<]*)</p>', page)
            assert found is not None and found.group(1).startswith(message), page
        await admin.admins.add("grouper", GOOD, "group", ME)
        # a tls grant cannot be made any more; one made before it was refused gives nothing
        await admin.admins.repo.put_grant("grouper", AdminGrantRecord("form", "tls", "write"))
        group = admin.client()
        assert (await login(group, "grouper", GOOD))[:2] == (303, "/")
        async with group.get("/tls") as answer:
            assert answer.status == 403
            assert "Not available to your account" in await answer.text()
        async with group.post("/tls", data=form(await csrf(group))) as answer:
            assert answer.status == 403
        assert admin.cafile.read_bytes() == before
        assert await admin.audit.recent(action_prefix="tls.") == []

    run(tmp_path, body)
