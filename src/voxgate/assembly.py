"""The parts of a node built from its settings, for :mod:`voxgate.app`: the call control's
core, the admission gate of ``[security]``, the key that signs digest nonces, the SIP user
service of the web API."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from voxgate.config.schema import SecuritySettings, Settings
from voxgate.pbx.callstate import CallPolicy, CallRecord
from voxgate.pbx.core import PbxCore
from voxgate.pbx.directory import Directory
from voxgate.pbx.registrar import RegistrarPolicy
from voxgate.policy.admission import GatePolicy, SourceGate
from voxgate.policy.netblocks import NetblockSet
from voxgate.policy.throttle import LockoutPolicy, RatePolicy
from voxgate.sip.digest import ALGORITHMS, DigestServer
from voxgate.sip.endpoint import Endpoint, EndpointConfig
from voxgate.sip.parser import Limits

if TYPE_CHECKING:
    from voxgate.services.sipusers import SipUserService
    from voxgate.storage.engine import Store

log = logging.getLogger(__name__)


def sip_limits(settings: Settings) -> Limits:
    """The parser's limits of ``sip.limits``."""
    limits = settings.sip.limits
    return Limits(limits.max_message_size, limits.max_headers, limits.max_line_length)


def endpoint(settings: Settings) -> Endpoint:
    """A SIP endpoint with the node's limits and server name."""
    return Endpoint(EndpointConfig(limits=sip_limits(settings),
                                   server_name=settings.sip.server_name))  # fmt: skip


def pbx_core(settings: Settings, endpoint: Endpoint, *, worker: int | None = None) -> PbxCore:
    """The call control's core; ``worker``: this process's number when there are several
    (``pbx.workers``), written into the nonces it issues."""
    pbx = settings.pbx
    return PbxCore(
        endpoint,
        digest=digest_server(settings, pbx.realm, worker=worker),
        directory=Directory(),
        records=_unstarted,
        registrar_policy=RegistrarPolicy(
            min_expires=pbx.min_expires, max_expires=pbx.max_expires,
            default_expires=pbx.default_expires, max_contacts=pbx.max_contacts,
        ),
        call_policy=CallPolicy(
            no_answer_timeout=float(pbx.no_answer_timeout),
            max_call_duration=float(pbx.max_call_duration),
            server_name=settings.sip.server_name,
        ),
    )  # fmt: skip


def admin_sipusers(settings: Settings, store: Store) -> SipUserService | None:
    """The SIP user service (and its extensions) of the web API, as the CLI builds it;
    ``None`` without a readable key file (the API then leaves those routes out)."""
    from voxgate.services.sipusers import SipUserService  # noqa: PLC0415 - with the admin
    from voxgate.storage.secretbox import SecretBoxError, read_key_file  # noqa: PLC0415

    try:
        key = read_key_file(settings.store.secret_key)
    except SecretBoxError as err:
        log.warning("admin: no SIP users or extensions in the web API: %s", err)
        return None
    return SipUserService(store, settings.edge.realm, key, pbx_realm=settings.pbx.realm)


def source_gate(security: SecuritySettings, also_trusted: tuple[str, ...] = ()) -> SourceGate:
    """The admission gate of ``[security]``: lockouts, rates, trusted networks (and the
    ``also_trusted`` addresses, e.g. the edge's LAN address at the call control)."""
    tracked = security.max_tracked_sources
    policy = GatePolicy(
        lockout=LockoutPolicy(
            max_failures=security.auth_max_failures, window=float(security.auth_failure_window),
            lockout=float(security.lockout_duration), max_tracked=tracked, max_locked=tracked,
        ),
        rate=RatePolicy(rate=float(security.request_rate), burst=float(security.request_burst),
                        max_tracked=tracked),
        allowlist_only=security.allowlist_only,
    )  # fmt: skip
    trusted = NetblockSet(
        [(ipaddress.ip_network(text), "trusted networks") for text in security.trusted_networks]
        + [(ipaddress.ip_network(address), "the edge") for address in also_trusted]
    )
    return SourceGate(policy, trusted)


def _unstarted(record: CallRecord, then: Callable[[float], None]) -> None:
    del then
    raise RuntimeError(f"the call control's store is not started (call {record.call_id})")


def digest_server(settings: Settings, realm: str, *, worker: int | None = None) -> DigestServer:
    """The digest authentication of ``realm`` (the call control's or the edge's), with the
    node's nonce key and the algorithms of ``pbx.digest_algorithms``."""
    offered = settings.pbx.digest_algorithms.split()
    return DigestServer(nonce_key(settings), realm,
                        algorithms=tuple(a for a in ALGORITHMS if a in offered),
                        worker=worker)  # fmt: skip


def nonce_key(settings: Settings) -> bytes:
    """The key that signs digest nonces: derived from the node's secret key file when there
    is one (every node sharing it accepts the others' nonces), else random per process."""
    path = settings.store.secret_key
    try:
        secret = path.read_bytes()
    except OSError:
        log.warning("no secret key at %s: digest nonces signed with a per-process key", path)
        return secrets.token_bytes(32)
    return hmac.new(secret, b"voxgate digest nonces", hashlib.sha256).digest()


def pbx_commit_lock(settings: Settings) -> Path | None:
    """The lock file the call control's writers take around each commit when several
    processes write one SQLite file (``pbx.workers`` > 1), else ``None``."""
    if settings.pbx.workers > 1 and settings.store_url.startswith("sqlite"):
        return settings.node.data_dir / "pbx-commit.lock"
    return None
