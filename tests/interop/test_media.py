"""The edge's media relay with real phones and real audio (issue 5): MEDIA-1…4, EDGE-4, EDGE-5.

The lab of tests/interop/test_edge_nat.py: alice (a remote SIP user, baresip with
``mediaenc=srtp-mand``) behind a masquerading router, bob on the LAN registered with the call
control directly. Each phone plays its own tone from a WAV file and records what it hears:

    home 10.231.1.2 ── router 10.231.0.2 ── 10.231.0.1 server 10.231.50.1 ── 10.231.50.2 lan
      alice (SRTP)          (NAT)          "down": WAN link     "lan": LAN link    bob (RTP)

tshark in the server namespace captures the WAN link ("down") and the LAN link ("lan"): on
the WAN side the relay's ports carry only SRTP (the tones' G.711 never appears), on the LAN
side plain RTP carrying both tones (``media.lan_srtp = false``). The attack test sends
replayed, tampered and random packets to alice's relay port during a call; they are counted
and dropped while the audio goes on; after the call nothing answers on the relay's ports.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from admin_page import add_watcher, admin_address, fetch_page, section_text
from audio import (
    Tone,
    analyse_wav,
    capture,
    rtp_packets,
    rtp_streams,
    stream_tone_seconds,
    udp_filter,
    write_tone,
)
from netnode import SERVER, TLS_PORT
from netns import Namespace, Topology
from peers import Node, free_port, import_extensions, running_node, voxgate
from phones import Baresip, account
from test_edge_nat import LAN_PHONE, LAN_SERVER, PBX_PORT, UUID, EdgeLab, build_lab, log_entries

pytestmark = pytest.mark.interop

TONES = {"alice": 700.0, "bob": 1100.0}
TALK_SECONDS = 5
MEDIA_PORTS = (30000, 30999)


def media_config(workers: int = 1) -> str:
    return (
        f'\n[media]\nengine = "builtin"\nwan_address = "{SERVER}"\nworkers = {workers}\n'
        f"port_min = {MEDIA_PORTS[0]}\nport_max = {MEDIA_PORTS[1]}\n"
    )


def alice(lab: EdgeLab, tmp_path: Path, *, rtcp_mux: bool = False) -> Baresip:
    edge = f"sip:{lab.edge_host}:{lab.edge_port};transport=tls"
    aor = f"<sip:alice@{lab.edge_host}:{lab.edge_port};transport=tls>"
    return Baresip(
        "alice", lab.home_ip,
        account(aor, lab.alice_password, mediaenc="srtp-mand",
                params=f'sipnat=outbound;outbound="{edge}"'),
        lab.ca, tmp_path, uuid=UUID, netns=lab.home,
        play=write_tone(tmp_path / "alice.wav", TONES["alice"], TALK_SECONDS + 5),
        record=tmp_path / "rec-alice", rtcp_mux=rtcp_mux,
    )  # fmt: skip


def bob(lab: EdgeLab, tmp_path: Path) -> Baresip:
    return Baresip(
        "bob", LAN_PHONE, account(f"<sip:202@{LAN_SERVER}:{PBX_PORT}>", lab.bob_secret),
        lab.ca, tmp_path, netns=lab.lan,
        play=write_tone(tmp_path / "bob.wav", TONES["bob"], TALK_SECONDS + 5),
        record=tmp_path / "rec-bob",
    )  # fmt: skip


def heard(phone: Baresip) -> Tone:
    found = analyse_wav(phone.received())
    assert found is not None, f"{phone.name} recorded no tone in {phone.received()}"
    return found


def assert_each_heard_the_other(a: Baresip, b: Baresip, seconds: float) -> None:
    for listener, talker in ((a, b), (b, a)):
        found = heard(listener)
        assert found.frequency == pytest.approx(TONES[talker.name], abs=3), (listener.name, found)
        assert found.seconds >= seconds, (listener.name, found)


def media_ended(node: Node) -> list[dict[str, object]]:
    """The 'media of call … ended' log entries' counters, oldest first."""
    deadline = time.monotonic() + 10
    while True:
        entries = [e["media"] for e in log_entries(node) if "media" in e]
        if entries or time.monotonic() > deadline:
            return entries  # type: ignore[return-value]
        time.sleep(0.1)


