"""Tests of voxgate.sip.digest (RFC 2617, RFC 7616, RFC 8760)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxgate.sip.digest import (
    AuthResult,
    Challenge,
    DigestServer,
    answer,
    challenges_from,
    credentials_from,
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


def lookup(algorithm: str, username: str) -> str | None:
    password = USERS.get(username)
    return None if password is None else ha1(algorithm, username, REALM, password)


def test_rfc2617_example() -> None:
    h = ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life")
    got = response_value("MD5", h, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "GET", "/dir/index.html",
                         qop="auth", nc="00000001", cnonce="0a4f113b")
    assert got == "6629fae49393a05397450978507c4ef1"


def test_rfc7616_sha256_example() -> None:
    h = ha1("SHA-256", "Mufasa", "http-auth@example.org", "Circle of Life")
    got = response_value("SHA-256", h, "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "GET",
                         "/dir/index.html", qop="auth", nc="00000001",
                         cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert got == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_round_trip_through_headers(algorithm: str) -> None:
    server = DigestServer(KEY, REALM)
    challenges = server.challenge(100.0)
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]  # strongest first
    offered = [parse_challenge(str(c)) for c in challenges]
    assert offered == challenges
    chosen = next(c for c in offered if c.algorithm == algorithm)
    creds = answer(chosen, "REGISTER", URI, "1001", password=USERS["1001"], cnonce="c0ffee", nc=1)
    parsed = parse_credentials(str(creds))
    assert parsed == creds
    assert server.verify("REGISTER", URI, parsed, lookup, 101.0) is AuthResult.OK


def test_wrong_password_and_unknown_user_fail_alike() -> None:
    server = DigestServer(KEY, REALM)
    challenge = select_challenge(server.challenge(0.0))
    assert challenge is not None
    wrong = answer(challenge, "REGISTER", URI, "1001", password="nope", cnonce="a")
    ghost = answer(challenge, "REGISTER", URI, "9999", password="nope", cnonce="a")
    assert server.verify("REGISTER", URI, wrong, lookup, 1.0) is AuthResult.FAILED
    assert server.verify("REGISTER", URI, ghost, lookup, 1.0) is AuthResult.FAILED


def test_stale_forged_foreign_and_replayed_nonces() -> None:
    server = DigestServer(KEY, REALM, nonce_lifetime=300)
    challenge = server.challenge(0.0)[0]
    creds = answer(challenge, "REGISTER", URI, "1001", password=USERS["1001"], cnonce="a")
    assert server.verify("REGISTER", URI, creds, lookup, 301.0) is AuthResult.STALE
    forged = Challenge(REALM, challenge.nonce[:-2] + "AA", "SHA-256")
    bad = answer(forged, "REGISTER", URI, "1001", password=USERS["1001"], cnonce="a")
    assert server.verify("REGISTER", URI, bad, lookup, 1.0) is AuthResult.FAILED
    other = DigestServer(b"o" * 32, REALM).challenge(0.0)[0]
    foreign = answer(other, "REGISTER", URI, "1001", password=USERS["1001"], cnonce="a")
    assert server.verify("REGISTER", URI, foreign, lookup, 1.0) is AuthResult.FAILED
    assert server.verify("REGISTER", URI, creds, lookup, 1.0) is AuthResult.OK
    assert server.verify("REGISTER", URI, creds, lookup, 2.0) is AuthResult.FAILED  # nc replay
    second = answer(challenge, "REGISTER", URI, "1001", password=USERS["1001"], cnonce="b", nc=2)
    assert server.verify("REGISTER", URI, second, lookup, 3.0) is AuthResult.OK


def test_wrong_uri_realm_method_and_missing_qop_fail() -> None:
    server = DigestServer(KEY, REALM)
    challenge = server.challenge(0.0)[0]
    creds = answer(challenge, "REGISTER", URI, "1001", password=USERS["1001"], cnonce="a")
    assert server.verify("REGISTER", "sip:elsewhere", creds, lookup, 1.0) is AuthResult.FAILED
    assert server.verify("INVITE", URI, creds, lookup, 1.0) is AuthResult.FAILED
    no_qop = Challenge(REALM, challenge.nonce, "SHA-256", qop=())
    legacy = answer(no_qop, "REGISTER", URI, "1001", password=USERS["1001"], cnonce="a")
    assert legacy.qop is None
    assert server.verify("REGISTER", URI, legacy, lookup, 1.0) is AuthResult.FAILED
    lenient = DigestServer(KEY, REALM, allow_rfc2069=True)
    assert lenient.verify("REGISTER", URI, legacy, lookup, 1.0) is AuthResult.OK


def test_replay_table_is_bounded() -> None:
    server = DigestServer(KEY, REALM, max_tracked_nonces=50)
    for i in range(200):
        challenge = server.challenge(float(i))[0]
        creds = answer(challenge, "REGISTER", URI, "1001", password=USERS["1001"], cnonce="a")
        assert server.verify("REGISTER", URI, creds, lookup, float(i)) is AuthResult.OK
    assert server.tracked_nonces == 50


def test_stored_ha1_answers_like_a_password() -> None:
    challenge = DigestServer(KEY, REALM).challenge(0.0)[1]
    a = answer(challenge, "BYE", URI, "1001", password=USERS["1001"], cnonce="x")
    b = answer(challenge, "BYE", URI, "1001", ha1_value=ha1("MD5", "1001", REALM, USERS["1001"]),
               cnonce="x")
    assert a == b


@pytest.mark.parametrize(
    "value",
    [
        'Basic realm="x"',
        'Digest realm="x", realm="y", nonce="n"',
        'Digest nonce="n"',
        'Digest realm="unterminated, nonce="n"',
        "Digest realm=, nonce=n",
        'Digest realm="x" nonce="n"',
    ],
)
def test_bad_challenges(value: str) -> None:
    with pytest.raises(ParseError):
        parse_challenge(value)


def test_parser_takes_odd_spacing_case_and_escapes() -> None:
    c = parse_credentials(
        'Digest  USERNAME = "al\\"ice" ,Realm="r",nonce="n", uri="sip:a@b",'
        "response=abc, algorithm=sha-256, QOP=auth, nc=00000001, cnonce=\"c\""
    )
    assert (c.username, c.algorithm, c.qop) == ('al"ice', "SHA-256", "auth")
    with pytest.raises(ParseError):
        parse_credentials('Digest username="a", realm="r", nonce="n", uri="u", response="r", qop=auth')


def test_message_helpers() -> None:
    request = Request("REGISTER", URI, Headers.of([
        ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("From", "<sip:1001@h>;tag=1"),
        ("To", "<sip:1001@h>"), ("Call-ID", "c"), ("CSeq", "1 REGISTER"),
    ]))  # fmt: skip
    server = DigestServer(KEY, REALM)
    response: Response = make_response(request, 401, to_tag="t")
    for challenge in server.challenge(0.0):
        response.headers.add("WWW-Authenticate", challenge)
    response.headers.add("WWW-Authenticate", 'Basic realm="legacy"')
    offered = challenges_from(response, proxy=False)
    assert len(offered) == 2
    chosen = select_challenge(offered)
    assert chosen is not None
    request.headers.add("Authorization", answer(chosen, "REGISTER", URI, "1001",
                                                password=USERS["1001"], cnonce="z"))
    creds = credentials_from(request, REALM, proxy=False)
    assert creds is not None
    assert server.verify("REGISTER", URI, creds, lookup, 1.0) is AuthResult.OK
    assert credentials_from(request, "other", proxy=False) is None


@given(st.text(max_size=200))
@settings(max_examples=500)
def test_parsers_raise_only_parse_error(text: str) -> None:
    for parse in (parse_challenge, parse_credentials):
        try:
            parse("Digest " + text)
        except ParseError:
            pass
