"""Tests of voxgate.media.bencode: examples, strictness, round trip and totality."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxgate.media.bencode import BencodeError, Value, decode, decode_prefix, encode

values: st.SearchStrategy[Value] = st.recursive(
    st.integers() | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=10), inner, max_size=5),
    max_leaves=30,
)
SETTINGS = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])


def test_ng_ping_and_pong_as_in_the_protocol_docs() -> None:
    assert encode({"command": "ping"}) == b"d7:command4:pinge"
    assert decode(b"d6:result4:ponge") == {b"result": b"pong"}


def test_keys_are_written_sorted_by_their_bytes() -> None:
    assert encode({"b": 1, "a": [b"x", "é"], b"C": {}}) == b"d1:Cde1:al1:x2:\xc3\xa9e1:bi1ee"


def test_integers_and_nesting() -> None:
    assert encode([0, -7, 1234567890123456789]) == b"li0ei-7ei1234567890123456789ee"
    assert decode(b"ld1:ali1eeee") == [{b"a": [1]}]


def test_unsorted_keys_are_read_because_rtpengine_sends_them() -> None:
    assert decode(b"d6:result2:ok3:sdp1:ve") == {b"result": b"ok", b"sdp": b"v"}
    assert decode(b"d3:sdp1:v6:result2:oke") == {b"result": b"ok", b"sdp": b"v"}


@pytest.mark.parametrize(
    ("data", "fault"),
    [
        (b"", "end of input"),
        (b"i03e", "bad integer"),
        (b"i-0e", "bad integer"),
        (b"ie", "bad integer"),
        (b"i1", "unterminated integer"),
        (b"i1x2e", "bad integer"),
        (b"03:abc", "bad string length"),
        (b"5:abc", "past the end"),
        (b"3abc", "without ':'"),
        (b"l", "unterminated list"),
        (b"d1:a", "end of input"),
        (b"d", "unterminated dictionary"),
        (b"di1ei2ee", "not a string"),
        (b"d1:ai1e1:ai2ee", "duplicate"),
        (b"i1ei2e", "trailing"),
        (b"x", "unexpected byte"),
        (b"l" * 100 + b"e" * 100, "nesting"),
        (b"i" + b"9" * 5000 + b"e", "digits"),
    ],
)
def test_malformed_input_is_refused_with_the_fault(data: bytes, fault: str) -> None:
    with pytest.raises(BencodeError, match=fault):
        decode(data)


@pytest.mark.parametrize("value", [1.5, None, True, {1: 2}, object(), 10**2000])
def test_values_without_a_bencoding_are_refused(value: object) -> None:
    with pytest.raises(BencodeError):
        encode(value)  # type: ignore[arg-type]


def test_decode_prefix_says_where_the_value_ends() -> None:
    assert decode_prefix(b"xx4:spamrest", 2) == (b"spam", 8)


@SETTINGS
@given(values)
def test_round_trip(value: Value) -> None:
    assert decode(encode(value)) == value


@SETTINGS
@given(values)
def test_encoding_is_canonical(value: Value) -> None:
    data = encode(value)
    assert encode(decode(data)) == data


@SETTINGS
@given(st.binary(max_size=200))
def test_garbage_either_decodes_or_raises_bencode_error(data: bytes) -> None:
    try:
        decode(data)
    except BencodeError:
        pass


@SETTINGS
@given(values, st.data())
def test_mutated_encodings_either_decode_or_raise_bencode_error(value: Value, data: st.DataObject) -> None:
    encoded = bytearray(encode(value))
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(encoded)))
    for candidate in (bytes(encoded), bytes(encoded[:cut])):
        try:
            decode(candidate)
        except BencodeError:
            pass
