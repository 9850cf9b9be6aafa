"""Tests of voxgate.sip.digest (RFC 2617, RFC 7616, RFC 8760, RFC 3261 §22)."""

from __future__ import annotations

import base64
import dataclasses
import hmac
import os
import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxgate.sip.authparams import _parse_auth_params_strictly, parse_auth_params
from voxgate.sip.digest import (
    ALGORITHMS,
    Algorithm,
    AuthResult,
    Challenge,
    Credentials,
    DigestServer,
    UnsupportedAlgorithmError,
    answer,
    challenges_from,
    credentials_from,
    digest_uri_matches,
    ha1,
    parse_challenge,
    parse_credentials,
    response_value,
    select_challenge,
)
from voxgate.sip.errors import ParseError
from voxgate.sip.message import Headers, Request, Response, make_response

KEY = b"k" * 32
REALM = "voxgate.example.net"
URI = "sip:voxgate.example.net"
USERS = {"1001": "s3cret-Passw0rd!"}
RANDOM = bytes(range(16))


def lookup(algorithm: str, username: str) -> str | None:
    password = USERS.get(username)
    return None if password is None else ha1(algorithm, username, REALM, password)


def register(challenge: Challenge, *, user: str = "1001", password: str = USERS["1001"],
             cnonce: str = "a", nc: int = 1, uri: str = URI) -> Credentials:
    return answer(challenge, "REGISTER", uri, user, password=password, cnonce=cnonce, nc=nc)


# -- RFC test vectors -------------------------------------------------------------------
def test_rfc2617_example() -> None:
    """RFC 2617 §3.5."""
    h = ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life")
    got = response_value("MD5", h, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "GET", "/dir/index.html",
                         qop="auth", nc="00000001", cnonce="0a4f113b")
    assert got == "6629fae49393a05397450978507c4ef1"
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert challenge.algorithm == "MD5" and challenge.qop == ("auth", "auth-int")
    creds = answer(challenge, "GET", "/dir/index.html", "Mufasa", password="Circle Of Life",
                   cnonce="0a4f113b")
    assert creds.response == "6629fae49393a05397450978507c4ef1"
    assert (creds.nc, creds.qop, creds.opaque) == ("00000001", "auth", challenge.opaque)
    assert parse_credentials(str(creds)) == creds