def nothing_answers(ns: Namespace, host: str, ports: list[int]) -> list[int]:
    """The ports of ``host`` that do *not* answer a UDP datagram with ICMP port unreachable
    (from inside ``ns``): a closed port refuses, an open one stays silent."""
    script = (
        "import socket, sys\n"
        "open_ports = []\n"
        f"for port in {ports!r}:\n"
        "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)\n"
        f"    s.connect(({host!r}, port)); s.send(b'probe')\n"
        "    try:\n        s.recv(10)\n    except ConnectionRefusedError:\n        continue\n"
        "    except TimeoutError:\n        open_ports.append(port)\n"
        "print(open_ports)\n"
    )
    return json.loads(ns.run("python3", "-c", script).strip() or "[]")


def call(lab: EdgeLab, tmp_path: Path, *, during=None, rtcp_mux: bool = False  # type: ignore[no-untyped-def]
         ) -> tuple[Baresip, Baresip, Path, Path]:  # fmt: skip
    """Alice calls bob through the edge; both talk for TALK_SECONDS while the WAN and LAN links
    are captured (``during(lab, wan_pcap, alice)`` runs mid-call); bob hangs up."""
    wan_pcap, lan_pcap = tmp_path / "wan.pcap", tmp_path / "lan.pcap"
    media = udp_filter(ports=[MEDIA_PORTS])
    with alice(lab, tmp_path, rtcp_mux=rtcp_mux) as a, bob(lab, tmp_path) as b:
        a.wait_registered()
        b.wait_registered()
        wan_filter = f"({media}) or (tcp port {TLS_PORT})"  # media, and signaling's DSCP
        with capture(wan_pcap, wan_filter, interface="down", netns=lab.server,
                     marker=("10.231.0.2", free_port())), \
             capture(lan_pcap, media, interface="lan", netns=lab.server,
                     marker=(LAN_PHONE, free_port())):  # fmt: skip
            a.command("dial", f"sip:202@{lab.edge_host}:{lab.edge_port};transport=tls")
            a.wait_event("CALL_ESTABLISHED")
            b.wait_event("CALL_ESTABLISHED")
            time.sleep(TALK_SECONDS / 2)
            if during is not None:
                during(lab, wan_pcap, a)
            time.sleep(TALK_SECONDS / 2)
            b.command("hangup")
            b.wait_event("CALL_CLOSED")
            a.wait_event("CALL_CLOSED")
    return a, b, wan_pcap, lan_pcap


def cdr_with_media(node: Node) -> dict[str, str]:
    """The one call record, once the edge has stored its media counters (within seconds)."""
    deadline = time.monotonic() + 15
    while True:
        rows = list(csv.DictReader(io.StringIO(voxgate(node, "cdr", "export").stdout)))
        if (rows and rows[-1]["wan_packets"]) or time.monotonic() > deadline:
            assert len(rows) == 1, rows
            return rows[0]
        time.sleep(0.5)


def dscp_of(pcap: Path, display_filter: str) -> set[int]:
    """The DSCP values of the packets of ``pcap`` that match ``display_filter``."""
    done = subprocess.run(["tshark", "-n", "-r", str(pcap), "-Y", display_filter, "-T", "fields",
                           "-e", "ip.dsfield.dscp"], capture_output=True, text=True, check=True)  # fmt: skip
    return {int(v, 0) for v in done.stdout.split()}


def relay_ports(pcap: Path, relay_host: str) -> set[int]:
    """The relay's ports seen in a capture (the side of each packet that is the relay)."""
    ports = set()
    for packet in rtp_packets(pcap, decode_ports=[MEDIA_PORTS]):
        for endpoint in (packet.source, packet.destination):
            host, _, port = endpoint.rpartition(":")
            if host == relay_host:
                ports.add(int(port))
    return ports


