"""Bencoding (BEP 3), as rtpengine's "ng" control protocol carries its dictionaries.

Four kinds of value: integers ``i<n>e``, byte strings ``<len>:<bytes>``, lists ``l…e`` and
dictionaries ``d…e`` with byte-string keys. :func:`encode` writes dictionary keys sorted by
their raw bytes (BEP 3); :func:`decode` is strict about everything else — no leading zeros,
no ``-0``, no trailing bytes, no duplicate keys, a nesting limit — but accepts keys in any
order, because rtpengine does not sort the keys of its replies (docs/ng_control_protocol.md:
"the requirement … that dictionary keys must be present in lexicographical order is not
currently honoured"). Every malformed input raises :class:`BencodeError`, nothing else.

Strings decode to :class:`bytes` (SDP bodies are bytes); :func:`encode` also takes
:class:`str` (written as UTF-8) and any sequence (tuples) as a list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, TypeAlias

#: What :func:`decode` returns.
Value: TypeAlias = "int | bytes | list[Value] | dict[bytes, Value]"
#: What :func:`encode` takes.
Encodable: TypeAlias = (
    "int | bytes | str | Sequence[Encodable] | Mapping[str, Encodable] | Mapping[bytes, Encodable]"
)

#: Deepest nesting :func:`decode` accepts (an ng reply nests about 8 deep).
MAX_DEPTH: Final = 64
#: Longest integer accepted, in digits (Python refuses int() of over 4,300 digits).
MAX_DIGITS: Final = 1000
_INT_LIMIT: Final = 10**MAX_DIGITS
_DIGITS: Final = b"0123456789"


class BencodeError(ValueError):
    """Input is not valid bencoding, or a value cannot be bencoded."""


def encode(value: Encodable) -> bytes:
    """The bencoding of ``value``; raises :class:`BencodeError` for anything else (floats,
    None, bools, non-string keys)."""
    out: list[bytes] = []
    _encode(value, out, 0)
    return b"".join(out)


def _key_bytes(key: object) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    raise BencodeError(f"dictionary key must be str or bytes, not {type(key).__name__}")


def _encode(value: object, out: list[bytes], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise BencodeError(f"nesting deeper than {MAX_DEPTH}")
    if isinstance(value, bool):  # bool is an int: refuse rather than guess 1/0
        raise BencodeError("cannot bencode a bool")
    if isinstance(value, int):
        if abs(value) >= _INT_LIMIT:
            raise BencodeError(f"integer of more than {MAX_DIGITS} digits")
        out.append(b"i%de" % value)
    elif isinstance(value, bytes | bytearray):
        out.append(b"%d:" % len(value))
        out.append(bytes(value))
    elif isinstance(value, str):
        data = value.encode()
        out.append(b"%d:" % len(data))
        out.append(data)
    elif isinstance(value, Sequence):
        out.append(b"l")
        for item in value:
            _encode(item, out, depth + 1)
        out.append(b"e")
    elif isinstance(value, Mapping):
        items = sorted((_key_bytes(k), v) for k, v in value.items())
        out.append(b"d")
        previous: bytes | None = None
        for key, item in items:
            if key == previous:
                raise BencodeError(f"duplicate dictionary key {key!r}")
            previous = key
            out.append(b"%d:" % len(key))
            out.append(key)
            _encode(item, out, depth + 1)
        out.append(b"e")
    else:
        raise BencodeError(f"cannot bencode a {type(value).__name__}")


def decode(data: bytes) -> Value:
    """The value that ``data`` bencodes, which must be exactly one value."""
    value, end = decode_prefix(data, 0)
    if end != len(data):
        raise BencodeError(f"trailing bytes at offset {end}")
    return value


def decode_prefix(data: bytes, start: int = 0) -> tuple[Value, int]:
    """Decode one value starting at ``start``; returns it and the offset after it."""
    return _decode(bytes(data), start, 0)


def _decode(data: bytes, pos: int, depth: int) -> tuple[Value, int]:
    if depth > MAX_DEPTH:
        raise BencodeError(f"nesting deeper than {MAX_DEPTH} at offset {pos}")
    if pos >= len(data):
        raise BencodeError(f"unexpected end of input at offset {pos}")
    lead = data[pos]
    if lead == ord("i"):
        end = data.find(b"e", pos + 1)
        if end < 0:
            raise BencodeError(f"unterminated integer at offset {pos}")
        return _integer(data[pos + 1 : end], pos), end + 1
    if lead in _DIGITS:
        return _string(data, pos)
    if lead == ord("l"):
        items: list[Value] = []
        pos += 1
        while True:
            if pos >= len(data):
                raise BencodeError("unterminated list")
            if data[pos] == ord("e"):
                return items, pos + 1
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
    if lead == ord("d"):
        result: dict[bytes, Value] = {}
        pos += 1
        while True:
            if pos >= len(data):
                raise BencodeError("unterminated dictionary")
            if data[pos] == ord("e"):
                return result, pos + 1
            if data[pos] not in _DIGITS:
                raise BencodeError(f"dictionary key is not a string at offset {pos}")
            key, pos = _string(data, pos)
            if key in result:
                raise BencodeError(f"duplicate dictionary key {key!r}")
            result[key], pos = _decode(data, pos, depth + 1)
    raise BencodeError(f"unexpected byte {bytes([lead])!r} at offset {pos}")


def _integer(digits: bytes, pos: int) -> int:
    body = digits[1:] if digits.startswith(b"-") else digits
    if (
        not body
        or body.strip(_DIGITS)
        or (body.startswith(b"0") and len(body) > 1)
        or digits == b"-0"
    ):
        raise BencodeError(f"bad integer {digits[:32]!r} at offset {pos}")
    if len(body) > MAX_DIGITS:
        raise BencodeError(f"integer of more than {MAX_DIGITS} digits at offset {pos}")
    return int(digits)


def _string(data: bytes, pos: int) -> tuple[bytes, int]:
    colon = data.find(b":", pos)
    if colon < 0:
        raise BencodeError(f"string length without ':' at offset {pos}")
    digits = data[pos:colon]
    if digits.strip(_DIGITS) or (digits.startswith(b"0") and len(digits) > 1):
        raise BencodeError(f"bad string length {digits[:32]!r} at offset {pos}")
    if len(digits) > MAX_DIGITS:
        raise BencodeError(f"string length of more than {MAX_DIGITS} digits at offset {pos}")
    end = colon + 1 + int(digits)
    if end > len(data):
        raise BencodeError(f"string at offset {pos} runs past the end of input")
    return data[colon + 1 : end], end
