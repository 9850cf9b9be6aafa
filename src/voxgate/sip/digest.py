"""HTTP Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).

MD5 and SHA-256 with ``qop=auth``.  The server side issues stateless nonces
(any node holding the key can check them), refuses stale, forged and replayed
ones, and answers an unknown user exactly as a wrong password so that
extensions cannot be enumerated.  The client side answers a challenge.
Stores keep only HA1 per algorithm (:func:`ha1`), never a clear secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from voxgate.sip.errors import ParseError
from voxgate.sip.grammar import QUOTED_RE, TOKEN_RE, quote, unquote
from voxgate.sip.message import Request, Response

#: Algorithms we speak, strongest first (RFC 8760 §2.4 orders challenges this way).
ALGORITHMS = ("SHA-256", "MD5")
#: Digest algorithm names (RFC 7616 §6.1) → hashlib names.
_HASHES = {"MD5": "md5", "SHA-256": "sha256"}
_PARAM_RE = re.compile(r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*=[ \t]*")


def _h(algorithm: str, text: str) -> str:
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """HA1 = H(username:realm:password) (RFC 2617 §3.2.2.2, RFC 7616 §3.4.2)."""
    if algorithm not in _HASHES:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return _h(algorithm, f"{username}:{realm}:{password}")


def response_value(
    algorithm: str, ha1_value: str, nonce: str, method: str, uri: str, *,
    qop: str | None, nc: str | None, cnonce: str | None,
) -> str:  # fmt: skip
    """request-digest (RFC 2617 §3.2.2.1): KD(HA1, nonce:nc:cnonce:qop:HA2) or the 2069 form."""
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop is None:
        return _h(algorithm, f"{ha1_value}:{nonce}:{ha2}")
    return _h(algorithm, f"{ha1_value}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


@dataclass(frozen=True, slots=True)
class Challenge:
    """A ``WWW-Authenticate``/``Proxy-Authenticate`` Digest challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ("auth",)
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None

    def __str__(self) -> str:
        parts = [f"realm={quote(self.realm)}"]
        if self.domain is not None:
            parts.append(f"domain={quote(self.domain)}")
        parts.append(f"nonce={quote(self.nonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.stale:
            parts.append("stale=TRUE")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f'qop="{",".join(self.qop)}"')
        return "Digest " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Credentials:
    """An ``Authorization``/``Proxy-Authorization`` Digest answer."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    cnonce: str | None = None
    nc: str | None = None
    qop: str | None = None
    opaque: str | None = None

    def __str__(self) -> str:
        parts = [
            f"username={quote(self.username)}", f"realm={quote(self.realm)}",
            f"nonce={quote(self.nonce)}", f"uri={quote(self.uri)}",
            f"response={quote(self.response)}", f"algorithm={self.algorithm}",
        ]  # fmt: skip
        if self.qop is not None:
            parts += [f"cnonce={quote(self.cnonce or '')}", f"nc={self.nc}", f"qop={self.qop}"]
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        return "Digest " + ", ".join(parts)


def parse_auth_params(value: str, what: str) -> dict[str, str]:
    """Parse ``Digest name=value, name="value", …`` into lower-cased names → unquoted values."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise ParseError(f"Bad {what} header", detail=f"scheme {scheme[:20]!r} is not Digest")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        m = _PARAM_RE.match(rest, i)
        if m is None:
            raise ParseError(f"Bad {what} header", detail="bad auth-param")
        name = m[1].lower()
        i = m.end()
        if i < n and rest[i] == '"':
            q = QUOTED_RE.match(rest, i)
            if q is None:
                raise ParseError(f"Bad {what} header", detail=f"unterminated {name}")
            text = unquote(q.group())
            i = q.end()
        else:
            t = TOKEN_RE.match(rest, i)
            if t is None:
                raise ParseError(f"Bad {what} header", detail=f"bad value of {name}")
            text = t.group()
            i = t.end()
        if name in params:
            raise ParseError(f"Bad {what} header", detail=f"duplicate {name}")
        params[name] = text
        while i < n and rest[i] in " \t":
            i += 1
        if i < n:
            if rest[i] != ",":
                raise ParseError(f"Bad {what} header", detail=f"expected ',' after {name}")
            i += 1
    return params


def _need(params: dict[str, str], name: str, what: str) -> str:
    value = params.get(name)
    if value is None:
        raise ParseError(f"Bad {what} header", detail=f"missing {name}")
    return value


