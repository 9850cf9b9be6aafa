"""Authentication header parameters: ``Digest name=value, name="value", …`` (RFC 2617 §1.2,
RFC 7235 §2.1, RFC 3261 §25.1), as :mod:`voxgate.sip.digest` reads challenges and credentials.
"""

from __future__ import annotations

import re

from voxgate.sip.errors import ParseError
from voxgate.sip.grammar import QUOTED_RE, TOKEN_RE, unquote

#: auth-scheme followed by LWS (RFC 2617 §1.2, RFC 7235 §2.1).
_SCHEME_RE = re.compile(r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)(?:[ \t]+|$)")
#: auth-param name and "=" (RFC 2617 §1.2).
_PARAM_RE = re.compile(r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*=[ \t]*")
#: One whole auth-param and the comma after it, the usual spelling: what the loop of
#: :func:`_parse_auth_params_strictly` reads in four steps, read in one.
_WHOLE_PARAM_RE = re.compile(
    r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*=[ \t]*"
    rf"(?:{QUOTED_RE.pattern}|({TOKEN_RE.pattern}))[ \t]*(?:,|\Z)"
)


def auth_scheme(value: str) -> str:
    """The auth-scheme of a challenge or credentials, lower-cased ("" if there is none)."""
    m = _SCHEME_RE.match(value)
    return m[1].lower() if m else ""


def parse_auth_params(value: str, what: str) -> dict[str, str]:
    """Parse ``Digest name=value, name="value", …`` (RFC 2617 §1.2, RFC 3261 §25.1).

    Names are lower-cased, quoted values unquoted.  A scheme other than Digest,
    a malformed or duplicated parameter raises :class:`ParseError` (400).
    """
    m = _SCHEME_RE.match(value)
    if m is None or m[1].lower() != "digest":
        raise ParseError(f"Bad {what} header", detail="scheme is not Digest")
    params: dict[str, str] = {}
    i, n = m.end(), len(value)
    while i < n:  # one regex a parameter; anything unusual is read again, strictly
        p = _WHOLE_PARAM_RE.match(value, i)
        if p is None:
            return _parse_auth_params_strictly(value, m.end(), what)
        name = p[1].lower()
        quoted = p[2]
        if name in params:
            return _parse_auth_params_strictly(value, m.end(), what)
        if quoted is None:
            params[name] = p[3]
        else:
            params[name] = quoted if "\\" not in quoted else unquote(f'"{quoted}"')
        i = p.end()
    return params


def _parse_auth_params_strictly(value: str, start: int, what: str) -> dict[str, str]:
    """:func:`parse_auth_params` from ``start`` (after the scheme), a step at a time, with
    the error that names what is wrong."""
    params: dict[str, str] = {}
    i, n = start, len(value)
    while i < n:
        p = _PARAM_RE.match(value, i)
        if p is None:
            raise ParseError(f"Bad {what} header", detail="bad auth-param")
        name = p[1].lower()
        i = p.end()
        if i < n and value[i] == '"':
            q = QUOTED_RE.match(value, i)
            if q is None:
                raise ParseError(f"Bad {what} header", detail=f"unterminated {name[:20]}")
            text = unquote(q.group())
            i = q.end()
        else:
            t = TOKEN_RE.match(value, i)
            if t is None:
                raise ParseError(f"Bad {what} header", detail=f"bad value of {name[:20]}")
            text = t.group()
            i = t.end()
        if name in params:
            raise ParseError(f"Bad {what} header", detail=f"duplicate {name[:20]}")
        params[name] = text
        while i < n and value[i] in " \t":
            i += 1
        if i < n:
            if value[i] != ",":
                raise ParseError(f"Bad {what} header", detail=f"expected ',' after {name[:20]}")
            i += 1
    return params
