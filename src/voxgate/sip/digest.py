"""HTTP Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).

MD5 and SHA-256 with ``qop=auth``; the ``-sess`` variants and every other
algorithm are refused as unsupported (:class:`UnsupportedAlgorithmError`).

The server side (:class:`DigestServer`) issues stateless nonces that any node
holding the key can check, answers stale nonces with STALE, refuses forged and
replayed ones, and answers an unknown user exactly as a wrong password so that
extensions cannot be enumerated.  The client side (:func:`answer`) answers a
challenge.  Stores keep only HA1 per algorithm (:func:`ha1`), never a clear
secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal

from voxgate.sip.authparams import auth_scheme, parse_auth_params
from voxgate.sip.errors import ParseError
from voxgate.sip.grammar import quote
from voxgate.sip.message import Request, Response
from voxgate.sip.uri import SipUri, parse_uri

#: The digest algorithms we speak (RFC 7616 §6.1, RFC 8760 §2.1).
Algorithm = Literal["MD5", "SHA-256"]
#: Strongest first: challenges are offered in this order (RFC 8760 §2.4).
ALGORITHMS: Final[tuple[Algorithm, ...]] = ("SHA-256", "MD5")
_HASHES: Final[dict[str, Callable[[bytes], hashlib._Hash]]] = {
    "MD5": hashlib.md5, "SHA-256": hashlib.sha256,
}  # fmt: skip

#: nc-value = 8LHEX (RFC 2617 §3.2.2).
_NC_RE = re.compile(r"[0-9A-Fa-f]{8}")
#: request-digest = <"> 32LHEX <"> (RFC 2617 §3.2.2); 64 for SHA-256 (RFC 7616 §3.4).
_HEX_RE = re.compile(r"[0-9A-Fa-f]+")
#: Our nonces: unpadded base64url (RFC 4648 §5) of a fixed-size blob.
_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{75}")  # 56 bytes


class UnsupportedAlgorithmError(ParseError):
    """A challenge or credentials name an algorithm we do not implement (``-sess`` included)."""


def _hash(algorithm: str, text: str) -> str:
    """H(data) of RFC 7616 §3.4: lower-case hex of the algorithm's digest of UTF-8 text."""
    return _HASHES[algorithm](text.encode()).hexdigest()


def _algorithm(text: str, what: str) -> Algorithm:
    """The canonical name of a supported algorithm (names are case-insensitive, RFC 7616 §3.3)."""
    upper = text.upper()
    if upper == "MD5":
        return "MD5"
    if upper == "SHA-256":
        return "SHA-256"
    detail = f"unsupported algorithm {text[:20]!r}"
    raise UnsupportedAlgorithmError(f"Bad {what} header", detail=detail)


def ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """HA1 = H(username ":" realm ":" password) (RFC 2617 §3.2.2.2, RFC 7616 §3.4.2).

    Raises :class:`ValueError` for an algorithm other than MD5 or SHA-256.
    """
    if algorithm not in _HASHES:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return _hash(algorithm, f"{username}:{realm}:{password}")


def response_value(
    algorithm: str, ha1_value: str, nonce: str, method: str, uri: str, *,
    qop: str | None, nc: str | None, cnonce: str | None,
) -> str:  # fmt: skip
    """request-digest (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1).

    With ``qop``: KD(HA1, nonce:nc:cnonce:qop:HA2); without, the RFC 2069 form
    KD(HA1, nonce:HA2).  HA2 = H(method:digest-uri) (RFC 2617 §3.2.2.3, qop=auth).
    """
    ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop is None:
        return _hash(algorithm, f"{ha1_value}:{nonce}:{ha2}")
    return _hash(algorithm, f"{ha1_value}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


@dataclass(frozen=True, slots=True, init=False)
class Challenge:
    """A Digest challenge of ``WWW-Authenticate``/``Proxy-Authenticate`` (RFC 2617 §3.2.1).

    ``qop`` holds the offered qop-options (empty: the RFC 2069 form); ``str()``
    gives the header field value.
    """

    realm: str
    nonce: str
    algorithm: Algorithm = "MD5"
    qop: tuple[str, ...] = ("auth",)
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        realm: str,
        nonce: str,
        algorithm: Algorithm = "MD5",
        qop: tuple[str, ...] = ("auth",),
        opaque: str | None = None,
        stale: bool = False,
        domain: str | None = None,
    ) -> None:
        object.__setattr__(self, "realm", realm)
        object.__setattr__(self, "nonce", nonce)
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "qop", qop)
        object.__setattr__(self, "opaque", opaque)
        object.__setattr__(self, "stale", stale)
        object.__setattr__(self, "domain", domain)

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
            parts.append(f"qop={quote(','.join(self.qop))}")
        return "Digest " + ", ".join(parts)