def parse_challenge(value: str) -> Challenge:
    """Parse a Digest challenge (RFC 2617 §3.2.1)."""
    what = "WWW-Authenticate"
    p = parse_auth_params(value, what)
    qop = tuple(q.strip() for q in p["qop"].split(",") if q.strip()) if "qop" in p else ()
    return Challenge(
        realm=_need(p, "realm", what), nonce=_need(p, "nonce", what),
        algorithm=p.get("algorithm", "MD5").upper(),
        qop=qop, opaque=p.get("opaque"), stale=p.get("stale", "").lower() == "true",
        domain=p.get("domain"),
    )  # fmt: skip


def parse_credentials(value: str) -> Credentials:
    """Parse Digest credentials (RFC 2617 §3.2.2)."""
    what = "Authorization"
    p = parse_auth_params(value, what)
    qop = p.get("qop")
    if qop is not None and ("cnonce" not in p or "nc" not in p):
        raise ParseError(f"Bad {what} header", detail="qop without cnonce and nc")
    return Credentials(
        username=_need(p, "username", what), realm=_need(p, "realm", what),
        nonce=_need(p, "nonce", what), uri=_need(p, "uri", what),
        response=_need(p, "response", what), algorithm=p.get("algorithm", "MD5").upper(),
        cnonce=p.get("cnonce"), nc=p.get("nc"), qop=qop, opaque=p.get("opaque"),
    )  # fmt: skip


class AuthResult(Enum):
    """What :meth:`DigestServer.verify` decided."""

    OK = "ok"
    STALE = "stale"  # authentic but expired nonce: challenge again with stale=TRUE
    FAILED = "failed"


_NONCE_HEAD = struct.Struct(">d16s")  # issue time, random


