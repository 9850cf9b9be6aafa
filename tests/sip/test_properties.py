"""Property tests of the SIP parser (hypothesis).

- serialize(parse(m)) keeps every header and the body;
- the parser never raises anything but ParseError, on any bytes, fed as a
  datagram or through the stream framer in arbitrary pieces.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxgate.sip.errors import ParseError
from voxgate.sip.message import Headers, Request
from voxgate.sip.parser import StreamFramer, parse_message
from voxgate.sip.uri import SipUri

TOKEN = st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]{1,12}", fullmatch=True)
# Header text: printable UTF-8 and inner spaces, no leading/trailing whitespace.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\x85"),
    min_size=1,
    max_size=40,
).map(str.strip).filter(bool)
USER = st.from_regex(r"[A-Za-z0-9\-_.!~*'()]{1,12}", fullmatch=True)
HOST = st.from_regex(r"[a-z][a-z0-9]{0,10}(\.[a-z][a-z0-9]{0,10}){0,3}", fullmatch=True)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(st.sampled_from(["INVITE", "OPTIONS", "REGISTER", "BYE", "NEWMETHOD"]))
    host = draw(HOST)
    user = draw(st.one_of(st.none(), USER))
    port = draw(st.one_of(st.none(), st.integers(1, 65535)))
    branch = "z9hG4bK" + draw(TOKEN)
    pairs = [
        ("Via", f"SIP/2.0/UDP {host}:{port or 5060};branch={branch}"),
        ("Max-Forwards", str(draw(st.integers(0, 255)))),
        ("To", f"<sip:{draw(USER)}@{host}>"),
        ("From", f'"{draw(TOKEN)}" <sip:a@{host}>;tag={draw(TOKEN)}'),
        ("Call-ID", draw(TOKEN) + "@" + host),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}"),
    ]
    extra_names = draw(st.lists(TOKEN.map(lambda t: "X-" + t), max_size=8))
    pairs += [(name, draw(TEXT)) for name in extra_names]
    body = draw(st.binary(max_size=300))
    pairs.append(("Content-Length", str(len(body))))
    uri = SipUri(host=host, user=user, port=port)
    return Request(method, uri, Headers.of(pairs), body)


@given(requests())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_serialize_then_parse_keeps_every_header_and_the_body(request: Request) -> None:
    data = request.to_bytes()
    for parsed in (parse_message(data), parse_message(data, stream=True)):
        parsed.check()
        assert list(parsed.headers) == list(request.headers)
        assert parsed.body == request.body
        assert str(parsed.uri) == str(request.uri)
        assert parse_message(parsed.to_bytes()).to_bytes() == data


@given(st.binary(max_size=2000))
@settings(max_examples=1500)
def test_arbitrary_bytes_raise_only_parse_error(data: bytes) -> None:
    try:
        parse_message(data).check()
    except ParseError:
        pass


@given(requests(), st.binary(max_size=50), st.integers(0, 400))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_messages_raise_only_parse_error(request: Request, junk: bytes, at: int) -> None:
    data = request.to_bytes()
    at = min(at, len(data))
    mutated = data[:at] + junk + data[at:]
    try:
        parse_message(mutated).check()
    except ParseError:
        pass


@given(st.lists(st.binary(max_size=300), max_size=10), requests())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_framer_takes_any_chunking(chunks: list[bytes], request: Request) -> None:
    data = request.to_bytes()
    framer = StreamFramer()
    frames: list[object] = []
    cuts = sorted({min(len(c), len(data)) for c in chunks})
    start = 0
    for cut in [*cuts, len(data)]:
        framer.feed(data[start:cut])
        start = cut
        while (frame := framer.next_frame()) is not None:
            frames.append(frame)
    assert frames == [data]
    garbage = StreamFramer()
    try:
        for chunk in chunks:
            garbage.feed(chunk)
            while (frame := garbage.next_frame()) is not None:
                if isinstance(frame, bytes):
                    try:
                        parse_message(frame, stream=True).check()
                    except ParseError:
                        pass
    except ParseError:
        pass
