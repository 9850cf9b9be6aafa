"""The torture corpus (tests/corpus, RFC 4475 categories): each message's expected outcome.

Each entry of manifest.toml names a file, its transport ("datagram" or
"stream"), the outcome ("ok", a status code the server owes, or "drop") and,
for "ok" messages, facts to check after parsing.  Oversize cases are made
here rather than stored.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from voxgate.sip.errors import ParseError
from voxgate.sip.message import Request, Response
from voxgate.sip.parser import StreamFramer, parse_message

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CATEGORIES = {"valid", "invalid", "transaction", "application", "compat"}


def entries() -> list[dict[str, Any]]:
    manifest = tomllib.loads((CORPUS / "manifest.toml").read_text())
    return list(manifest["message"])


def outcome(data: bytes, *, stream: bool) -> tuple[str, Request | Response | None]:
    """"ok", the status owed as text, or "drop"."""
    try:
        if stream:
            framer = StreamFramer()
            framer.feed(data)
            frame = framer.next_frame()
            assert isinstance(frame, bytes), "a stream message must frame whole"
            data = frame
        message = parse_message(data, stream=stream)
        message.check()
    except ParseError as err:
        return ("drop" if err.status is None else str(err.status)), None
    return "ok", message


def test_corpus_is_big_enough_and_covers_every_category() -> None:
    found = entries()
    assert len(found) >= 40
    assert {e["category"] for e in found} == CATEGORIES
    assert {e["expect"] for e in found} >= {"ok", "400", "416", "505", "drop"}
    files = {e["file"] for e in found}
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.sip")}
    assert files == on_disk, "manifest and corpus files disagree"


@pytest.mark.parametrize("entry", entries(), ids=lambda e: e["file"])
def test_corpus_message(entry: dict[str, Any]) -> None:
    data = (CORPUS / entry["file"]).read_bytes()
    got, message = outcome(data, stream=entry.get("transport") == "stream")
    assert got == entry["expect"], entry.get("note", "")
    if message is None:
        return
    if "method" in entry:
        assert isinstance(message, Request)
        assert message.method == entry["method"]
    if "status" in entry:
        assert isinstance(message, Response)
        assert message.status == entry["status"]
    if "call_id" in entry:
        assert message.call_id == entry["call_id"]
    if "via_count" in entry:
        assert len(message.via) == entry["via_count"]
    if "body_length" in entry:
        assert len(message.body) == entry["body_length"]
    # Whatever parses must serialize and parse back to the same headers and body.
    again = parse_message(message.to_bytes())
    assert list(again.headers) == list(message.headers)
    assert again.body == message.body


def _request(extra: bytes, body: bytes = b"") -> bytes:
    return (
        b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:h>\r\n"
        b"From: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n" + extra
        + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


@pytest.mark.parametrize(
    ("data", "expect"),
    [
        (_request(b"", body=b"x" * 70000), "513"),  # over the 65535-byte limit
        (_request(b"X-Big: " + b"y" * 9000 + b"\r\n"), "513"),  # one header line too long
        (_request(b"".join(b"X-%d: v\r\n" % i for i in range(300))), "513"),  # too many headers
        (b"SIP/2.0 200 OK\r\n" + b"X: " + b"z" * 70000 + b"\r\n\r\n", "drop"),  # oversize response
    ],
)
def test_generated_oversize_messages(data: bytes, expect: str) -> None:
    assert outcome(data, stream=False)[0] == expect
