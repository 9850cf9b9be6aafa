"""The registrar through the PBX core (RFC 3261 §10.3, RFC 5626 §6), on a fake clock."""

from __future__ import annotations

from harness import REALM, Phone, extension, make_bench

from voxgate.pbx.registrar import RegistrarPolicy
from voxgate.sip.message import Response


def test_challenge_then_register_then_binding_is_listed() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    phone = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1")
    phone.send(phone.request("REGISTER", f"sip:{REALM}", to=f"<sip:201@{REALM}>", call_id="r1",
                             headers="Expires: 300\n"))  # fmt: skip
    [challenge] = phone.inbox()
    assert isinstance(challenge, Response)
    assert challenge.status == 401
    algorithms = [v.split("algorithm=")[1].split(",")[0] for v in challenge.headers.fields("WWW-Authenticate")]
    assert algorithms == ["SHA-256", "MD5"]
    ok = phone.register(expires=300)
    assert ok.status == 200
    [contact] = ok.headers.get_all("Contact")
    assert contact == "<sip:201@10.0.0.1:5060>;expires=300"
    assert [b.aor for b in bench.saved] == ["201"]
    assert bench.events[-1].outcome == "registered"
    assert bench.events[-1].credential == "201"
    assert len(bench.core.location.lookup("201", bench.now)) == 1


def test_sha256_credentials_work_too() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    phone = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1", algorithm="SHA-256")
    assert phone.register().status == 200


def test_wrong_secret_unknown_and_disabled_extensions_get_the_same_403() -> None:
    bench = make_bench(extension("201", "right-secret-1"), extension("202", "right-secret-2", enabled=False))
    statuses = []
    for number, secret in (("201", "wrong"), ("999", "whatever"), ("202", "right-secret-2")):
        phone = Phone(bench, number, secret, "10.0.0.9")
        response = phone.register()
        statuses.append((response.status, response.reason))
    assert statuses == [(403, "Forbidden")] * 3
    assert len(bench.core.location) == 0
    assert [e.outcome for e in bench.events] == ["refused"] * 3


def test_credentials_for_another_aor_are_refused() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"), extension("202", "s3cret-202-xyz"))
    thief = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1")
    text = thief.request("REGISTER", f"sip:{REALM}", to=f"<sip:202@{REALM}>", call_id="x")
    thief.send(text)
    [challenge] = thief.inbox()
    assert isinstance(challenge, Response)
    thief.send(thief.authorized(thief.request("REGISTER", f"sip:{REALM}", to=f"<sip:202@{REALM}>",
                                              call_id="x"), challenge, proxy=False))  # fmt: skip
    [response] = thief.inbox()
    assert isinstance(response, Response)
    assert response.status == 403


def test_expiry_bounds_423_and_cap() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"), policy=RegistrarPolicy(min_expires=60, max_expires=900))
    phone = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1")
    short = phone.register(expires=30)
    assert short.status == 423
    assert short.headers.get("Min-Expires") == "60"
    long = phone.register(expires=86400)
    assert long.status == 200
    assert long.headers.get("Contact", ).endswith(";expires=900")  # type: ignore[union-attr]


def test_several_contacts_refresh_and_star_removal() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    desk = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1")
    soft = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.2")
    desk.register()
    both = soft.register()
    assert len(both.headers.get_all("Contact")) == 2
    bench.now += 100
    refreshed = desk.register(expires=600)
    assert sorted(c.split(";expires=")[1] for c in refreshed.headers.get_all("Contact")) == ["500", "600"]
    gone = desk.register(expires=0, contact="*")
    assert gone.status == 200
    assert gone.headers.get_all("Contact") == []
    assert len(bench.core.location) == 0
    assert bench.events[-1].outcome == "unregistered"


def test_single_contact_removal_with_expires_zero() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    desk = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1")
    soft = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.2")
    desk.register()
    soft.register()
    after = desk.register(expires=0)
    assert after.headers.get_all("Contact") == ["<sip:201@10.0.0.2:5060>;expires=600"]


def test_instance_and_reg_id_replace_the_binding_from_a_new_address() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    instance = '"<urn:uuid:00000000-0000-1000-8000-0004f2a1b2c3>"'
    home = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1")
    home.register(contact=f"<sip:201@10.0.0.1:5060>;+sip.instance={instance};reg-id=1",
                  extra="Supported: outbound\n")  # fmt: skip
    moved = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.77")
    ok = moved.register(contact=f"<sip:201@10.0.0.77:5060>;+sip.instance={instance};reg-id=1",
                        extra="Supported: outbound\n")  # fmt: skip
    assert ok.headers.get_all("Contact") == ["<sip:201@10.0.0.77:5060>;expires=600"]
    assert ok.headers.get("Require") == "outbound"
    [binding] = bench.core.location.lookup("201", bench.now)
    assert binding.instance == "<urn:uuid:00000000-0000-1000-8000-0004f2a1b2c3>"
    assert binding.reg_id == 1
    assert binding.flow.remote == ("10.0.0.77", 5060)
    assert [b.contact for b in bench.removed] == ["sip:201@10.0.0.1:5060"]


