"""TLS context construction and reload, with in-memory handshakes (no sockets)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from voxgate.transport.tlsctx import (
    ReloadableContext,
    build_client_context,
    build_server_context,
)


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str | None) -> ssl.SSLObject:
    """Run a TLS handshake between two contexts over memory BIOs; return the client side."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(10):
        for name, side in (("c", c), ("s", s)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return c
    raise AssertionError("handshake did not finish")


def test_server_context_floor_and_options(pki: dict[str, Path]) -> None:
    ctx = build_server_context(certificate=pki["cert"], private_key=pki["key"], chain=pki["chain"])
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_COMPRESSION
    assert ctx.options & ssl.OP_NO_RENEGOTIATION
    assert ctx.verify_mode is ssl.CERT_NONE
    ctx13 = build_server_context(
        certificate=pki["cert"], private_key=pki["key"], chain=pki["chain"], min_version="1.3"
    )
    assert ctx13.minimum_version is ssl.TLSVersion.TLSv1_3


@pytest.mark.parametrize(
    ("option", "value"), [("min_version", "1.1"), ("verify_client", "sometimes")]
)
def test_server_context_rejects_unknown_settings(
    pki: dict[str, Path], option: str, value: str
) -> None:
    with pytest.raises(ValueError, match=option):
        build_server_context(certificate=pki["cert"], private_key=pki["key"], **{option: value})  # type: ignore[arg-type]


def test_chain_is_sent_after_the_certificate(pki: dict[str, Path]) -> None:
    server = build_server_context(certificate=pki["cert"], private_key=pki["key"], chain=pki["chain"])
    client = build_client_context(cafile=pki["root"])  # trusts the root only
    side = handshake(server, client, "edge.example")
    assert side.version() in ("TLSv1.2", "TLSv1.3")
    without_chain = build_server_context(certificate=pki["cert"], private_key=pki["key"])
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(without_chain, build_client_context(cafile=pki["root"]), "edge.example")


def test_required_client_certificate(pki: dict[str, Path]) -> None:
    server = build_server_context(
        certificate=pki["cert"], private_key=pki["key"], chain=pki["chain"],
        verify_client="required", client_ca=pki["root"],
    )  # fmt: skip
    with_cert = build_client_context(
        cafile=pki["root"], certificate=pki["client_cert"], private_key=pki["client_key"]
    )
    handshake(server, with_cert, "edge.example")
    bare = build_client_context(cafile=pki["root"])
    with pytest.raises(ssl.SSLError):
        c = handshake(server, bare, "edge.example")
        c.write(b"x")  # TLS 1.3 reports the missing certificate after the client's Finished
        c.read()


def test_client_context_verifies_by_default(pki: dict[str, Path]) -> None:
    server = build_server_context(certificate=pki["cert"], private_key=pki["key"], chain=pki["chain"])
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server, build_client_context(), "edge.example")  # system store: unknown root
    insecure = build_client_context(verify=False)
    assert insecure.minimum_version is ssl.TLSVersion.TLSv1_2
    handshake(server, insecure, None)


def test_reloadable_context_keeps_the_old_one_on_failure(
    tmp_path: Path, write_cert: Callable[..., tuple[Path, Path]]
) -> None:
    cert, key = write_cert(tmp_path, "first")
    reloadable = ReloadableContext(
        lambda: build_server_context(certificate=cert, private_key=key)
    )
    first = reloadable.current
    write_cert(tmp_path, "second")
    reloadable.reload()
    assert reloadable.current is not first
    second = reloadable.current
    key.write_text("not a key")
    with pytest.raises(ssl.SSLError):
        reloadable.reload()
    assert reloadable.current is second