@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "two-workers"])
def test_srtp_on_the_wan_plain_rtp_on_the_lan_and_the_tones_arrive(
    netns: Topology, tmp_path: Path, workers: int
) -> None:
    lab = build_lab(netns, tmp_path, extra=media_config(workers))
    watcher, admin = add_watcher(lab.node), admin_address(lab.node)
    dashboard: list[str] = []

    def look(lab: EdgeLab, wan_pcap: Path, caller: Baresip) -> None:  # mid-call
        del wan_pcap, caller
        page = fetch_page(lab.server, admin, watcher)
        dashboard.append(section_text(page, "Active calls"))

    a, b, wan, lan = call(lab, tmp_path, during=look)
    assert_each_heard_the_other(a, b, TALK_SECONDS - 2)

    # ADMIN-5: the dashboard listed the call under way, through the edge with the relay's
    # counters for both sides, and through the call control
    [active] = dashboard
    assert "Active calls (2)" in active, active
    [edge] = [line for line in active.splitlines() if " edge " in f" {line} "]
    assert re.search(r"\balice\s+202\s+connected\b", edge), edge
    assert f"{lab.public_ip}:" in edge, edge  # the device's address: alice's NAT
    for side in ("WAN", "LAN"):
        packets = re.search(side + r"\s+([\d,]+) ·", edge)
        assert packets and int(packets.group(1).replace(",", "")) >= 50, edge  # > 1 s of voice
    [pbx] = [line for line in active.splitlines() if "call control" in line]
    assert re.search(r"\b201\s+202\s+connected\b", pbx), pbx

    # the WAN link: SRTP between the NAT's public address and the relay, both ways; neither
    # tone's G.711 is in any payload
    streams = rtp_streams(wan, decode_ports=[MEDIA_PORTS])
    toward = {(s.source.split(":")[0], s.destination.split(":")[0]) for s in streams}
    assert toward == {(lab.public_ip, SERVER), (SERVER, lab.public_ip)}, streams
    for stream in streams:
        assert stream.packets >= (TALK_SECONDS - 2) * 50, stream
        for tone in TONES.values():
            for codec in ("PCMU", "PCMA"):
                assert stream_tone_seconds(stream, tone, codec) == 0, (stream, tone, codec)

    # the LAN link: plain PCMU between the relay's LAN address and bob, carrying both tones
    streams = rtp_streams(lan, decode_ports=[MEDIA_PORTS])
    to_bob = [s for s in streams if s.destination.startswith(f"{LAN_PHONE}:")]
    from_bob = [s for s in streams if s.source.startswith(f"{LAN_PHONE}:")]
    assert len(to_bob) == len(from_bob) == 1, streams
    assert to_bob[0].source.startswith(f"{LAN_SERVER}:") and from_bob[0].destination.startswith(f"{LAN_SERVER}:")
    assert stream_tone_seconds(to_bob[0], TONES["alice"]) >= TALK_SECONDS - 2
    assert stream_tone_seconds(from_bob[0], TONES["bob"]) >= TALK_SECONDS - 2

    # the relay's counters: alice's media authenticated and forwarded. A few packets are
    # dropped at the start: baresip sends a 16-byte datagram to the RTCP port to open its NAT
    # (too short to be SRTCP: dropped as failing authentication), and a phone's first packets
    # can reach the relay before the answer has configured the pair (dropped, not forwarded)
    [ended] = media_ended(lab.node)
    shown = json.dumps(ended)
    for side in ("wan", "lan"):
        counters = ended[side]
        assert counters["packets"] >= (TALK_SECONDS - 2) * 50, shown  # type: ignore[index]
        assert counters["dropped_auth"] + counters["dropped_source"] <= 3, shown  # type: ignore[index]
        assert counters["forwarded"] >= counters["packets"] - 3, shown  # type: ignore[index]
    assert ended["wan"]["source"].startswith(lab.public_ip + ":"), shown  # type: ignore[index, union-attr]

    # the call record carries the media counters (the edge stores them, the export joins them)
    record = cdr_with_media(lab.node)
    assert (record["caller"], record["callee"], record["disposition"]) == ("201", "202", "answered")
    assert int(record["wan_packets"]) == ended["wan"]["packets"], (record, shown)  # type: ignore[index]
    assert int(record["lan_packets"]) == ended["lan"]["packets"], (record, shown)  # type: ignore[index]

    # EDGE-4: voice leaves the relay marked EF (46), signaling CS3 (24), both configurable
    relayed = f"udp.srcport >= {MEDIA_PORTS[0]} && udp.srcport <= {MEDIA_PORTS[1]}"
    assert dscp_of(wan, f"ip.src == {SERVER} && {relayed}") == {46}
    assert dscp_of(wan, f"ip.src == {SERVER} && tcp.srcport == {TLS_PORT} && tcp.len > 0") == {24}

    # EDGE-5: after the call nothing answers on the ports the call used
    ports = sorted(relay_ports(wan, SERVER))
    assert ports and nothing_answers(lab.home, SERVER, ports) == []


