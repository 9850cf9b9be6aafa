"""The typed configuration schema: one tree of frozen dataclasses.

Every key is declared with :func:`~voxgate.config.fields.setting`, which records its default,
bounds or choices and a one-line doc in the field metadata.  The loader (``config/load.py``)
validates a TOML document against these declarations and the configuration reference
(``docs/config-reference.md``) is generated from them, so the code, the validation and the
admin guide cannot disagree.
"""

# setting() and section() wrap dataclasses.field(); ruff only knows field() by name.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args

from voxgate.config.fields import section, setting
from voxgate.policy.devices import DEFAULT_UA_PATTERN

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]
TransportName = Literal["udp", "tcp", "tls"]
TlsVersion = Literal["1.2", "1.3"]
ClientVerification = Literal["none", "optional", "required"]
DigestChoice = Literal["SHA-256 MD5", "MD5", "SHA-256"]

#: Well-known SIP ports (RFC 3261 §19.1.2) used when a listener omits ``port``.
DEFAULT_PORTS: Final[dict[TransportName, int]] = {"udp": 5060, "tcp": 5060, "tls": 5061}

#: Server name / User-Agent value: visible ASCII and spaces, no CR/LF (RFC 3261 §20.35).
SERVER_NAME_PATTERN: Final = r"[\x21-\x7e]([\x20-\x7e]{0,126}[\x21-\x7e])?"
#: Node name: a DNS-label-like word, empty means "the host name".
NODE_NAME_PATTERN: Final = r"([A-Za-z0-9][A-Za-z0-9._-]{0,62})?"


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """This node: where it keeps its state and how it names itself."""

    data_dir: Path = setting(
        Path("."),
        "Data directory (database, keys, certificates); relative to the config file's directory.",
    )
    name: str = setting(
        "",
        "Node name in logs and multi-node status; empty means the host name.",
        max=63,
        pattern=NODE_NAME_PATTERN,
    )


@dataclass(frozen=True, slots=True)
class LogSettings:
    """Structured logging to standard error."""

    level: LogLevel = setting("info", "Lowest level written.", choices=get_args(LogLevel))
    format: LogFormat = setting(
        "text", "text: human readable, key=value context; json: one object per line.",
        choices=get_args(LogFormat),
    )


@dataclass(frozen=True, slots=True)
class Listener:
    """One SIP listening socket; repeat the table for each socket."""

    transport: TransportName = setting(
        "tls", "Transport: udp, tcp or tls (plain udp/tcp should stay off the Internet).",
        choices=get_args(TransportName),
    )
    address: str = setting(
        "0.0.0.0",  # noqa: S104 - a border gateway listens on its WAN address by design
        "Local IPv4 or IPv6 address literal; 0.0.0.0 or :: for all addresses.",
        kind="ip_address",
    )
    port: int | None = setting(
        None,
        "Port; omitted means 5060 for udp/tcp and 5061 for tls; 0 picks a free port.",
        min=0,
        max=65535,
    )
    enabled: bool = setting(True, "Set to false to keep the entry but not listen.")

    @property
    def effective_port(self) -> int:
        """The configured port, or the transport's well-known port when omitted."""
        return DEFAULT_PORTS[self.transport] if self.port is None else self.port


@dataclass(frozen=True, slots=True)
class SipLimits:
    """Parser limits applied to every received SIP message before it is parsed."""

    max_message_size: int = setting(
        65535, "Largest accepted message in bytes (start line, headers and body).",
        min=1024, max=1048576,
    )
    max_headers: int = setting(128, "Most header fields accepted in one message.", min=8, max=1024)
    max_line_length: int = setting(
        8192, "Longest accepted start line or header line in bytes.", min=256, max=1048576,
    )


@dataclass(frozen=True, slots=True)
class SipSettings:
    """SIP signaling: listeners, connection handling and limits."""

    server_name: str = setting(
        "voxgate", "Value of the Server and User-Agent headers we send.",
        max=128, pattern=SERVER_NAME_PATTERN,
    )
    listeners: tuple[Listener, ...] = setting(
        (Listener(transport="tls", address="0.0.0.0", port=5061),),  # noqa: S104
        "Listening sockets; the default is TLS on 0.0.0.0:5061 only.",
    )
    tcp_idle_timeout: int = setting(
        600,
        "Seconds before an idle TCP/TLS connection is closed; must exceed the devices' "
        "keep-alive interval (RFC 5626 suggests 95-120 s).",
        min=10, max=86400,
    )
    keepalive_pong: bool = setting(
        True, "Answer a CRLFCRLF keep-alive ping with a CRLF pong (RFC 5626 §4.4.1).",
    )
    dscp: int = setting(
        24, "DSCP code point of SIP packets (24 = CS3, what IP phones commonly use; RFC 4594 "
        "suggests 40 = CS5); 0 leaves them unmarked.", min=0, max=63,
    )
    max_connections: int = setting(
        10000, "Most simultaneous TCP/TLS connections across all listeners.", min=1, max=1000000,
    )
    limits: SipLimits = section(SipLimits, "Parser limits.")