@dataclass(frozen=True, slots=True, init=False)
class Credentials:
    """Digest credentials of ``Authorization``/``Proxy-Authorization`` (RFC 2617 §3.2.2).

    ``uri`` is the digest-uri; ``nc`` is kept as the 8 hex digits sent, since
    they enter the digest verbatim.  ``str()`` gives the header field value.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: Algorithm = "MD5"
    cnonce: str | None = None
    nc: str | None = None
    qop: str | None = None
    opaque: str | None = None

    def __init__(  # noqa: PLR0917 (the dataclass's signature)
        self,
        username: str,
        realm: str,
        nonce: str,
        uri: str,
        response: str,
        algorithm: Algorithm = "MD5",
        cnonce: str | None = None,
        nc: str | None = None,
        qop: str | None = None,
        opaque: str | None = None,
    ) -> None:
        object.__setattr__(self, "username", username)
        object.__setattr__(self, "realm", realm)
        object.__setattr__(self, "nonce", nonce)
        object.__setattr__(self, "uri", uri)
        object.__setattr__(self, "response", response)
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "cnonce", cnonce)
        object.__setattr__(self, "nc", nc)
        object.__setattr__(self, "qop", qop)
        object.__setattr__(self, "opaque", opaque)

    def __str__(self) -> str:
        parts = [
            f"username={quote(self.username)}", f"realm={quote(self.realm)}",
            f"nonce={quote(self.nonce)}", f"uri={quote(self.uri)}",
            f"response={quote(self.response)}", f"algorithm={self.algorithm}",
        ]  # fmt: skip
        if self.cnonce is not None:
            parts.append(f"cnonce={quote(self.cnonce)}")
        if self.nc is not None:
            parts.append(f"nc={self.nc}")
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        return "Digest " + ", ".join(parts)


# -- parsing ----------------------------------------------------------------------------
def _need(params: dict[str, str], name: str, what: str) -> str:
    value = params.get(name)
    if value is None:
        raise ParseError(f"Bad {what} header", detail=f"missing {name}")
    return value


def parse_challenge(value: str, what: str = "WWW-Authenticate") -> Challenge:
    """Parse a Digest challenge (RFC 2617 §3.2.1, RFC 7616 §3.3).

    ``realm`` and ``nonce`` are mandatory; an absent algorithm means MD5.
    Raises :class:`UnsupportedAlgorithmError` for ``-sess`` and unknown algorithms.
    """
    return _challenge_of(parse_auth_params(value, what), what)


def _challenge_of(p: dict[str, str], what: str) -> Challenge:
    qop = tuple(q.strip() for q in p["qop"].split(",") if q.strip()) if "qop" in p else ()
    return Challenge(
        realm=_need(p, "realm", what), nonce=_need(p, "nonce", what),
        algorithm=_algorithm(p.get("algorithm", "MD5"), what),
        qop=qop, opaque=p.get("opaque"), stale=p.get("stale", "").lower() == "true",
        domain=p.get("domain"),
    )  # fmt: skip


def parse_credentials(value: str, what: str = "Authorization") -> Credentials:
    """Parse Digest credentials (RFC 2617 §3.2.2, RFC 7616 §3.4).

    ``username``, ``realm``, ``nonce``, ``uri`` and ``response`` are mandatory;
    with ``qop``, so are ``cnonce`` and ``nc`` (8LHEX).  ``response`` must be hex.
    Raises :class:`UnsupportedAlgorithmError` for ``-sess`` and unknown algorithms.
    """
    return _credentials_of(parse_auth_params(value, what), what)


def _credentials_of(p: dict[str, str], what: str) -> Credentials:
    credentials = Credentials(
        username=_need(p, "username", what), realm=_need(p, "realm", what),
        nonce=_need(p, "nonce", what), uri=_need(p, "uri", what),
        response=_need(p, "response", what),
        algorithm=_algorithm(p.get("algorithm", "MD5"), what),
        cnonce=p.get("cnonce"), nc=p.get("nc"), qop=p.get("qop"), opaque=p.get("opaque"),
    )  # fmt: skip
    if _HEX_RE.fullmatch(credentials.response) is None:
        raise ParseError(f"Bad {what} header", detail="response is not hex")
    if credentials.nc is not None and _NC_RE.fullmatch(credentials.nc) is None:
        raise ParseError(f"Bad {what} header", detail="nc is not 8 hex digits")
    if credentials.qop is not None and (credentials.cnonce is None or credentials.nc is None):
        raise ParseError(f"Bad {what} header", detail="qop without cnonce and nc")
    return credentials


# -- server side ------------------------------------------------------------------------
class AuthResult(Enum):
    """What :meth:`DigestServer.verify` decided."""

    OK = "ok"
    #: Authentic but expired nonce: challenge again with stale=TRUE (RFC 2617 §3.2.1).
    STALE = "stale"
    FAILED = "failed"


#: A nonce is base64url(issue time || random || HMAC-SHA256(key, time || random || realm)).
_NONCE_HEAD = struct.Struct(">d16s")
#: Random bytes read from the kernel at once for the nonces (a system call per nonce was 2 %
#: of a REGISTER pair): 256 nonces' worth.
_RANDOM_BLOCK = 4096


#: Forks so far (one counter): a child must not hand out the nonce randomness its parent read
#: before the fork (and will hand out too).
_FORKS: Final[list[int]] = [0]


def _forked() -> None:
    _FORKS[0] += 1


os.register_at_fork(after_in_child=_forked)
_NONCE_TAG_SIZE = 32
_RANDOM_SIZE = 16


class DigestServer:
    """Issues Digest challenges and verifies answers (RFC 3261 §22.1, §22.3).

    Nonces are stateless and signed with ``key`` for ``realm``: every node with
    the key accepts every node's nonces, so ``now`` must be a clock the nodes
    share (wall-clock seconds), not a per-process monotonic one.  The only
    state is the highest nonce-count seen per nonce (RFC 2617 §3.2.2), kept
    until the nonce expires and at most ``max_tracked_nonces`` of them; a nonce
    whose count was forgotten to respect that bound is answered STALE, never
    accepted again.
    """

    def __init__(
        self,
        key: bytes,
        realm: str,
        algorithms: tuple[Algorithm, ...] = ALGORITHMS,
        nonce_lifetime: float = 300.0,
        max_tracked_nonces: int = 100_000,
        *,
        allow_rfc2069: bool = False,
        worker: int | None = None,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the nonce key needs at least 16 bytes")
        if not algorithms or set(algorithms) - set(_HASHES):
            raise ValueError(f"unsupported digest algorithms {algorithms!r}")
        if nonce_lifetime <= 0 or max_tracked_nonces < 1:
            raise ValueError("nonce_lifetime and max_tracked_nonces must be positive")
        self.realm = realm
        #: Offered strongest first, whatever order they were given in (RFC 8760 §2.4).
        self.algorithms = tuple(a for a in ALGORITHMS if a in algorithms)
        self.nonce_lifetime = nonce_lifetime
        self.max_tracked_nonces = max_tracked_nonces
        #: Accept answers without qop (RFC 2069 compatibility, RFC 2617 §3.2.2.1): off.
        self.allow_rfc2069 = allow_rfc2069
        if worker is not None and not 0 <= worker <= 255:
            raise ValueError("worker must be 0…255")
        #: With several processes answering one listener (``pbx.workers``): the process whose
        #: nonces are counted here.  Its number is the first "random" byte of each nonce it
        #: issues, and another process's nonce is answered STALE (a new challenge from this
        #: one), because nonce-count replay state lives in the process that issued it.
        self.worker = worker
        self._key = key
        #: BLAKE2b takes keys of at most 64 bytes; a longer one is hashed down to 64.
        self._mac_key = key if len(key) <= 64 else hashlib.blake2b(key).digest()
        self._realm_bytes = realm.encode()
        self._random = b""  # read ahead for make_nonce, used from _random_at on
        self._random_at = 0
        self._random_forks = _FORKS[0]
        # nonce -> (expiry, highest nc seen), in order of first use.
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()
        # Nonces issued at or before this time may have lost their count: refused.
        self._forgotten_before = float("-inf")
        # Stand-in HA1 for unknown users: same work, and no one knows its password.
        self._dummy_ha1 = {
            alg: _hash(alg, hmac.new(key, b"voxgate digest dummy HA1", "sha256").hexdigest())
            for alg in _HASHES
        }

    # -- nonces -------------------------------------------------------------------------
    def make_nonce(self, now: float, random_bytes: bytes | None = None) -> str:
        """A fresh nonce: issue time and 16 random bytes, signed for this realm."""
        if random_bytes is None:
            random_bytes = self._fresh_random()
        if len(random_bytes) != _RANDOM_SIZE:
            raise ValueError(f"a nonce takes {_RANDOM_SIZE} random bytes")
        if self.worker is not None:
            random_bytes = bytes((self.worker,)) + random_bytes[1:]
        head = _NONCE_HEAD.pack(now, random_bytes)
        return base64.urlsafe_b64encode(head + self._sign(head)).decode().rstrip("=")

    def _fresh_random(self) -> bytes:
        """:data:`_RANDOM_SIZE` bytes from the kernel's CSPRNG, read a block at a time."""
        at = self._random_at
        if at + _RANDOM_SIZE > len(self._random) or self._random_forks != _FORKS[0]:
            self._random = os.urandom(_RANDOM_BLOCK)
            self._random_forks = _FORKS[0]
            at = 0
        self._random_at = at + _RANDOM_SIZE
        return self._random[at : at + _RANDOM_SIZE]

    def _sign(self, head: bytes) -> bytes:
        # Keyed BLAKE2b is a MAC (RFC 7693 §3.3), and a third of HMAC-SHA256's cost here:
        # OpenSSL 3 looks the HMAC algorithm up on every one-shot call.
        return hashlib.blake2b(
            head + self._realm_bytes, digest_size=_NONCE_TAG_SIZE, key=self._mac_key,
            person=b"voxgate-nonce",
        ).digest()  # fmt: skip

    def _issue_time(self, nonce: str) -> tuple[float, int] | None:
        """Issue time and first random byte (the issuing worker's number, when there are
        workers) of an authentic nonce of ours, or ``None`` if forged or malformed."""
        if _NONCE_RE.fullmatch(nonce) is None:  # b64decode would skip stray characters
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=")
        except binascii.Error:
            return None
        head, tag = raw[: _NONCE_HEAD.size], raw[_NONCE_HEAD.size :]
        if len(tag) != _NONCE_TAG_SIZE:
            return None
        if not hmac.compare_digest(tag, self._sign(head)) and not hmac.compare_digest(
            tag, hmac.digest(self._key, head + self._realm_bytes, "sha256")
        ):  # nor signed as before 2026-12 (HMAC-SHA256), so that after an upgrade the
            # nonces phones hold stay good until they expire instead of earning them a 403
            return None
        issued: float
        issued, random_part = _NONCE_HEAD.unpack(head)
        return issued, random_part[0]

    def challenge(
        self, now: float, *, stale: bool = False, random_bytes: bytes | None = None
    ) -> list[Challenge]:
        """One challenge per algorithm, strongest first, sharing one fresh nonce
        (RFC 3261 §22.1, RFC 8760 §2.4; RFC 7616 §3.7 shows a shared nonce)."""
        nonce = self.make_nonce(now, random_bytes)
        return [
            Challenge(self.realm, nonce, algorithm, ("auth",), stale=stale)
            for algorithm in self.algorithms
        ]

    # -- verification ---------------------------------------------------------------------
    def verify(
        self,
        method: str,
        request_uri: str,
        credentials: Credentials,
        ha1_lookup: Callable[[str, str], str | None],
        now: float,
    ) -> AuthResult:
        """Check credentials against a request (RFC 2617 §3.2.2, RFC 3261 §22.4).

        ``ha1_lookup(algorithm, username)`` gives the stored HA1 or ``None``.
        An unknown user costs the same work and gets the same FAILED as a wrong
        password: the digest is computed against a stand-in HA1 and compared in
        constant time.  Wrong realm, an algorithm not offered, a qop other than
        auth, a forged nonce or a digest-uri other than the Request-URI
        (RFC 2617 §3.2.2.5) fail; an authentic expired nonce is STALE; a
        nonce-count not above the highest seen for that nonce fails (replay).
        """
        c = credentials
        offered = c.algorithm in self.algorithms
        stored = ha1_lookup(c.algorithm, c.username) if offered else None
        expected_ha1 = stored.lower() if stored is not None else self._dummy_ha1[c.algorithm]
        expected = response_value(
            c.algorithm, expected_ha1, c.nonce, method, c.uri, qop=c.qop, nc=c.nc, cnonce=c.cnonce
        )
        digest_ok = hmac.compare_digest(expected.encode(), c.response.lower().encode())
        qop_ok = c.qop == "auth" or (c.qop is None and self.allow_rfc2069)
        stamp = self._issue_time(c.nonce)
        if (
            stamp is None or not digest_ok or stored is None or not offered or not qop_ok
            or c.realm != self.realm or not digest_uri_matches(c.uri, request_uri)
        ):  # fmt: skip
            return AuthResult.FAILED
        issued, issuer = stamp
        if now - issued >= self.nonce_lifetime or issued > now + 1.0:
            return AuthResult.STALE
        if self.worker is not None and issuer != self.worker:
            return AuthResult.STALE  # its count is kept by the worker that issued it
        return self._count(c.nonce, c.nc, issued, now)

    def _count(self, nonce: str, nc_text: str | None, issued: float, now: float) -> AuthResult:
        """Record nonce-count ``nc`` (RFC 2617 §3.2.2); FAILED if it does not increase."""
        nc = int(nc_text, 16) if nc_text is not None else 0  # 8LHEX, checked by the parser
        counts = self._counts
        while counts:  # forget expired nonces: the lifetime check refuses them anyway
            first = next(iter(counts))
            if counts[first][0] > now:
                break
            del counts[first]
        entry = counts.get(nonce)
        if entry is None:
            if issued <= self._forgotten_before:
                return AuthResult.STALE  # its count may have been dropped: use a new nonce
        elif nc <= entry[1]:
            return AuthResult.FAILED
        counts[nonce] = (issued + self.nonce_lifetime, nc)
        while len(counts) > self.max_tracked_nonces:
            _, (expiry, _nc) = counts.popitem(last=False)
            self._forgotten_before = max(self._forgotten_before, expiry - self.nonce_lifetime)
        return AuthResult.OK

    @property
    def tracked_nonces(self) -> int:
        """How many nonces have nonce-count state (at most ``max_tracked_nonces``)."""
        return len(self._counts)