def test_rtcp_mux_on_the_wan_leg_and_separate_rtcp_on_the_lan(netns: Topology, tmp_path: Path
                                                              ) -> None:  # fmt: skip
    """alice offers a=rtcp-mux (RFC 5761) and the relay accepts it on her leg: her RTP and
    SRTCP share one port pair on the WAN link; bob (no mux) keeps RTCP on RTP + 1 on the LAN;
    the relay carries RTCP both ways and the tones arrive."""
    lab = build_lab(netns, tmp_path, extra=media_config())
    a, b, wan, lan = call(lab, tmp_path, rtcp_mux=True)
    assert_each_heard_the_other(a, b, TALK_SECONDS - 2)
    relay = relay_ports(wan, SERVER)
    assert len(relay) == 1, relay  # RTP and RTCP on the one relay port facing alice
    flows = udp_flows(wan, f"udp && ip.src == {lab.public_ip}")
    assert {dst for _, dst in flows} == {f"{SERVER}:{next(iter(relay))}"}, flows
    assert len({src for src, _ in flows}) == 1, flows  # and one port of alice's NAT mapping
    lan_flows = udp_flows(lan, f"ip.src == {LAN_PHONE} && udp.dstport >= {MEDIA_PORTS[0]} "
                               f"&& udp.dstport <= {MEDIA_PORTS[1]}")  # fmt: skip
    ports = sorted({int(dst.rpartition(":")[2]) for _, dst in lan_flows})
    assert len(ports) == 2 and ports[1] == ports[0] + 1, lan_flows  # RTP and RTCP on the LAN
    # the relay's RTCP reached alice (SRTCP on the muxed port) and bob (plain on RTP + 1)
    to_bob_rtcp = udp_flows(lan, f"ip.dst == {LAN_PHONE} && rtcp", decode=True)
    assert to_bob_rtcp, "no RTCP relayed to bob"


def test_dtmf_as_telephone_events_crosses_the_relay(netns: Topology, tmp_path: Path) -> None:
    """alice presses 1, 5 and # during the call: baresip sends RFC 4733 telephone-events
    (SRTP on the WAN leg); the relay passes the payload type through untouched (MEDIA-4) and
    bob's phone reports each key."""
    lab = build_lab(netns, tmp_path, extra=media_config())

    def press(lab: EdgeLab, wan_pcap: Path, caller: Baresip) -> None:
        del lab, wan_pcap
        for key in "15#":
            caller.command("sndcode", key)
            time.sleep(0.3)
            caller.command("sndcode", "\x00")  # key released (baresip's "no key")
            time.sleep(0.2)

    _, b, _, lan = call(lab, tmp_path, during=press)
    keys = [e.get("param") for e in b.events if e.get("type") == "CALL_DTMF_START"]
    assert keys == ["1", "5", "#"], b.events
    events = [p for p in rtp_packets(lan, decode_ports=[MEDIA_PORTS])
              if p.destination.startswith(f"{LAN_PHONE}:") and p.payload_type == 101]
    assert events, "no telephone-event packets reached bob"