#: TLS 1.2 cipher suites: forward secrecy and AEAD only (TLS 1.3 suites are not configurable).
DEFAULT_CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20"


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """Server certificate and TLS policy for the tls listeners (SIP over TLS, RFC 3261 §26)."""

    certificate: Path = setting(
        Path("tls/cert.pem"), "Server certificate (PEM); relative to the config file's directory.",
    )
    private_key: Path = setting(
        Path("tls/key.pem"), "Private key (PEM, unencrypted, readable by voxgate only).",
    )
    chain: Path | None = setting(
        None, "Optional intermediate certificates (PEM) sent after the server certificate.",
    )
    min_version: TlsVersion = setting(
        "1.2", "Lowest TLS version accepted.", choices=get_args(TlsVersion),
    )
    ciphers: str = setting(
        DEFAULT_CIPHERS, "OpenSSL cipher string for TLS 1.2 (TLS 1.3 suites are fixed).",
        kind="openssl_ciphers",
    )
    verify_client: ClientVerification = setting(
        "none",
        "Client certificates: none, optional (verified when presented) or required; "
        "optional and required need client_ca.",
        choices=get_args(ClientVerification),
    )
    client_ca: Path | None = setting(
        None, "CA certificates (PEM) that client certificates are verified against.",
    )


#: SIP realm / domain token: a host-name-like word (it is part of every stored HA1).
REALM_PATTERN: Final = r"[A-Za-z0-9]([A-Za-z0-9.-]{0,126}[A-Za-z0-9])?"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """The database every part of the node keeps its state in."""

    url: str = setting(
        "",
        "SQLAlchemy URL; empty means SQLite at <data_dir>/voxgate.db. PostgreSQL: "
        "postgresql+asyncpg://user:password@host/dbname.",
        max=1024,
    )
    secret_key: Path = setting(
        Path("secret.key"),
        "Key file (made by voxgate init, mode 0600) that encrypts reversible secrets at rest; "
        "relative to the config file's directory.",
    )


