"""The installer password (AUTH-3): one password that lets whoever rolls out phones enable
them without an administrator, by answering the phone's first provisioning request.

**Storage.**  Only a slow, salted hash is stored (``scrypt$N$r$p$salt$hash``, RFC 7914,
from the standard library's ``hashlib.scrypt``: memory-hard, no extra native dependency;
the parameters travel with the hash so they can be raised, or the scheme changed, later).
It sits in one row of the ``meta`` table with when and by whom it was set.  Strength
rules as for SIP secrets (:mod:`voxgate.services.secrets_policy`).

**Checking** costs 0.1 to 0.2 s of CPU and 32 MiB, so it runs in a worker thread, at most
:data:`PARALLEL_CHECKS` at a time, and a password that was checked right is remembered (as
an HMAC under a per-process key, for the stored hash it matched) so that a fleet fetching
several files each does not pay for it again.

**Which devices the installer may enable** (:func:`installer_may_enable`): an unknown
device, and a disabled one that only the edge has put in the table (learned, untouched
since).  A device an administrator has added, imported, enabled, disabled or described
belongs to the administrator: the installer password never enables it.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from voxgate.policy.devices import IdentitySource, format_mac
from voxgate.services.audit import Actor, AuditLog
from voxgate.services.devices import ADMIN, DeviceService, check_mac
from voxgate.services.secrets_policy import generate_secret, weakness
from voxgate.storage.engine import Store
from voxgate.storage.repos.devices import DeviceRecord
from voxgate.storage.repos.installer import InstallerRecord, InstallerRepo

#: The user name phones (and installers) give with the installer password.
USERNAME: Final = "installer"
#: scrypt cost: N = 2**15, r = 8, p = 1 (32 MiB; about 0.1-0.2 s on one core).
SCRYPT_LOG_N: Final = 15
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_BYTES: Final = 16
HASH_BYTES: Final = 32
#: Password checks running at once (each holds 32 MiB for its duration).
PARALLEL_CHECKS: Final = 2
#: Most memory a stored hash's parameters may ask for (an unreadable one matches nothing).
MAX_MEMORY: Final = 256 * 1024 * 1024
#: Longest password looked at (a longer one is wrong without hashing megabytes).
MAX_PASSWORD: Final = 256


class InstallerError(Exception):
    """A refused change; the message says what and why."""


class DeviceOutcome(enum.Enum):
    """What the right installer password did for a device."""

    CREATED = "created"  # unknown before: added, enabled
    ENABLED = "enabled"  # learned and disabled: enabled now
    ALREADY_ENABLED = "already enabled"
    REFUSED = "refused"  # disabled by (or belonging to) an administrator: left as it is

    @property
    def admitted(self) -> bool:
        """Whether the device is enabled now (and gets its configuration)."""
        return self is not DeviceOutcome.REFUSED


@dataclass(frozen=True, slots=True)
class InstallerStatus:
    """Whether an installer password is set; when and by whom."""

    set_at: datetime
    set_by: str


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The stored form of ``password``: ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`` (base64)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = _scrypt(password, salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)
    return "$".join(("scrypt", str(SCRYPT_LOG_N), str(SCRYPT_R), str(SCRYPT_P),
                     _b64(salt), _b64(digest)))  # fmt: skip


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored form (constant time in the hash compare; an
    unreadable stored form matches nothing)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or len(password) > MAX_PASSWORD:
        return False
    try:
        log_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return False
    if not (1 <= log_n <= 24 and 1 <= r <= 32 and 1 <= p <= 16) or 128 * r << log_n > MAX_MEMORY:
        return False
    return hmac.compare_digest(_scrypt(password, salt, log_n, r, p, length=len(expected)), expected)


def installer_may_enable(record: DeviceRecord) -> bool:
    """Whether the installer password may enable this existing device: only one the edge
    learned (not added by an administrator) that nobody has changed since (an
    administrator's enable, disable, description or import sets ``updated_at``)."""
    return record.identity != ADMIN and record.updated_at == record.created_at


class InstallerService:
    """Setting, clearing and checking the installer password; enabling devices with it."""

    def __init__(self, store: Store) -> None:
        self.repo = InstallerRepo(store)
        self.devices = DeviceService(store)
        self.audit = AuditLog(store)
        self._checks = asyncio.Semaphore(PARALLEL_CHECKS)
        self._cache_key = secrets.token_bytes(32)
        self._verified: tuple[str, bytes] | None = None  # (stored hash, HMAC of the password)

    # -- administration ---------------------------------------------------------------------
    async def status(self) -> InstallerStatus | None:
        """When and by whom the password was set, or ``None`` when none is set."""
        record = await self.repo.get()
        return None if record is None else InstallerStatus(record.set_at, record.set_by)

    async def set(self, password: str, actor: Actor) -> None:
        """Set (or replace) the installer password; refused when it is too weak."""
        problem = weakness(password, context=(USERNAME,))
        if problem is not None:
            raise InstallerError(problem.replace("secret", "password"))
        if len(password) > MAX_PASSWORD:
            raise InstallerError(f"password is too long: at most {MAX_PASSWORD} characters")
        stored = await asyncio.to_thread(hash_password, password)
        replaced = await self.repo.get() is not None
        await self.repo.put(InstallerRecord(stored, datetime.now(UTC), actor.name))
        await self.audit.record(actor, "installer.set", "installer password",
                                "replaced the previous one" if replaced else "")  # fmt: skip

    async def generate(self, actor: Actor) -> str:
        """Set a generated password and return it (to be shown once)."""
        password = generate_secret()
        await self.set(password, actor)
        return password

    async def clear(self, actor: Actor) -> bool:
        """Remove the installer password (devices are enabled by administrators only again);
        whether one was set."""
        if not await self.repo.clear():
            return False
        await self.audit.record(actor, "installer.clear", "installer password")
        return True

    # -- the provisioning server ------------------------------------------------------------
    async def is_set(self) -> bool:
        """Whether an installer password is set now."""
        return await self.repo.get() is not None

    async def verify(self, password: str) -> bool:
        """Whether ``password`` is the installer password set now (``False`` when none is)."""
        record = await self.repo.get()
        if record is None:
            return False
        tag = hmac.new(self._cache_key, password.encode("utf-8", "surrogatepass"),
                       hashlib.sha256).digest()  # fmt: skip
        cached = self._verified
        if cached is not None and cached[0] == record.hash and hmac.compare_digest(cached[1], tag):
            return True
        async with self._checks:
            right = await asyncio.to_thread(check_password, password, record.hash)
        if right:
            self._verified = (record.hash, tag)
        return right

    async def enable_device(
        self, mac: str, source_ip: str, user_agent: str | None
    ) -> DeviceOutcome:
        """The right installer password came with a request for ``mac`` from ``source_ip``:
        add the device enabled, enable it if the edge had only learned it, or leave an
        administrator's device alone.  Changes and refusals are audit events (the actor is
        ``installer`` from ``source_ip``)."""
        normalized = check_mac(mac)
        source = str(ipaddress.ip_address(source_ip))
        actor = Actor(USERNAME, source)
        target = format_mac(normalized)
        record = await self.devices.repo.get(normalized)
        if record is None:
            if await self.devices.learn(normalized, source, IdentitySource.PROVISIONING,
                                        user_agent, enabled=True):  # fmt: skip
                await self.audit.record(actor, "device.enabled_by_installer", target,
                                        f"new device, from {source}")  # fmt: skip
                return DeviceOutcome.CREATED
            record = await self.devices.repo.get(normalized)  # learned meanwhile by the edge
            if record is None:  # and deleted again at once: nothing to enable
                return DeviceOutcome.REFUSED
        if record.enabled:
            return DeviceOutcome.ALREADY_ENABLED
        if installer_may_enable(record) and await self.devices.repo.enable_untouched(
            normalized, datetime.now(UTC), admin=ADMIN
        ):
            await self.audit.record(actor, "device.enabled_by_installer", target,
                                    f"learned {record.identity} device, from {source}")  # fmt: skip
            return DeviceOutcome.ENABLED
        await self.audit.record(actor, "device.installer_refused", target,
                                f"disabled by an administrator; request from {source}")  # fmt: skip
        return DeviceOutcome.REFUSED


def _scrypt(password: str, salt: bytes, log_n: int, r: int, p: int, *,
            length: int = HASH_BYTES) -> bytes:  # fmt: skip
    n = 1 << log_n
    return hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p,
                          maxmem=2 * 128 * r * n + (1 << 20), dklen=length)  # fmt: skip


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