def udp_flows(pcap: Path, display_filter: str, *, decode: bool = False) -> set[tuple[str, str]]:
    """(source, destination) host:port pairs of the UDP packets matching ``display_filter``."""
    command = ["tshark", "-n", "-r", str(pcap)]
    if decode:
        command += ["-d", f"udp.port=={MEDIA_PORTS[0]}-{MEDIA_PORTS[1]},rtp"]
    command += ["-Y", display_filter, "-T", "fields",
                "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    flows = set()
    for line in done.stdout.splitlines():
        src, sport, dst, dport = line.split("\t")
        flows.add((f"{src}:{sport}", f"{dst}:{dport}"))
    return flows


def start_rtpengine(server: Namespace, log: Path) -> None:
    """rtpengine in the server namespace: interfaces wan (the WAN link) and lan (the LAN
    link), userspace forwarding, ng on the namespace's own 127.0.0.1:2223; it is stopped with
    the namespaces."""
    out = log.open("wb")
    server.popen([
        "/usr/bin/rtpengine", "--config-file=none", "--table=-1", "--foreground", "--log-stderr",
        "--log-level=6", f"--interface=wan/{SERVER}", f"--interface=lan/{LAN_SERVER}",
        "--listen-ng=127.0.0.1:2223", f"--port-min={MEDIA_PORTS[0]}",
        f"--port-max={MEDIA_PORTS[1]}",
    ], stdout=out, stderr=out)  # fmt: skip
    deadline = time.monotonic() + 15
    while b"Startup complete" not in log.read_bytes():
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.05)


def test_the_same_call_through_an_rtpengine_daemon(netns: Topology, tmp_path: Path) -> None:
    """``media.engine = rtpengine``: the edge drives a real rtpengine over ng; the tones
    arrive both ways, SRTP on the WAN link, plain RTP on the LAN."""
    if not Path("/usr/bin/rtpengine").exists():
        pytest.fail("rtpengine is not installed: ./test installs Debian's rtpengine-daemon")
    extra = '\n[media]\nengine = "rtpengine"\nrtpengine_address = "127.0.0.1:2223"\n'
    lab = build_lab(netns, tmp_path, extra=extra,
                    before_node=lambda server: start_rtpengine(server, tmp_path / "rtpengine.log"))
    a, b, wan, lan = call(lab, tmp_path)
    assert_each_heard_the_other(a, b, TALK_SECONDS - 2)
    wan_streams = rtp_streams(wan, decode_ports=[MEDIA_PORTS])
    toward = {(s.source.split(":")[0], s.destination.split(":")[0]) for s in wan_streams}
    assert toward == {(lab.public_ip, SERVER), (SERVER, lab.public_ip)}, wan_streams
    for stream in wan_streams:
        assert stream.packets >= (TALK_SECONDS - 2) * 50, stream
        for tone in TONES.values():
            assert stream_tone_seconds(stream, tone, "PCMU") == 0, stream
    lan_streams = rtp_streams(lan, decode_ports=[MEDIA_PORTS])
    to_bob = [s for s in lan_streams if s.destination.startswith(f"{LAN_PHONE}:")]
    assert len(to_bob) == 1 and stream_tone_seconds(to_bob[0], TONES["alice"]) >= TALK_SECONDS - 2
    assert "media relay: rtpengine at 127.0.0.1:2223" in lab.node.log_text()