class DigestServer:
    """Issues challenges and verifies answers, with stateless HMAC-signed nonces."""

    def __init__(
        self,
        key: bytes,
        realm: str,
        *,
        algorithms: tuple[str, ...] = ALGORITHMS,
        nonce_lifetime: float = 300.0,
        max_tracked_nonces: int = 100_000,
        allow_rfc2069: bool = False,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the nonce key needs at least 16 bytes")
        unknown = set(algorithms) - set(_HASHES)
        if unknown:
            raise ValueError(f"unsupported digest algorithms {sorted(unknown)}")
        self.realm = realm
        self.algorithms = algorithms
        self.nonce_lifetime = nonce_lifetime
        self.allow_rfc2069 = allow_rfc2069
        self._key = key
        self._max_tracked = max_tracked_nonces
        # nonce -> (expiry, highest nc seen): bounded, oldest first.
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._dummy = {alg: _h(alg, "voxgate:no-such-user") for alg in _HASHES}

    # -- nonces -------------------------------------------------------------------
    def make_nonce(self, now: float) -> str:
        """A fresh nonce: time and randomness, signed for this realm."""
        head = _NONCE_HEAD.pack(now, secrets.token_bytes(16))
        return base64.urlsafe_b64encode(head + self._sign(head)).decode().rstrip("=")

    def _sign(self, head: bytes) -> bytes:
        return hmac.new(self._key, head + self.realm.encode(), hashlib.sha256).digest()[:16]

    def _nonce_time(self, nonce: str) -> float | None:
        """Issue time of an authentic nonce, or ``None`` if forged or malformed."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != _NONCE_HEAD.size + 16:
            return None
        head, tag = raw[: _NONCE_HEAD.size], raw[_NONCE_HEAD.size :]
        if not hmac.compare_digest(tag, self._sign(head)):
            return None
        issued: float = _NONCE_HEAD.unpack(head)[0]
        return issued

    def challenge(self, now: float, *, stale: bool = False) -> list[Challenge]:
        """One challenge per algorithm, strongest first, sharing one nonce."""
        nonce = self.make_nonce(now)
        return [
            Challenge(self.realm, nonce, algorithm, ("auth",), stale=stale)
            for algorithm in self.algorithms
        ]

    # -- verification -------------------------------------------------------------
    def verify(
        self,
        method: str,
        request_uri: str,
        credentials: Credentials,
        ha1_lookup: Callable[[str, str], str | None],
        now: float,
    ) -> AuthResult:
        """Check an answer (RFC 2617 §3.2.2, RFC 3261 §22.4); same cost for unknown users."""
        c = credentials
        stored = ha1_lookup(c.algorithm, c.username) if c.algorithm in self.algorithms else None
        expected_ha1 = stored if stored is not None else self._dummy.get(c.algorithm, "")
        algorithm = c.algorithm if c.algorithm in _HASHES else "SHA-256"
        if c.qop is None and not self.allow_rfc2069:
            structurally_ok = False
        else:
            structurally_ok = c.qop in (None, "auth")
        expected = response_value(
            algorithm, expected_ha1, c.nonce, method, c.uri, qop=c.qop, nc=c.nc, cnonce=c.cnonce
        )
        digest_ok = hmac.compare_digest(expected.encode(), c.response.lower().encode())
        issued = self._nonce_time(c.nonce)
        ok = (
            digest_ok and structurally_ok and stored is not None and issued is not None
            and c.realm == self.realm and _same_uri(c.uri, request_uri)
        )  # fmt: skip
        if not ok:
            return AuthResult.FAILED
        assert issued is not None
        if now - issued > self.nonce_lifetime or issued > now + 1.0:
            return AuthResult.STALE
        return AuthResult.OK if self._count(c.nonce, c.nc, issued, now) else AuthResult.FAILED

    def _count(self, nonce: str, nc_text: str | None, issued: float, now: float) -> bool:
        """Record nonce-count ``nc``; ``False`` if it does not increase (a replay)."""
        try:
            nc = int(nc_text, 16) if nc_text is not None else 0
        except ValueError:
            return False
        counts = self._counts
        while counts:  # drop expired nonces, oldest first
            first = next(iter(counts))
            if counts[first][0] > now:
                break
            del counts[first]
        entry = counts.get(nonce)
        if entry is not None and nc <= entry[1]:
            return False
        counts[nonce] = (issued + self.nonce_lifetime, nc)
        counts.move_to_end(nonce)
        while len(counts) > self._max_tracked:
            counts.popitem(last=False)
        return True

    @property
    def tracked_nonces(self) -> int:
        """How many nonces have nonce-count state (bounded by ``max_tracked_nonces``)."""
        return len(self._counts)


def _same_uri(digest_uri: str, request_uri: str) -> bool:
    return digest_uri == request_uri or digest_uri.lower() == request_uri.lower()


# -- client side ------------------------------------------------------------------------
def make_cnonce(random_bytes: bytes) -> str:
    """A client nonce from caller-provided random bytes."""
    return random_bytes.hex()


def select_challenge(challenges: list[Challenge]) -> Challenge | None:
    """The strongest challenge we can answer."""
    for algorithm in ALGORITHMS:
        for challenge in challenges:
            if challenge.algorithm == algorithm:
                return challenge
    return None


def answer(
    challenge: Challenge, method: str, uri: str, username: str, *,
    password: str | None = None, ha1_value: str | None = None, cnonce: str, nc: int = 1,
) -> Credentials:  # fmt: skip
    """Answer ``challenge`` (RFC 2617 §3.2.2) with a password or a stored HA1."""
    algorithm = challenge.algorithm
    if algorithm not in _HASHES:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    if ha1_value is None:
        if password is None:
            raise ValueError("answer() needs a password or an HA1")
        ha1_value = ha1(algorithm, username, challenge.realm, password)
    qop = "auth" if "auth" in challenge.qop else None
    nc_text = f"{nc:08x}" if qop else None
    cn = cnonce if qop else None
    return Credentials(
        username=username, realm=challenge.realm, nonce=challenge.nonce, uri=uri,
        response=response_value(
            algorithm, ha1_value, challenge.nonce, method, uri, qop=qop, nc=nc_text, cnonce=cn
        ),
        algorithm=algorithm, cnonce=cn, nc=nc_text, qop=qop, opaque=challenge.opaque,
    )  # fmt: skip


def challenges_from(response: Response, *, proxy: bool) -> list[Challenge]:
    """The Digest challenges of a 401 (or 407 with ``proxy``); others are skipped."""
    name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    found = []
    for value in response.headers.fields(name):
        if value.lstrip().lower().startswith("digest"):
            found.append(parse_challenge(value))
    return found


def credentials_from(request: Request, realm: str, *, proxy: bool) -> Credentials | None:
    """The Digest credentials of ``request`` for ``realm``, if any."""
    name = "Proxy-Authorization" if proxy else "Authorization"
    for value in request.headers.fields(name):
        credentials = parse_credentials(value)
        if credentials.realm == realm:
            return credentials
    return None