def test_max_contacts_evicts_the_oldest() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz", max_contacts=2))
    for i in range(3):
        bench.now += 1
        Phone(bench, "201", "s3cret-201-xyz", f"10.0.0.{i + 1}").register()
    hosts = sorted(b.flow.remote[0] for b in bench.core.location.lookup("201", bench.now))
    assert hosts == ["10.0.0.2", "10.0.0.3"]


def test_out_of_order_cseq_is_refused_with_500() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    phone = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1")
    phone.register()
    phone.cseq = 1  # same Call-ID, older CSeq
    assert phone.register().status == 500


def test_expired_bindings_are_not_found_and_are_purged() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1").register(expires=120)
    bench.now += 121
    assert bench.core.location.lookup("201", bench.now) == []
    assert [b.aor for b in bench.core.purge(bench.now)] == ["201"]
    assert len(bench.core.location) == 0


def test_register_is_answered_only_once_the_store_has_it() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    phone = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1")
    phone.send(phone.request("REGISTER", f"sip:{REALM}", to=f"<sip:201@{REALM}>", call_id="d"))
    [challenge] = phone.inbox()
    assert isinstance(challenge, Response)
    bench.hold = True
    phone.send(phone.authorized(phone.request("REGISTER", f"sip:{REALM}", to=f"<sip:201@{REALM}>",
                                              call_id="d"), challenge, proxy=False))  # fmt: skip
    assert phone.inbox() == []
    bench.release()
    [ok] = phone.inbox()
    assert isinstance(ok, Response)
    assert ok.status == 200


def test_a_refresh_is_answered_at_once_and_still_written() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    phone = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1")
    assert phone.register(expires=600).status == 200
    bench.hold = True
    bench.advance(100)
    refreshed = phone.register(expires=600)  # same contact, same flow: only the expiry moves
    assert refreshed.status == 200
    assert bench.held == []
    assert [round(b.expires_at - bench.now) for b in bench.saved] == [500, 600]
    # a NAT rebinding (new source port) moves the binding: that answer waits for the store
    moved = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1", port=5070)
    moved.send(moved.request("REGISTER", f"sip:{REALM}", to=f"<sip:201@{REALM}>", call_id="m",
                             headers="Contact: <sip:201@10.0.0.1:5060>\n"))  # fmt: skip
    [challenge] = moved.inbox()
    assert isinstance(challenge, Response)
    second = moved.request("REGISTER", f"sip:{REALM}", to=f"<sip:201@{REALM}>", call_id="m")
    second = second.replace("Contact: <sip:201@10.0.0.1:5070>", "Contact: <sip:201@10.0.0.1:5060>")
    moved.send(moved.authorized(second, challenge, proxy=False))
    assert moved.inbox() == []
    assert len(bench.held) == 1
    bench.release()
    [ok] = moved.inbox()
    assert isinstance(ok, Response) and ok.status == 200


def test_a_refusal_is_answered_at_once_and_its_event_written() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    bench.hold = True
    intruder = Phone(bench, "201", "wrong-secret-999", "10.0.0.9")
    assert intruder.register().status == 403
    assert bench.held == []
    assert [e.outcome for e in bench.events] == ["refused"]


def test_events_record_new_and_changed_bindings_not_plain_refreshes() -> None:
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    phone = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1")
    phone.register()
    phone.register()  # refresh: same device, same address
    assert [e.outcome for e in bench.events] == ["registered"]
    assert len(bench.saved) == 2  # the refresh still updates the stored binding
    moved = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1", port=5070)
    # same contact, new source port (a NAT rebinding): a refresh
    assert moved.register(contact="<sip:201@10.0.0.1:5060>", call_id="other-1").status == 200
    other = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.2")
    # same contact from another address: worth an event
    assert other.register(contact="<sip:201@10.0.0.1:5060>", call_id="other-2").status == 200
    assert [(e.outcome, e.flow.remote[0]) for e in bench.events] == [
        ("registered", "10.0.0.1"), ("registered", "10.0.0.2")
    ]


def test_the_challenge_is_stateless_and_the_same_for_a_retransmission() -> None:
    """RFC 3261 §8.2.7: the 401 to an unauthenticated REGISTER leaves no transaction behind
    (a flood of them costs no state); a retransmission is challenged again with the same To
    tag, another REGISTER gets another tag; the authorized REGISTER is stateful as before."""
    bench = make_bench(extension("201", "s3cret-201-xyz"))
    phone = Phone(bench, "201", "s3cret-201-xyz", "10.0.0.1")
    endpoint = bench.core.endpoint
    before = endpoint.transactions
    text = phone.request("REGISTER", f"sip:{REALM}", to=f"<sip:201@{REALM}>", call_id="r1")
    phone.send(text)
    [first] = phone.inbox()
    assert isinstance(first, Response) and first.status == 401
    assert endpoint.transactions == before  # answered and forgotten
    phone.send(text)  # the same request again
    [again] = phone.inbox()
    assert isinstance(again, Response) and again.status == 401
    assert again.to.tag == first.to.tag
    other = phone.request("REGISTER", f"sip:{REALM}", to=f"<sip:201@{REALM}>", call_id="r2")
    phone.send(other)
    [third] = phone.inbox()
    assert isinstance(third, Response) and third.status == 401
    assert third.to.tag != first.to.tag
    assert phone.register().status == 200
    assert endpoint.transactions == before + 1  # the authorized REGISTER's, kept for Timer J