@dataclass(frozen=True, slots=True)
class PbxSettings:
    """The embedded call control: registrar, calls between extensions, call records."""

    enabled: bool = setting(True, "Run the embedded call control on this node.")
    realm: str = setting(
        "voxgate",
        "Digest realm and SIP domain of the extensions; changing it invalidates every stored "
        "secret (set them again).",
        max=128, pattern=REALM_PATTERN,
    )
    digest_algorithms: DigestChoice = setting(
        "MD5",
        "Digest challenges offered: MD5, SHA-256, or both (SHA-256 first, RFC 8760). Many "
        "clients answer only the first challenge and know only MD5 (baresip 1.0, SIPp 3.6, "
        "older phones), so MD5 is the default; HA1 for both is stored, switching needs no new "
        "secrets.",
        choices=get_args(DigestChoice),
    )
    min_expires: int = setting(
        60, "Shortest registration accepted in seconds (shorter gets 423).", min=10, max=86400,
    )
    max_expires: int = setting(
        3600, "Longest registration granted in seconds (longer is cut down).", min=60,
        max=604800,
    )
    default_expires: int = setting(
        600, "Registration lifetime when the device asks for none.", min=10, max=604800,
    )
    max_contacts: int = setting(
        5, "Registered contacts per extension unless the extension sets its own.", min=1, max=100,
    )
    max_call_duration: int = setting(
        14400, "Seconds after which an answered call is hung up (both sides get a BYE).",
        min=60, max=604800,
    )
    no_answer_timeout: int = setting(
        60, "Seconds a call rings before it is given up as not answered (480).", min=5, max=600,
    )
    listen_address: str = setting(
        "127.0.0.1",
        "With the edge enabled: the address the call control listens on (UDP and TCP) for the "
        "edge; loopback keeps it off the network.",
        kind="ip_address",
    )
    listen_port: int = setting(
        5070, "With the edge enabled: the call control's UDP and TCP port.", min=1, max=65535,
    )
    workers: int = setting(
        1,
        "Processes that answer REGISTERs on the UDP listeners (edge disabled only). With more "
        "than 1, registrar workers share each UDP port (SO_REUSEPORT: the kernel picks one by "
        "the sender's address and port), answer the REGISTERs they receive and pass everything "
        "else to the main process; on a multi-core machine that multiplies the registrations "
        "per second. TCP and TLS stay with the main process. Set it to the number of cores.",
        min=1, max=16,
    )


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    """The border gateway remote devices register with (sip.listeners become its WAN side)."""

    enabled: bool = setting(
        False,
        "Run the edge: remote devices register and call through it as SIP users, and it "
        "registers and calls on their behalf at the call control (voxgate init turns it on).",
    )
    realm: str = setting(
        "voxgate-edge", "Digest realm of the SIP users' (device-side) credentials.",
        max=128, pattern=REALM_PATTERN,
    )
    lan_address: str = setting(
        "127.0.0.1", "The edge's LAN-side address toward the call control.", kind="ip_address",
    )
    lan_port: int = setting(
        0, "The edge's LAN-side port (0 picks a free one); UDP, plus TCP or TLS when "
        "upstream_transport is one of those.", min=0, max=65535,
    )
    upstream_host: str = setting(
        "127.0.0.1",
        "The call control's address (the embedded one listens on pbx.listen_address).",
        kind="ip_address",
    )
    upstream_port: int = setting(
        5070, "The call control's UDP port (the embedded one: pbx.listen_port).", min=1,
        max=65535,
    )
    upstream_transport: TransportName = setting(
        "udp",
        "Transport toward the call control: udp, tcp, or tls (a foreign PBX across a network: "
        "use tls). Over tcp/tls the edge keeps one connection open and reopens it when lost.",
        choices=get_args(TransportName),
    )
    upstream_tls_verify: bool = setting(
        True, "Verify the call control's TLS certificate (upstream_transport = tls).",
    )
    upstream_server_name: str = setting(
        "", "Name the call control's certificate must carry; empty: upstream_host.", max=253,
    )
    upstream_ca: Path | None = setting(
        None, "CA certificates (PEM) that sign the call control's certificate; unset: the "
        "system's.",
    )
    upstream_domain: str = setting(
        "", "Host part of the extensions' addresses at the call control; empty: upstream_host.",
        max=253,
    )
    public_address: str = setting(
        "",
        "DMZ mode: the public (post-NAT) IP address or name devices reach the edge at, used in "
        "Via and Contact toward devices; empty for server-gateway mode (the WAN listener's).",
        max=253, pattern=r"([A-Za-z0-9.:-]{1,253})?",
    )
    public_port: int = setting(
        0, "DMZ mode: the public port, when the firewall maps another one; 0 keeps the "
        "listener's.", min=0, max=65535,
    )
    public_upstream: bool = setting(
        False,
        "DMZ mode: show the public address (with the LAN port) to the call control too, when "
        "it reaches the edge through the firewall rather than on the edge's own address.",
    )
    require_device: bool = setting(
        True,
        "Admit only devices the device table knows and has enabled (AUTH-2); the identity "
        "comes from the TLS certificate, +sip.instance or the User-Agent over TLS only.",
    )
    user_agent_pattern: str = setting(
        DEFAULT_UA_PATTERN,
        "Regular expression whose group mac finds a device's MAC in its User-Agent.",
        max=512,
    )
    udp_max_expires: int = setting(
        120, "Longest registration granted to a device over UDP (keeps its NAT open).",
        min=60, max=3600,
    )
    stream_max_expires: int = setting(
        3600, "Longest registration granted to a device over TCP/TLS.", min=60, max=86400,
    )