def test_replayed_tampered_and_random_packets_are_dropped_while_the_call_goes_on(
    netns: Topology, tmp_path: Path
) -> None:
    lab = build_lab(netns, tmp_path, extra=media_config())
    injected = {"replayed": 0, "tampered": 0, "random": 0}
    alice_source: list[str] = []

    def attack(lab: EdgeLab, wan_pcap: Path, caller: Baresip) -> None:
        del caller
        # alice's SRTP packets so far, as the WAN link carried them (ciphertext + tag)
        mine = [p for p in rtp_packets(wan_pcap, decode_ports=[MEDIA_PORTS])
                if p.source.startswith(lab.public_ip + ":")][:100]  # fmt: skip
        assert len(mine) >= 50, mine
        port = int(mine[0].destination.rpartition(":")[2])
        alice_source.append(mine[0].source)
        packets = [_raw(p) for p in mine]
        tampered = [p[:-1] + bytes([p[-1] ^ 0x55]) for p in packets]
        random_stream = [bytes([0x80, 0x00]) + bytes.fromhex(f"{n:04x}") + bytes(8) +
                         bytes(range(160)) for n in range(100)]  # fmt: skip
        injected.update(replayed=len(packets), tampered=len(tampered), random=len(random_stream))
        # from the router (alice's public address, another port): the relay must neither
        # forward them nor move its latch
        router = next(ns for ns in netns.namespaces if ns.role == "router")
        _send_all(router, port, packets + tampered + random_stream)

    a, b, _, lan = call(lab, tmp_path, during=attack)
    assert_each_heard_the_other(a, b, TALK_SECONDS - 2)
    # nothing injected reached the LAN: bob got exactly alice's stream, no payload twice
    to_bob = [s for s in rtp_streams(lan, decode_ports=[MEDIA_PORTS])
              if s.destination.startswith(f"{LAN_PHONE}:")]  # fmt: skip
    assert len(to_bob) == 1 and to_bob[0].duplicates == 0, to_bob
    [ended] = media_ended(lab.node)
    wan = ended["wan"]
    total = sum(injected.values())
    assert wan["dropped_auth"] + wan["dropped_source"] >= total, (wan, injected)  # type: ignore[operator]
    # the latch stayed on alice's NAT mapping: the attacker (the same public address, another
    # port) never authenticated
    assert wan["source"] == alice_source[0], (wan, alice_source)


def _raw(packet) -> bytes:  # type: ignore[no-untyped-def]
    """An RTP packet rebuilt from tshark's fields (header without CSRCs or extension, then
    payload and tag as captured)."""
    header = bytes([0x80, packet.payload_type]) + packet.sequence.to_bytes(2, "big") + \
        packet.timestamp.to_bytes(4, "big") + packet.ssrc.to_bytes(4, "big")  # fmt: skip
    return header + packet.payload


def _send_all(router: Namespace, port: int, packets: list[bytes]) -> None:
    """Send the packets to the relay's WAN port from the router namespace."""
    hexes = [p.hex() for p in packets]
    router.run("python3", "-c",
               "import socket, sys, json, time\n"
               "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
               f"for h in json.loads(sys.stdin.read()):\n"
               f"    s.sendto(bytes.fromhex(h), ({SERVER!r}, {port})); time.sleep(0.002)\n",
               stdin=json.dumps(hexes))  # fmt: skip