def digest_uri_matches(digest_uri: str, request_uri: str) -> bool:
    """Whether the digest-uri names the Request-URI (RFC 2617 §3.2.2.5).

    Equal text matches; otherwise both must be SIP URIs equal under RFC 3261
    §19.1.4 (scheme, host and parameters case-insensitive, user part exact).
    """
    if digest_uri == request_uri:
        return True
    try:
        a, b = parse_uri(digest_uri), parse_uri(request_uri)
    except ParseError:
        return False
    if not isinstance(a, SipUri) or not isinstance(b, SipUri):
        return False
    return (a.scheme, a.user, a.password, a.host, a.port, a.headers) == (
        b.scheme, b.user, b.password, b.host, b.port, b.headers
    ) and _lower_params(a) == _lower_params(b)  # fmt: skip


def _lower_params(uri: SipUri) -> dict[str, str | None]:
    return {k: None if v is None else v.lower() for k, v in uri.params.items()}


# -- client side ------------------------------------------------------------------------
def make_cnonce(random_bytes: bytes) -> str:
    """A client nonce (RFC 2617 §3.2.2) from caller-provided random bytes."""
    return random_bytes.hex()


def can_answer(challenge: Challenge) -> bool:
    """Whether :func:`answer` can answer ``challenge``: qop absent or offering auth."""
    return not challenge.qop or "auth" in challenge.qop