MediaEngineName = Literal["builtin", "rtpengine", "none"]
WanSrtpChoice = Literal["mandatory", "optional"]
#: SDES crypto-suites the edge offers devices by default, most preferred first (MEDIA-1).
DEFAULT_SRTP_SUITES: Final = (
    "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM",
    "AEAD_AES_256_GCM",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MediaSettings:
    """The edge's media relay: every remote call's voice flows through it (MEDIA, EDGE-4/5)."""

    engine: MediaEngineName = setting(
        "builtin",
        "builtin: the embedded relay; rtpengine: an rtpengine daemon (rtpengine_address); "
        "none: SDP passes through untouched and media flows directly (no SRTP enforcement: "
        "only where another element relays media).",
        choices=get_args(MediaEngineName),
    )
    wan_address: str = setting(
        "", "Local address of the device-side (WAN) media sockets; empty: the first enabled "
        "SIP listener's (which must then not be 0.0.0.0 or ::).", max=64,
        pattern=r"([0-9A-Fa-f.:]{2,64})?",
    )
    wan_advertised: str = setting(
        "", "Address written into SDP toward devices; empty: edge.public_address (DMZ mode) "
        "when it is an IP address, else wan_address.", max=64, pattern=r"([0-9A-Fa-f.:]{2,64})?",
    )
    lan_address: str = setting(
        "", "Local address of the call-control-side (LAN) media sockets, also written into SDP "
        "toward it; empty: edge.lan_address.", max=64, pattern=r"([0-9A-Fa-f.:]{2,64})?",
    )
    port_min: int = setting(
        20000, "Lowest UDP port of the relay's range (RTP even, RTCP odd).", min=1024, max=65534,
    )
    port_max: int = setting(29999, "Highest UDP port of the relay's range.", min=1025, max=65535)
    wan_srtp: WanSrtpChoice = setting(
        "mandatory",
        "mandatory: devices must use SDES-SRTP (over TLS signaling) and are offered nothing "
        "else; optional: devices may use plain RTP (tests, or a network that encrypts).",
        choices=get_args(WanSrtpChoice),
    )
    lan_srtp: bool = setting(
        False, "SRTP toward the call control (needs edge.upstream_transport = tls); else plain "
        "RTP (MEDIA-3).",
    )
    srtp_suites: tuple[str, ...] = setting(
        DEFAULT_SRTP_SUITES, "SDES crypto-suites offered, most preferred first.", max=8,
    )
    dscp: int = setting(46, "DSCP code point of media packets (46 = EF, RFC 3246).", min=0,
                        max=63)
    idle_timeout: int = setting(
        60, "Seconds without a packet after which a call's media ports close (EDGE-5).",
        min=5, max=86400,
    )
    workers: int = setting(
        0, "Forwarding processes of the built-in relay; 0: one per CPU core.", min=0, max=64,
    )
    rtpengine_address: str = setting(
        "127.0.0.1:2223", "engine = rtpengine: the daemon's ng control address (host:port).",
        max=80, pattern=r"[0-9A-Za-z.:\[\]-]+:[0-9]{1,5}",
    )
    rtpengine_timeout: int = setting(
        3, "Seconds to wait for an rtpengine answer (three tries) before refusing the call.",
        min=1, max=30,
    )


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """Brute-force and flood protection (NET-2) and who is exempt from it."""

    auth_max_failures: int = setting(
        6, "Failed authentications from one source address that lock it out.", min=1, max=1000,
    )
    auth_failure_window: int = setting(
        600, "Seconds within which auth_max_failures failures lock a source out.",
        min=10, max=86400,
    )
    lockout_duration: int = setting(
        1800, "Seconds a locked-out source is ignored (its packets are dropped unanswered).",
        min=10, max=604800,
    )
    request_rate: int = setting(
        20, "SIP messages a second one source address may send on average (more are dropped).",
        min=1, max=100000,
    )
    request_burst: int = setting(
        60, "SIP messages one source may send at once above request_rate (a phone booting).",
        min=1, max=1000000,
    )
    allowlist_only: bool = setting(
        False, "Drop every source that is neither trusted nor in the allow list.",
    )
    trusted_networks: tuple[str, ...] = setting(
        ("127.0.0.0/8", "::1/128"),
        "Netblocks never blocked, locked out or rate-limited (as the allow list), e.g. the "
        "office's public address; loopback carries the edge's own traffic to the call control.",
        max=64, kind="netblock",
    )
    max_tracked_sources: int = setting(
        100000, "Source addresses remembered for failure counts and rates (bounded memory).",
        min=100, max=10000000,
    )


@dataclass(frozen=True, slots=True)
class ProvisioningSettings:
    """The HTTPS server phones fetch their configuration from; with an installer password set
    (voxgate installer set) it enables the phones that present it (AUTH-3)."""

    enabled: bool = setting(
        False, "Serve phone configuration over HTTPS (the tls certificate, as SIP over TLS).",
    )
    address: str = setting(
        "0.0.0.0",  # noqa: S104 - phones reach it from the Internet, like the SIP listeners
        "Local IPv4 or IPv6 address literal; 0.0.0.0 or :: for all addresses.",
        kind="ip_address",
    )
    port: int = setting(8443, "HTTPS port (0 picks a free one).", min=0, max=65535)
    sip_server: str = setting(
        "",
        "Host name or address the served configuration tells phones to register with; empty: "
        "edge.public_address, else the host name the phone fetched its configuration from.",
        max=253, pattern=r"([A-Za-z0-9.:-]{1,253})?",
    )
    max_connections: int = setting(
        1000, "Most simultaneous HTTPS connections (TLS handshakes included).", min=1,
        max=100000,
    )


LockoutPreset = Literal["edge", "call-control"]
#: The lockout presets of ADMIN-3: (failures, window s, lockout s); "call-control" counts
#: consecutive failures (no window: only a successful login clears them).
LOCKOUT_PRESETS: Final[dict[str, tuple[int, int, int]]] = {
    "edge": (6, 600, 1800), "call-control": (3, 0, 900),
}
#: Networks the admin server answers by default: loopback and private (RFC 1918, RFC 4193).
DEFAULT_ADMIN_NETWORKS: Final = (
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """The web administration and its REST API over HTTPS (ADMIN-1…ADMIN-4), reachable from
    the LAN only: connections from outside allowed_networks are closed before TLS."""

    enabled: bool = setting(True, "Serve the web administration (the tls certificate).")
    address: str = setting(
        "0.0.0.0",  # noqa: S104 - reached from the LAN; allowed_networks is the gate
        "Local IPv4 or IPv6 address literal; 0.0.0.0 or :: for all addresses (the LAN "
        "address is better on a two-interface edge).",
        kind="ip_address",
    )
    port: int = setting(8444, "HTTPS port (0 picks a free one).", min=0, max=65535)
    allowed_networks: tuple[str, ...] = setting(
        DEFAULT_ADMIN_NETWORKS,
        "Source netblocks that may connect; any other source is closed before the TLS "
        "handshake. Default: loopback and the private ranges.",
        max=256, kind="netblock",
    )
    lockout: LockoutPreset = setting(
        "edge",
        "Login lockout per client address: edge (6 failures within 10 minutes lock it out "
        "for 30 minutes) or call-control (3 consecutive failures: 15 minutes).",
        choices=get_args(LockoutPreset),
    )
    lockout_max_failures: int = setting(
        0, "Failed logins that lock an address out; 0: the preset's.", min=0, max=1000,
    )
    lockout_window: int = setting(
        -1, "Seconds within which those failures count; 0: consecutive failures (until a "
        "successful login); -1: the preset's.", min=-1, max=86400,
    )
    lockout_duration: int = setting(
        0, "Seconds a locked-out address may not log in; 0: the preset's.", min=0, max=604800,
    )
    session_idle_timeout: int = setting(
        900, "Seconds of inactivity after which a session ends (ADMIN-4).", min=60, max=86400,
    )
    max_sessions: int = setting(50, "Most sessions open at once.", min=1, max=10000)
    max_system_sessions: int = setting(
        5, "Most system administrator sessions open at once.", min=1, max=10000,
    )
    max_group_sessions: int = setting(
        5, "Most group administrator sessions open at once.", min=1, max=10000,
    )
    password_max_age_days: int = setting(
        0, "Days an administrator's password stays valid before it must be changed; 0: "
        "never (an account may set its own).", min=0, max=3650,
    )
    max_connections: int = setting(
        200, "Most simultaneous HTTPS connections (TLS handshakes included).", min=1,
        max=100000,
    )

    @property
    def lockout_rule(self) -> tuple[int, int, int]:
        """(failures, window s — 0 for consecutive, lockout s): the preset with overrides."""
        failures, window, duration = LOCKOUT_PRESETS[self.lockout]
        return (self.lockout_max_failures or failures,
                window if self.lockout_window < 0 else self.lockout_window,
                self.lockout_duration or duration)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration of one node (one TOML file)."""

    node: NodeSettings = section(NodeSettings, "This node.")
    log: LogSettings = section(LogSettings, "Logging.")
    sip: SipSettings = section(SipSettings, "SIP signaling.")
    tls: TlsSettings = section(TlsSettings, "TLS.")
    store: StoreSettings = section(StoreSettings, "Storage.")
    pbx: PbxSettings = section(PbxSettings, "Embedded call control.")
    security: SecuritySettings = section(SecuritySettings, "Brute-force and flood protection.")
    edge: EdgeSettings = section(EdgeSettings, "The border gateway for remote devices.")
    media: MediaSettings = section(MediaSettings, "The edge's media relay.")
    provisioning: ProvisioningSettings = section(
        ProvisioningSettings, "Phone provisioning over HTTPS and the installer password.",
    )
    admin: AdminSettings = section(AdminSettings, "The web administration (HTTPS, LAN only).")

    @property
    def store_url(self) -> str:
        """The database URL, SQLite in the data directory when none is set."""
        return self.store.url or f"sqlite+aiosqlite:///{self.node.data_dir / 'voxgate.db'}"

    @property
    def enabled_listeners(self) -> tuple[Listener, ...]:
        """The listeners that will be opened."""
        return tuple(listener for listener in self.sip.listeners if listener.enabled)
