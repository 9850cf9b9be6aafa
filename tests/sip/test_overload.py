"""voxgate.sip.overload: which datagrams a saturated node defers (new work, no credentials)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxgate.sip.overload import NEW_WORK, deferrable


def request(method: str, *extra: str, to: str = "To: <sip:201@pbx>") -> bytes:
    lines = [f"{method} sip:pbx SIP/2.0", "Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK1",
             "From: <sip:201@pbx>;tag=a1", to, "Call-ID: c1", f"CSeq: 1 {method}", *extra,
             "Content-Length: 0"]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("method", ["REGISTER", "INVITE", "OPTIONS", "SUBSCRIBE", "MESSAGE",
                                    "PUBLISH", "REFER"])  # fmt: skip
def test_new_requests_without_credentials_are_deferrable(method: str) -> None:
    assert deferrable(request(method))


@pytest.mark.parametrize("data", [
    request("REGISTER", 'Authorization: Digest username="201", realm="r", nonce="n"'),
    request("INVITE", 'proxy-authorization : Digest username="201"'),  # any case, spaces
    request("INVITE", to="To: <sip:202@pbx>;tag=b2"),  # in a dialog: a re-INVITE
    request("OPTIONS", to="t: <sip:202@pbx> ; TAG = b2"),  # compact form, odd spacing
    request("BYE"), request("ACK"), request("CANCEL"), request("NOTIFY"), request("PRACK"),
    request("INFO"), request("UPDATE"),
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP pbx;branch=z9hG4bK1\r\nTo: <sip:201@pbx>\r\n\r\n",
    b"SIP/2.0 401 Unauthorized\r\n\r\n",
    b"\r\nREGISTER sip:pbx SIP/2.0\r\n\r\n",  # a leading CRLF: read (and parsed) as usual
    b"register sip:pbx SIP/2.0\r\n\r\n",  # methods are case-sensitive: not ours to judge
    b"",
])  # fmt: skip
def test_responses_dialogs_and_credentials_are_always_read(data: bytes) -> None:
    assert not deferrable(data)


def test_only_the_header_counts() -> None:
    body = "v=0\r\nAuthorization: in a body\r\nTo: x;tag=1\r\n"
    data = request("MESSAGE", "Content-Type: text/plain").replace(
        b"Content-Length: 0\r\n\r\n", f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
    assert deferrable(data)


@given(st.binary(max_size=300))
def test_only_new_work_is_ever_deferred(data: bytes) -> None:
    assert deferrable(data) is (data.startswith(NEW_WORK) and deferrable(data))
    with_credentials = b"REGISTER sip:pbx SIP/2.0\r\n" + data + b"\nAuthorization: Digest"
    assert not deferrable(with_credentials) or b"\r\n\r\n" in with_credentials
