"""Lexical rules of the SIP grammar (RFC 3261 §25.1) shared by the header parsers.

Only character classes, quoted strings, comma lists and generic parameters live
here; the URI grammar is in :mod:`voxgate.sip.uri` and the typed header values
in :mod:`voxgate.sip.headers`.
"""

from __future__ import annotations

import re

from voxgate.sip.errors import ParseError

#: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
#: (S105: ruff reads "TOKEN" as a password name; this is a character class.)
TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"  # noqa: S105
TOKEN_RE = re.compile(rf"[{TOKEN_CHARS}]+")
#: word = 1*(token chars / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]"
#:           / "?" / "{" / "}")
WORD_CHARS = rf"{TOKEN_CHARS}()<>:\\\"/\[\]?{{}}"
#: Call-ID = word [ "@" word ]
CALL_ID_RE = re.compile(rf"[{WORD_CHARS}]+(?:@[{WORD_CHARS}]+)?")
#: quoted-string body: qdtext or quoted-pair (RFC 3261 §25.1); UTF-8 is allowed.
QUOTED_RE = re.compile(r'"((?:[^"\\\r\n]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*)"')
#: host = hostname / IPv4address / IPv6reference (IPv6 checked by ipaddress later)
HOSTNAME_RE = re.compile(
    r"(?:(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*"
    r"[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?"
    r"|[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
    r"|\[[0-9A-Fa-f:.]+\])"
)
_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PARAM_VALUE_RE = re.compile(rf"[{TOKEN_CHARS}\[\]:]+")
_LWS_RE = re.compile(r"[ \t]+")

Params = dict[str, str | None]


def is_token(text: str) -> bool:
    """Whether ``text`` is a non-empty RFC 3261 token."""
    return TOKEN_RE.fullmatch(text) is not None


def check_escapes(text: str, what: str) -> None:
    """Raise if a ``%`` in ``text`` is not followed by two hex digits (RFC 3261 §25.1 escaped)."""
    if "%" in text and _ESCAPE_RE.search(text):
        raise ParseError(f"Bad {what}", detail="malformed %-escape")


def unquote(quoted: str) -> str:
    """Remove the quotes of a quoted-string and resolve its quoted-pairs."""
    inner = quoted[1:-1]
    if "\\" not in inner:
        return inner
    out: list[str] = []
    i = 0
    while i < len(inner):
        ch = inner[i]
        if ch == "\\" and i + 1 < len(inner):
            out.append(inner[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def quote(text: str) -> str:
    """Make a quoted-string of ``text``, escaping ``"`` and ``\\``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_commas(value: str) -> list[str]:
    """Split a header field value at the commas that separate its values.

    Commas inside quoted strings and ``<...>`` are not separators (RFC 3261 §7.3.1).
    Empty elements are an error: ``a,,b`` is not a valid list.
    """
    if "," not in value:
        return [value]
    parts: list[str] = []
    start = 0
    in_quote = False
    in_angle = False
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if in_quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            in_angle = True
        elif ch == ">":
            in_angle = False
        elif ch == "," and not in_angle:
            parts.append(value[start:i].strip())
            start = i + 1
        i += 1
    parts.append(value[start:].strip())
    if any(not p for p in parts):
        raise ParseError("Bad header list", detail="empty list element")
    return parts


#: Parameters with no whitespace and no ';' inside quoted values: split at ';' safely.
_SIMPLE_PARAMS_RE = re.compile(
    rf'(?:;[{TOKEN_CHARS}]+(?:=(?:[{TOKEN_CHARS}\[\]:]+|"[^"\\;\s]*"))?)+'
)


def parse_params(text: str, what: str) -> Params:
    """Parse ``;name[=value]`` generic parameters (RFC 3261 §25.1 generic-param).

    ``text`` starts at the first ``;`` (or is empty).  Names are lower-cased;
    values keep their case and quoted values keep their quotes.
    """
    params: Params = {}
    if not text:
        return params
    if _SIMPLE_PARAMS_RE.fullmatch(text) is not None:  # no spaces, no quotes: the usual case
        for item in text[1:].split(";"):
            key, eq, text_value = item.partition("=")
            params[key.lower()] = text_value if eq else None
        return params
    if text[0] != ";":
        raise ParseError(f"Bad {what} header", detail=f"unexpected text {text[:20]!r}")
    i = 1
    n = len(text)
    while True:
        m = TOKEN_RE.match(text, i)
        if m is None:
            raise ParseError(f"Bad {what} header", detail="bad parameter name")
        name = m.group().lower()
        i = skip_lws(text, m.end())
        value: str | None = None
        if i < n and text[i] == "=":
            i = skip_lws(text, i + 1)
            if i < n and text[i] == '"':
                q = QUOTED_RE.match(text, i)
                if q is None:
                    raise ParseError(f"Bad {what} header", detail="unterminated quoted string")
                value = q.group()
                i = q.end()
            else:
                v = _PARAM_VALUE_RE.match(text, i)
                if v is None:
                    raise ParseError(f"Bad {what} header", detail=f"bad value of {name}")
                value = v.group()
                i = v.end()
            i = skip_lws(text, i)
        params[name] = value
        if i >= n:
            return params
        if text[i] != ";":
            raise ParseError(f"Bad {what} header", detail=f"unexpected {text[i]!r} after {name}")
        i = skip_lws(text, i + 1)


def format_params(params: Params) -> str:
    """Serialize parameters as ``;name=value;flag``."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def skip_lws(text: str, i: int) -> int:
    """Index of the first character at or after ``i`` that is not SP or HTAB."""
    m = _LWS_RE.match(text, i)
    return m.end() if m else i