def test_rfc7616_sha256_example() -> None:
    """RFC 7616 §3.9.1 (the SHA-256 response; the MD5 one there is for the same inputs)."""
    h = ha1("SHA-256", "Mufasa", "http-auth@example.org", "Circle of Life")
    got = response_value("SHA-256", h, "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "GET",
                         "/dir/index.html", qop="auth", nc="00000001",
                         cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert got == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    md5 = response_value("MD5", ha1("MD5", "Mufasa", "http-auth@example.org", "Circle of Life"),
                         "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "GET",
                         "/dir/index.html", qop="auth", nc="00000001",
                         cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert md5 == "8ca523f5e9506fed4657c9700eebdbec"


# -- server: round trips ----------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_round_trip_through_headers(algorithm: str) -> None:
    server = DigestServer(KEY, REALM)
    challenges = server.challenge(100.0)
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]  # RFC 8760 §2.4
    offered = [parse_challenge(str(c)) for c in challenges]
    assert offered == challenges
    chosen = next(c for c in offered if c.algorithm == algorithm)
    creds = register(chosen, cnonce="c0ffee")
    parsed = parse_credentials(str(creds))
    assert parsed == creds
    assert server.verify("REGISTER", URI, parsed, lookup, 101.0) is AuthResult.OK


def test_algorithms_are_offered_strongest_first_whatever_the_order_given() -> None:
    server = DigestServer(KEY, REALM, algorithms=("MD5", "SHA-256"))
    assert [c.algorithm for c in server.challenge(0.0)] == ["SHA-256", "MD5"]
    assert [c.algorithm for c in DigestServer(KEY, REALM, ("MD5",)).challenge(0.0)] == ["MD5"]


def test_any_node_with_the_key_verifies_and_nonces_are_deterministic_given_randomness() -> None:
    a, b = DigestServer(KEY, REALM), DigestServer(KEY, REALM)
    first = a.challenge(5.0, random_bytes=RANDOM)
    assert first == a.challenge(5.0, random_bytes=RANDOM)
    assert first[0].nonce != a.challenge(5.0)[0].nonce
    assert b.verify("REGISTER", URI, register(first[0]), lookup, 6.0) is AuthResult.OK


def test_stored_ha1_answers_like_a_password() -> None:
    challenge = DigestServer(KEY, REALM).challenge(0.0)[1]
    a = answer(challenge, "BYE", URI, "1001", password=USERS["1001"], cnonce="x")
    stored = ha1("MD5", "1001", REALM, USERS["1001"])
    b = answer(challenge, "BYE", URI, "1001", ha1_value=stored, cnonce="x")
    c = answer(challenge, "BYE", URI, "1001", ha1_value=stored.upper(), cnonce="x")
    assert a == b == c


# -- server: failures -------------------------------------------------------------------
def test_wrong_password_and_unknown_user_fail_alike() -> None:
    server = DigestServer(KEY, REALM)
    challenge = select_challenge(server.challenge(0.0))
    assert challenge is not None
    asked: list[tuple[str, str]] = []

    def recording(algorithm: str, username: str) -> str | None:
        asked.append((algorithm, username))
        return lookup(algorithm, username)

    wrong = register(challenge, password="nope")
    ghost = register(challenge, user="9999", password="nope")
    assert server.verify("REGISTER", URI, wrong, recording, 1.0) is AuthResult.FAILED
    assert server.verify("REGISTER", URI, ghost, recording, 1.0) is AuthResult.FAILED
    assert asked == [("SHA-256", "1001"), ("SHA-256", "9999")]  # both looked up, same path


def test_unknown_user_cannot_pass_with_any_response() -> None:
    """The stand-in HA1 is keyed: no public password opens an unknown account."""
    server = DigestServer(KEY, REALM)
    challenge = server.challenge(0.0)[0]
    for password in ("", "voxgate:no-such-user", "x"):
        ghost = register(challenge, user="9999", password=password)
        assert server.verify("REGISTER", URI, ghost, lookup, 1.0) is AuthResult.FAILED


def test_wrong_uri_realm_method_qop_and_algorithm_fail() -> None:
    server = DigestServer(KEY, REALM)
    challenge = server.challenge(0.0)[0]
    creds = register(challenge)
    assert server.verify("REGISTER", "sip:elsewhere.example", creds, lookup, 1.0) is AuthResult.FAILED
    assert server.verify("INVITE", URI, creds, lookup, 1.0) is AuthResult.FAILED
    other_realm = answer(dataclasses.replace(challenge, realm="other"), "REGISTER", URI, "1001",
                         password=USERS["1001"], cnonce="a")
    assert server.verify("REGISTER", URI, other_realm, lookup, 1.0) is AuthResult.FAILED
    auth_int = dataclasses.replace(creds, qop="auth-int")
    assert server.verify("REGISTER", URI, auth_int, lookup, 1.0) is AuthResult.FAILED
    sha_only = DigestServer(KEY, REALM, algorithms=("SHA-256",))
    md5 = register(dataclasses.replace(challenge, algorithm="MD5"))
    assert sha_only.verify("REGISTER", URI, md5, lookup, 1.0) is AuthResult.FAILED
    assert server.verify("REGISTER", URI, md5, lookup, 1.0) is AuthResult.OK


def test_rfc2069_answers_only_when_allowed() -> None:
    server = DigestServer(KEY, REALM)
    no_qop = dataclasses.replace(server.challenge(0.0)[0], qop=())
    legacy = register(no_qop)
    assert (legacy.qop, legacy.nc, legacy.cnonce) == (None, None, None)
    assert server.verify("REGISTER", URI, legacy, lookup, 1.0) is AuthResult.FAILED
    lenient = DigestServer(KEY, REALM, allow_rfc2069=True)
    assert lenient.verify("REGISTER", URI, legacy, lookup, 1.0) is AuthResult.OK
    assert lenient.verify("REGISTER", URI, legacy, lookup, 2.0) is AuthResult.FAILED  # one use


def test_stale_nonce() -> None:
    server = DigestServer(KEY, REALM, nonce_lifetime=300)
    creds = register(server.challenge(0.0)[0])
    assert server.verify("REGISTER", URI, creds, lookup, 299.9) is AuthResult.OK
    again = register(server.challenge(0.0, random_bytes=RANDOM)[0])
    assert server.verify("REGISTER", URI, again, lookup, 300.0) is AuthResult.STALE
    assert server.verify("REGISTER", URI, again, lookup, 10_000.0) is AuthResult.STALE
    future = register(server.challenge(1_000.0)[0])
    assert server.verify("REGISTER", URI, future, lookup, 0.0) is AuthResult.STALE
    challenge = server.challenge(0.0, stale=True)[0]
    assert challenge.stale and "stale=TRUE" in str(challenge)
    assert parse_challenge(str(challenge)).stale


def test_stale_needs_a_good_password() -> None:
    server = DigestServer(KEY, REALM, nonce_lifetime=300)
    wrong = register(server.challenge(0.0)[0], password="nope")
    assert server.verify("REGISTER", URI, wrong, lookup, 400.0) is AuthResult.FAILED


def test_nonces_signed_before_blake2b_stay_good_until_they_expire() -> None:
    """Nonces were HMAC-SHA256 signed before 2026-12: a phone holding one when the node is
    upgraded is still let in (and the nonce still expires and counts as any other)."""
    server = DigestServer(KEY, REALM, nonce_lifetime=300.0)
    head = struct.pack(">d16s", 10.0, b"r" * 16)
    tag = hmac.digest(KEY, head + REALM.encode(), "sha256")
    legacy = base64.urlsafe_b64encode(head + tag).decode().rstrip("=")
    assert legacy != server.make_nonce(10.0, b"r" * 16)
    creds = register(Challenge(REALM, legacy, "SHA-256"))
    assert server.verify("REGISTER", URI, creds, lookup, 20.0) is AuthResult.OK
    assert server.verify("REGISTER", URI, creds, lookup, 21.0) is AuthResult.FAILED  # replay
    assert server.verify("REGISTER", URI, register(Challenge(REALM, legacy, "SHA-256"), nc=2),
                         lookup, 400.0) is AuthResult.STALE  # fmt: skip
    other = hmac.digest(b"o" * 32, head + REALM.encode(), "sha256")
    forged = base64.urlsafe_b64encode(head + other).decode().rstrip("=")
    assert server.verify("REGISTER", URI, register(Challenge(REALM, forged, "SHA-256")),
                         lookup, 20.0) is AuthResult.FAILED  # fmt: skip


def test_forged_and_foreign_nonces() -> None:
    server = DigestServer(KEY, REALM)
    nonce = server.challenge(0.0)[0].nonce
    flipped = nonce[:10] + ("A" if nonce[10] != "A" else "B") + nonce[11:]
    for bad in (flipped, nonce[:-1], nonce + "A", nonce[:20] + "!" + nonce[20:], "", "x" * 75,
                nonce.replace("-", "+").replace("_", "/")):
        if bad == nonce:
            continue
        creds = register(Challenge(REALM, bad, "SHA-256"))
        assert server.verify("REGISTER", URI, creds, lookup, 1.0) is AuthResult.FAILED, bad
    other_key = DigestServer(b"o" * 32, REALM).challenge(0.0)[0]
    assert server.verify("REGISTER", URI, register(other_key), lookup, 1.0) is AuthResult.FAILED
    # same key, other realm: the nonce is bound to the realm it was issued for
    other_realm = DigestServer(KEY, "other.example").challenge(0.0)[0]
    forwarded = register(dataclasses.replace(other_realm, realm=REALM))
    assert server.verify("REGISTER", URI, forwarded, lookup, 1.0) is AuthResult.FAILED


def test_nonce_randomness_is_read_ahead_and_never_reused_nor_shared_with_a_fork() -> None:
    server = DigestServer(KEY, REALM)
    randoms = [base64.urlsafe_b64decode(server.make_nonce(0.0) + "=")[8:24] for _ in range(600)]
    assert len(set(randoms)) == 600  # across several 4 KiB blocks
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child's next nonce must not be the parent's next one
        os.write(write, base64.urlsafe_b64decode(server.make_nonce(0.0) + "=")[8:24])
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    parent = base64.urlsafe_b64decode(server.make_nonce(0.0) + "=")[8:24]
    assert len(child) == 16
    assert child != parent


def test_with_workers_each_nonce_is_counted_by_the_worker_that_issued_it() -> None:
    """pbx.workers: a nonce names its issuer in its first random byte; another worker (same
    key) answers it STALE, never OK (its replay state is elsewhere) nor FAILED (no lockout
    for a phone whose NAT mapping moved it to another worker)."""
    first, second = DigestServer(KEY, REALM, worker=0), DigestServer(KEY, REALM, worker=1)
    nonce = first.challenge(0.0, random_bytes=b"\xff" * 16)[0].nonce
    assert base64.urlsafe_b64decode(nonce + "=")[8:10] == b"\x00\xff"
    creds = register(Challenge(REALM, nonce, "SHA-256"))
    assert second.verify("REGISTER", URI, creds, lookup, 1.0) is AuthResult.STALE
    assert first.verify("REGISTER", URI, creds, lookup, 1.0) is AuthResult.OK
    assert first.verify("REGISTER", URI, creds, lookup, 2.0) is AuthResult.FAILED  # replay
    assert second.verify("REGISTER", URI, creds, lookup, 2.0) is AuthResult.STALE
    wrong = register(Challenge(REALM, nonce, "SHA-256"), password="nope")
    assert second.verify("REGISTER", URI, wrong, lookup, 1.0) is AuthResult.FAILED
    own = register(second.challenge(0.0)[0])
    assert second.verify("REGISTER", URI, own, lookup, 1.0) is AuthResult.OK
    alone = DigestServer(KEY, REALM)  # one process: every nonce of the key is its own
    assert alone.verify("REGISTER", URI, register(second.challenge(0.0)[0]), lookup,
                        1.0) is AuthResult.OK  # fmt: skip
    with pytest.raises(ValueError, match="worker"):
        DigestServer(KEY, REALM, worker=256)


def test_nonce_count_replay() -> None:
    server = DigestServer(KEY, REALM)
    challenge = server.challenge(0.0)[0]
    first = register(challenge)
    assert server.verify("REGISTER", URI, first, lookup, 1.0) is AuthResult.OK
    assert server.verify("REGISTER", URI, first, lookup, 2.0) is AuthResult.FAILED
    third = register(challenge, cnonce="b", nc=3)
    assert server.verify("REGISTER", URI, third, lookup, 3.0) is AuthResult.OK
    second = register(challenge, cnonce="c", nc=2)  # below the highest seen
    assert server.verify("REGISTER", URI, second, lookup, 4.0) is AuthResult.FAILED
    assert server.verify("REGISTER", URI, register(challenge, nc=4), lookup, 5.0) is AuthResult.OK


def test_replay_at_the_lifetime_boundary_is_not_accepted() -> None:
    server = DigestServer(KEY, REALM, nonce_lifetime=10)
    creds = register(server.challenge(0.0)[0])
    assert server.verify("REGISTER", URI, creds, lookup, 9.0) is AuthResult.OK
    assert server.verify("REGISTER", URI, creds, lookup, 10.0) is AuthResult.STALE
    assert server.verify("REGISTER", URI, creds, lookup, 9.5) is AuthResult.FAILED


def test_replay_table_is_bounded_and_forgotten_nonces_are_not_reaccepted() -> None:
    server = DigestServer(KEY, REALM, max_tracked_nonces=50)
    sent = []
    for i in range(200):
        creds = register(server.challenge(float(i))[0])
        sent.append(creds)
        assert server.verify("REGISTER", URI, creds, lookup, float(i)) is AuthResult.OK
        assert server.tracked_nonces <= 50
    assert server.tracked_nonces == 50
    # an evicted nonce's count is lost: a replay gets STALE (re-challenge), never OK
    assert server.verify("REGISTER", URI, sent[0], lookup, 200.0) is AuthResult.STALE
    assert server.verify("REGISTER", URI, sent[-1], lookup, 200.0) is AuthResult.FAILED
    # a fresh nonce still works
    fresh = register(server.challenge(200.0)[0])
    assert server.verify("REGISTER", URI, fresh, lookup, 200.0) is AuthResult.OK


def test_replay_table_purges_expired_nonces() -> None:
    server = DigestServer(KEY, REALM, nonce_lifetime=10)
    for i in range(5):
        creds = register(server.challenge(float(i))[0])
        assert server.verify("REGISTER", URI, creds, lookup, float(i)) is AuthResult.OK
    assert server.tracked_nonces == 5
    late = register(server.challenge(100.0)[0])
    assert server.verify("REGISTER", URI, late, lookup, 100.0) is AuthResult.OK
    assert server.tracked_nonces == 1


def test_server_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        DigestServer(b"short", REALM)
    with pytest.raises(ValueError, match="unsupported"):
        DigestServer(KEY, REALM, algorithms=("MD5-sess",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unsupported"):
        DigestServer(KEY, REALM, algorithms=())
    with pytest.raises(ValueError, match="positive"):
        DigestServer(KEY, REALM, nonce_lifetime=0)
    with pytest.raises(ValueError, match="random bytes"):
        DigestServer(KEY, REALM).challenge(0.0, random_bytes=b"short")


@pytest.mark.parametrize(
    ("digest_uri", "request_uri", "matches"),
    [
        (URI, URI, True),
        ("sip:1001@VOXGATE.example.net;Transport=TCP", "sip:1001@voxgate.example.net;transport=tcp", True),
        ("SIP:voxgate.example.net", URI, True),
        ("sip:1001@voxgate.example.net", "sip:1001@voxgate.example.net:5060", False),
        ("sip:1001@voxgate.example.net", "sip:1002@voxgate.example.net", False),
        ("sip:Alice@voxgate.example.net", "sip:alice@voxgate.example.net", False),  # user exact
        ("sips:voxgate.example.net", URI, False),
        ("sip:voxgate.example.net;transport=tcp", URI, False),
        ("tel:+1-201", "tel:+1201", False),
        ("not a uri", URI, False),
    ],
)
def test_digest_uri_matches_request_uri(digest_uri: str, request_uri: str, matches: bool) -> None:
    assert digest_uri_matches(digest_uri, request_uri) is matches


# -- parsers ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        'Basic realm="x"',
        "Digest",
        "",
        'DigestX realm="x", nonce="n"',
        'Digest realm="x", realm="y", nonce="n"',
        'Digest realm="x", REALM="x", nonce="n"',
        'Digest nonce="n"',
        'Digest realm="r"',
        'Digest realm="unterminated, nonce="n"',
        "Digest realm=, nonce=n",
        'Digest realm="x" nonce="n"',
        'Digest realm="x",, nonce="n"',
        'Digest realm="x", nonce="n", stray',
        'Digest realm="x", nonce="n", a=b=c',
        'Digest realm="x\r\n", nonce="n"',
    ],
)
def test_bad_challenges(value: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_challenge(value)
    assert info.value.status == 400


@pytest.mark.parametrize("algorithm", ["MD5-sess", "SHA-256-sess", "SHA-512-256", "AKAv1-MD5", '"md5-SESS"'])
def test_unsupported_algorithms_are_refused(algorithm: str) -> None:
    with pytest.raises(UnsupportedAlgorithmError) as info:
        parse_challenge(f'Digest realm="r", nonce="n", algorithm={algorithm}')
    assert isinstance(info.value, ParseError) and info.value.status == 400
    with pytest.raises(UnsupportedAlgorithmError):
        parse_credentials('Digest username="u", realm="r", nonce="n", uri="sip:a", '
                          f'response="ab", algorithm={algorithm}')
    with pytest.raises(ValueError, match="unsupported"):
        ha1(algorithm, "u", "r", "p")


def test_challenge_parser_takes_odd_spacing_case_and_token_values() -> None:
    c = parse_challenge('DIGEST\tREALM = "r" ,NoNcE=abc,algorithm="sha-256",qop=auth, '
                        'stale=true, domain="sip:a sip:b", opaque=""')
    assert c == Challenge("r", "abc", "SHA-256", ("auth",), opaque="", stale=True,
                          domain="sip:a sip:b")
    assert parse_challenge(str(c)) == c
    assert parse_challenge('Digest realm="r", nonce="n", qop=" auth , auth-int "').qop == (
        "auth", "auth-int")
    assert parse_challenge('Digest realm="r", nonce="n", stale=FALSE').stale is False
    assert parse_challenge('Digest realm="r", nonce="n",').realm == "r"  # RFC 7230 §7 list
    assert parse_challenge('Digest realm="r", nonce="n", extension="x"').nonce == "n"
    assert parse_challenge("  Digest realm=r,nonce=n").algorithm == "MD5"


def test_credentials_parser_takes_odd_spacing_case_and_escapes() -> None:
    c = parse_credentials(
        'Digest  USERNAME = "al\\"ice" ,Realm="r",nonce="n", uri="sip:a@b",'
        'response=ABC, algorithm=sha-256, QOP=auth, nc=0000000A, cnonce="c"'
    )
    assert (c.username, c.algorithm, c.qop, c.nc, c.response) == (
        'al"ice', "SHA-256", "auth", "0000000A", "ABC")
    assert parse_credentials(str(c)) == c


@pytest.mark.parametrize(
    "value",
    [
        'Digest username="a", realm="r", nonce="n", uri="u", response="ab", qop=auth',
        'Digest username="a", realm="r", nonce="n", uri="u", response="ab", qop=auth, cnonce=c',
        'Digest username="a", realm="r", nonce="n", uri="u", response="ab", qop=auth, nc=00000001',
        'Digest username="a", realm="r", nonce="n", uri="u", response="ab", qop=auth, cnonce=c, nc=1',
        'Digest username="a", realm="r", nonce="n", uri="u", response="ab", qop=auth, cnonce=c, nc=0x000001',
        'Digest username="a", realm="r", nonce="n", uri="u", response="xyz"',
        'Digest username="a", realm="r", nonce="n", uri="u", response=""',
        'Digest realm="r", nonce="n", uri="u", response="ab"',
        'Digest username="a", nonce="n", uri="u", response="ab"',
        'Digest username="a", realm="r", uri="u", response="ab"',
        'Digest username="a", realm="r", nonce="n", response="ab"',
        'Digest username="a", realm="r", nonce="n", uri="u"',
        'Digest username="a", username="b", realm="r", nonce="n", uri="u", response="ab"',
        'Basic YWxhZGRpbjpvcGVuc2VzYW1l',
    ],
)
def test_bad_credentials(value: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_credentials(value)
    assert info.value.status == 400


def test_parse_error_names_the_header() -> None:
    with pytest.raises(ParseError, match="Proxy-Authorization"):
        parse_credentials("Digest", "Proxy-Authorization")


# -- client -----------------------------------------------------------------------------
def test_select_challenge_prefers_the_strongest_answerable() -> None:
    md5 = Challenge(REALM, "n1", "MD5")
    sha = Challenge(REALM, "n2", "SHA-256")
    sha_auth_int = Challenge(REALM, "n3", "SHA-256", qop=("auth-int",))
    assert select_challenge([md5, sha]) is sha
    assert select_challenge([md5, sha_auth_int]) is md5
    assert select_challenge([sha_auth_int]) is None
    assert select_challenge([]) is None


def test_answer_refuses_what_it_cannot_do() -> None:
    challenge = Challenge(REALM, "n", "SHA-256")
    with pytest.raises(ValueError, match="qop"):
        answer(dataclasses.replace(challenge, qop=("auth-int",)), "BYE", URI, "u", password="p",
               cnonce="c")
    with pytest.raises(ValueError, match="password"):
        answer(challenge, "BYE", URI, "u", cnonce="c")
    for nc in (0, -1, 2**32):
        with pytest.raises(ValueError, match="nc"):
            answer(challenge, "BYE", URI, "u", password="p", cnonce="c", nc=nc)
    assert answer(challenge, "BYE", URI, "u", password="p", cnonce="c", nc=0x1A).nc == "0000001a"


def _request(*extra: tuple[str, str]) -> Request:
    return Request("REGISTER", URI, Headers.of([
        ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("From", "<sip:1001@h>;tag=1"),
        ("To", "<sip:1001@h>"), ("Call-ID", "c"), ("CSeq", "1 REGISTER"), *extra,
    ]))  # fmt: skip


def test_message_helpers() -> None:
    request = _request()
    server = DigestServer(KEY, REALM)
    response: Response = make_response(request, 401, to_tag="t")
    response.headers.add("WWW-Authenticate", 'Basic realm="legacy"')
    response.headers.add("WWW-Authenticate", 'Digest realm="r", nonce="n", algorithm=MD5-sess')
    response.headers.add("WWW-Authenticate", 'DigestX realm="r", nonce="n"')
    for challenge in reversed(server.challenge(0.0)):
        response.headers.add("WWW-Authenticate", challenge)
    offered = challenges_from(response, proxy=False)
    assert [c.algorithm for c in offered] == ["MD5", "SHA-256"]
    assert challenges_from(response, proxy=True) == []
    chosen = select_challenge(offered)
    assert chosen is not None and chosen.algorithm == "SHA-256"
    request.headers.add("Authorization", "Bearer eyJhbGciOi")
    request.headers.add("Authorization", 'Digest username="x", realm="other", nonce="n", '
                                         'uri="sip:x", response="00", algorithm=MD5-sess')
    request.headers.add("Authorization", register(chosen, cnonce="z"))
    creds = credentials_from(request, REALM, proxy=False)
    assert creds is not None
    assert server.verify("REGISTER", URI, creds, lookup, 1.0) is AuthResult.OK
    assert credentials_from(request, "nowhere", proxy=False) is None
    assert credentials_from(request, REALM, proxy=True) is None


def test_proxy_helpers_and_malformed_digest_headers() -> None:
    server = DigestServer(KEY, REALM)
    response = make_response(_request(), 407)
    for challenge in server.challenge(0.0):
        response.headers.add("Proxy-Authenticate", challenge)
    chosen = select_challenge(challenges_from(response, proxy=True))
    assert chosen is not None
    request = _request(("Proxy-Authorization", str(register(chosen))))
    creds = credentials_from(request, REALM, proxy=True)
    assert creds is not None
    assert server.verify("REGISTER", URI, creds, lookup, 1.0) is AuthResult.OK
    response.headers.add("Proxy-Authenticate", 'Digest realm="r"')
    with pytest.raises(ParseError, match="Proxy-Authenticate"):
        challenges_from(response, proxy=True)
    bad = _request(("Proxy-Authorization", f'Digest realm="{REALM}", nonce="n"'))
    with pytest.raises(ParseError, match="Proxy-Authorization"):
        credentials_from(bad, REALM, proxy=True)
    sess = _request(("Authorization", f'Digest username="u", realm="{REALM}", nonce="n", '
                                      'uri="sip:x", response="00", algorithm=MD5-sess'))
    with pytest.raises(UnsupportedAlgorithmError):
        credentials_from(sess, REALM, proxy=False)


# -- properties -------------------------------------------------------------------------
_auth_param = st.tuples(
    st.sampled_from(["realm", "nonce", "username", "uri", "response", "algorithm", "qop", "nc",
                     "cnonce", "opaque", "stale", "domain", "REALM", "x-ext"]),
    st.sampled_from(["=", " = ", "="]),
    st.one_of(st.text(max_size=12), st.sampled_from(["MD5", "sha-256", "MD5-sess", "auth",
                                                     "00000001", "abc", '"auth,auth-int"'])),
    st.booleans(),
)


@given(st.lists(_auth_param, max_size=12))
@settings(max_examples=400)
def test_structured_auth_params_parse_or_raise_parse_error(params: list[tuple[str, str, str, bool]]) -> None:
    body = ", ".join(f'{n}{eq}"{v}"' if quoted else f"{n}{eq}{v}" for n, eq, v, quoted in params)
    for parse in (parse_challenge, parse_credentials):
        try:
            parse("Digest " + body)
        except ParseError:
            pass


def _both_readings(value: str) -> tuple[object, object]:
    """What the one-regex reading and the strict step-by-step reading make of ``value``."""
    def outcome(parse: Callable[[], dict[str, str]]) -> object:
        try:
            return parse()
        except ParseError as err:
            return ("error", err.detail)
    start = len("Digest ")
    return (outcome(lambda: parse_auth_params(value, "Authorization")),
            outcome(lambda: _parse_auth_params_strictly(value, start, "Authorization")))  # fmt: skip


@given(st.lists(_auth_param, max_size=12),
       st.sampled_from([", ", ",", " ,", "\t,  ", ", ,", " "]), st.sampled_from(["", ",", ", "]))
@settings(max_examples=600)
def test_the_fast_reading_of_auth_params_is_the_strict_one(
    params: list[tuple[str, str, str, bool]], comma: str, tail: str
) -> None:
    body = comma.join(f'{n}{eq}"{v}"' if quoted else f"{n}{eq}{v}" for n, eq, v, quoted in params)
    fast, strict = _both_readings("Digest " + body + tail)
    assert fast == strict


@pytest.mark.parametrize("value", [
    'Digest username="a\\"b", realm="r"', 'Digest realm="r", realm="s"', 'Digest realm="r",',
    'Digest realm="r", ', 'Digest realm="unterminated', "Digest realm=r nonce=n",
    'Digest  realm = "r" ,nonce="n"', 'Digest realm="", nonce=n',
])  # fmt: skip
def test_the_fast_reading_of_auth_params_on_edge_cases(value: str) -> None:
    fast, strict = _both_readings(value)
    assert fast == strict


@given(st.text(max_size=200))
@settings(max_examples=500)
def test_parsers_raise_only_parse_error(text: str) -> None:
    for parse in (parse_challenge, parse_credentials):
        for value in (text, "Digest " + text):
            try:
                parse(value)
            except ParseError:
                pass


_field_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=20)


@given(_field_text, _field_text, _field_text, _field_text, st.sampled_from(ALGORITHMS),
       st.integers(1, 2**32 - 1))
@settings(max_examples=200)
def test_answers_round_trip_through_their_text(username: str, realm: str, uri: str, cnonce: str,
                                               algorithm: Algorithm, nc: int) -> None:
    challenge = parse_challenge(str(Challenge(realm, "nonce", algorithm, opaque=cnonce)))
    creds = answer(challenge, "INVITE", uri, username, password="p", cnonce=cnonce, nc=nc)
    assert parse_credentials(str(creds)) == creds


@given(st.text(max_size=80))
@settings(max_examples=300)
def test_verify_never_accepts_garbage_nonces(nonce: str) -> None:
    server = DigestServer(KEY, REALM)
    creds = register(Challenge(REALM, nonce, "SHA-256"))
    assert server.verify("REGISTER", URI, creds, lookup, 1.0) is AuthResult.FAILED
