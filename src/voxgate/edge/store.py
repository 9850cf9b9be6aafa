"""The edge's store adapter: SIP users and the device table, behind
:class:`~voxgate.edge.service.EdgeStore`, through the same services the CLI uses."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from voxgate.edge.notes import DeviceSeen, RegistrationNote
from voxgate.edge.users import SipUser
from voxgate.services.devices import MAX_USER_AGENT, DeviceService
from voxgate.services.sipusers import SipUserService
from voxgate.storage.engine import Store
from voxgate.storage.repos.media import MediaRecord, MediaRepo
from voxgate.storage.repos.registration_events import (
    RegistrationEventRecord,
    RegistrationEventRepo,
)

log = logging.getLogger(__name__)


class SqlEdgeStore:
    """:class:`~voxgate.edge.service.EdgeStore` on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, store: Store, realm: str, key: bytes) -> None:
        self.users = SipUserService(store, realm, key)
        self.devices = DeviceService(store)
        self.events = RegistrationEventRepo(store)
        self.media = MediaRepo(store)
        self.realm = realm

    async def load_users(self) -> tuple[list[SipUser], int]:
        """Every usable SIP user; a user whose level-2 secret does not decrypt with this
        node's key, or whose HA1s belong to another realm, is left out (and logged)."""
        entries, generation = await self.users.snapshot()
        users = []
        for entry in entries:
            if entry.upstream_secret is None or entry.realm != self.realm:
                why = "its level-2 secret does not decrypt with this node's key" if (
                    entry.upstream_secret is None
                ) else f"its password is stored for realm {entry.realm!r}"  # fmt: skip
                log.warning("SIP user %s left out: %s", entry.username, why)
                continue
            users.append(SipUser(
                entry.username, entry.extension, entry.upstream_username, entry.upstream_secret,
                ha1={"MD5": entry.ha1_md5, "SHA-256": entry.ha1_sha256},
                device_mac=entry.device_mac, enabled=entry.enabled,
            ))  # fmt: skip
        return users, generation

    async def users_generation(self) -> int:
        """The SIP users' change counter."""
        return await self.users.generation()

    async def load_devices(self) -> tuple[list[tuple[str, bool]], int]:
        """Every device as (MAC, enabled) and the change counter."""
        return await self.devices.snapshot()

    async def devices_generation(self) -> int:
        """The device table's change counter."""
        return await self.devices.generation()

    async def devices_seen(self, seen: Sequence[DeviceSeen]) -> int:
        """Record sightings (unknown devices become disabled rows); how many were new."""
        now = datetime.now(UTC)
        known = await self.devices.repo.seen_many([
            (s.identity.mac, s.source, s.user_agent[:MAX_USER_AGENT] if s.user_agent else None, now)
            for s in seen
        ])  # fmt: skip: one transaction for the devices already in the table
        created = 0
        for sighting in seen:
            identity = sighting.identity
            if identity.mac in known:
                continue
            if await self.devices.learn(identity.mac, sighting.source, identity.source,
                                        sighting.user_agent):  # fmt: skip
                created += 1
        return created

    async def media_records(self, records: Sequence[MediaRecord]) -> None:
        """Finished calls' media counters (joined to the call records in the CDR export)."""
        await self.media.add_many(records)

    async def registration_notes(self, notes: Sequence[RegistrationNote], offset: float) -> None:
        """Registration-log rows written by the edge: the device, its own address, its SIP user
        (as the credential) and the extension it registered as (AUTH-6)."""
        await self.events.add_many([
            RegistrationEventRecord(
                at=datetime.fromtimestamp(n.at + offset, UTC), extension=n.extension,
                source_ip=n.flow.remote[0], source_port=n.flow.remote[1],
                transport=n.flow.transport.lower(), instance=n.instance, user_agent=n.user_agent,
                credential=n.username, algorithm=n.algorithm, outcome=n.outcome, reason=n.reason,
                device=n.mac, recorded_by="edge",
            )
            for n in notes
        ])  # fmt: skip