def test_srtp_on_both_legs_with_a_call_control_over_tls(tmp_path: Path) -> None:
    """MEDIA-3 with ``media.lan_srtp = true``: the edge fronts a separate call control over
    verified TLS; alice (remote) and bob (registered at the call control over TLS) both insist
    on SRTP. The relay decrypts alice's media and re-encrypts it with its own keys toward the
    call control's side (and back): on loopback neither leg carries a tone in clear, and both
    phones hear each other."""
    mac = "0004f2a1b2c3"
    with running_node(tmp_path / "pbx", "[edge]\nenabled = false\n") as pbx:
        pbx_secret = "Pbx-Side-Secret-42"
        import_extensions(pbx, tmp_path, [("201", pbx_secret), ("202", "Hx4-rMn8-Pq2v")])
        extra = (
            "[pbx]\nenabled = false\n\n"
            f'[edge]\nenabled = true\nupstream_port = {pbx.tls}\nupstream_transport = "tls"\n'
            f'upstream_ca = "{pbx.data_dir / "tls" / "cert.pem"}"\n\n'
            '[media]\nengine = "builtin"\nwan_address = "127.0.0.1"\nlan_srtp = true\n'
            "workers = 1\nport_min = 61000\nport_max = 61999\n"
        )
        with running_node(tmp_path / "edge", extra) as edge:
            counts = edge.log_text().count("SIP users loaded"), edge.log_text().count("device table loaded")
            device_password = "Dev1ce-Secret-9qkz"
            done = voxgate(edge, "sipuser", "add", "alice", "--extension", "201", "--password",
                           device_password, "--upstream-secret", pbx_secret)  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            assert voxgate(edge, "device", "add", mac, "--enable").returncode == 0
            deadline = time.monotonic() + 15
            while (edge.log_text().count("SIP users loaded") <= counts[0]
                   or edge.log_text().count("device table loaded") <= counts[1]):  # fmt: skip
                assert time.monotonic() < deadline, edge.log_text()[-3000:]
                time.sleep(0.05)
            outbound = f"sip:127.0.0.1:{edge.tls};transport=tls"
            remote = Baresip(
                "alice", "127.0.0.51",
                account(f"<sip:alice@127.0.0.1:{edge.tls};transport=tls>", device_password,
                        mediaenc="srtp-mand", params=f'sipnat=outbound;outbound="{outbound}"'),
                edge.data_dir / "tls" / "cert.pem", tmp_path, uuid=UUID,
                play=write_tone(tmp_path / "alice.wav", TONES["alice"], TALK_SECONDS + 5),
                record=tmp_path / "rec-alice",
            )  # fmt: skip
            # bob at 127.0.0.1: baresip sends its RTP from 0.0.0.0-bound sockets, i.e. from
            # 127.0.0.1 on loopback, and the relay takes the call control's side only from the
            # address its SDP names (it latches on the devices' side only)
            local = Baresip(
                "bob", "127.0.0.1",
                account(f"<sip:202@127.0.0.1:{pbx.tls};transport=tls>", "Hx4-rMn8-Pq2v",
                        mediaenc="srtp-mand"),
                pbx.data_dir / "tls" / "cert.pem", tmp_path,
                play=write_tone(tmp_path / "bob.wav", TONES["bob"], TALK_SECONDS + 5),
                record=tmp_path / "rec-bob",
            )  # fmt: skip
            with remote as a, local as b:
                a.wait_registered()
                b.wait_registered()
                assert a.rtp_ports is not None and b.rtp_ports is not None
                ports = udp_filter(ports=[a.rtp_ports, b.rtp_ports])
                with capture(tmp_path / "legs.pcap", ports) as pcap:
                    a.command("dial", f"sip:202@127.0.0.1:{edge.tls};transport=tls")
                    a.wait_event("CALL_ESTABLISHED")
                    b.wait_event("CALL_ESTABLISHED")
                    time.sleep(TALK_SECONDS)
                    b.command("hangup")
                    b.wait_event("CALL_CLOSED")
                    a.wait_event("CALL_CLOSED")
            assert_each_heard_the_other(a, b, TALK_SECONDS - 2)
            streams = rtp_streams(pcap, decode_ports=[a.rtp_ports, b.rtp_ports])
            # both legs: the phone's own ports on one end, the relay's on the other
            relay_ports = set(range(61000, 62000))
            legs = {"alice": 0, "bob": 0}
            for stream in streams:
                ends = [int(e.rpartition(":")[2]) for e in (stream.source, stream.destination)]
                assert any(port in relay_ports for port in ends), stream  # nothing bypasses it
                name = "alice" if any(a.rtp_ports[0] <= p <= a.rtp_ports[1] for p in ends) else "bob"
                # (before alice's first packet latches her, the relay sends to her SDP address,
                # 127.0.0.51, while her packets come from 127.0.0.1: a stream of a packet or two)
                if stream.packets >= (TALK_SECONDS - 2) * 50:
                    legs[name] += 1
                for tone in TONES.values():
                    for codec in ("PCMU", "PCMA"):
                        assert stream_tone_seconds(stream, tone, codec) == 0, (stream, tone)
            assert legs == {"alice": 2, "bob": 2}, streams