def select_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """The strongest challenge we can answer (RFC 8760 §2.4), or ``None``."""
    usable = [c for c in challenges if can_answer(c)]
    for algorithm in ALGORITHMS:
        for challenge in usable:
            if challenge.algorithm == algorithm:
                return challenge
    return None


def answer(
    challenge: Challenge, method: str, uri: str, username: str, *,
    password: str | None = None, ha1_value: str | None = None, cnonce: str, nc: int = 1,
) -> Credentials:  # fmt: skip
    """Answer ``challenge`` (RFC 2617 §3.2.2, RFC 3261 §22.2) with a password or stored HA1.

    ``qop=auth`` is used when offered; a challenge without qop gets the RFC 2069
    form.  ``nc`` counts the requests sent with this nonce, from 1.  Raises
    :class:`ValueError` if neither secret is given, or the challenge offers qop
    but not auth.
    """
    if not can_answer(challenge):
        raise ValueError(f"no supported qop in {challenge.qop!r}")
    if not 0 < nc <= 0xFFFFFFFF:
        raise ValueError("nc must be in 1..2**32-1")
    if ha1_value is None:
        if password is None:
            raise ValueError("answer() needs a password or an HA1")
        ha1_value = ha1(challenge.algorithm, username, challenge.realm, password)
    qop = "auth" if challenge.qop else None
    nc_text = f"{nc:08x}" if qop else None
    cn = cnonce if qop else None
    digest = response_value(
        challenge.algorithm, ha1_value.lower(), challenge.nonce, method, uri,
        qop=qop, nc=nc_text, cnonce=cn,
    )  # fmt: skip
    return Credentials(
        username=username, realm=challenge.realm, nonce=challenge.nonce, uri=uri,
        response=digest, algorithm=challenge.algorithm, cnonce=cn, nc=nc_text, qop=qop,
        opaque=challenge.opaque,
    )  # fmt: skip


def challenges_from(response: Response, *, proxy: bool) -> list[Challenge]:
    """The Digest challenges of a 401, or of a 407 with ``proxy`` (RFC 3261 §22.2, §22.3).

    Other schemes and algorithms we do not support are skipped (RFC 7616 §3.7);
    a malformed Digest challenge raises :class:`ParseError`.
    """
    what = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    found = []
    for value in response.headers.fields(what):
        if auth_scheme(value) != "digest":
            continue
        try:
            found.append(parse_challenge(value, what))
        except UnsupportedAlgorithmError:
            continue
    return found


def credentials_from(request: Request, realm: str, *, proxy: bool) -> Credentials | None:
    """The Digest credentials of ``request`` for ``realm``, if any (RFC 3261 §22.3, §22.4).

    Other schemes and other realms are skipped; malformed Digest credentials,
    or ours naming an unsupported algorithm, raise :class:`ParseError`.
    """
    what = "Proxy-Authorization" if proxy else "Authorization"
    for value in request.headers.fields(what):
        if auth_scheme(value) != "digest":
            continue
        params = parse_auth_params(value, what)
        if params.get("realm") == realm:
            return _credentials_of(params, what)
    return None
