"""The database tables (SQLAlchemy 2 typed declarative models).

Times are stored as UTC; :class:`UtcDateTime` gives them back timezone-aware
on SQLite too (it drops offsets).  Secrets are never stored in clear: SIP
secrets as HA1 per digest algorithm, reversible ones encrypted
(:mod:`voxgate.storage.secretbox`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Constraint names the same on every backend (Alembic needs them to alter tables).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A UTC timestamp: naive values are refused on the way in, UTC-aware on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store UTC-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002 - SQLAlchemy API
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every table."""

    metadata = MetaData(naming_convention=NAMING)


class ExtensionRow(Base):
    """An extension of the embedded call control."""

    __tablename__ = "extensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(15), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    realm: Mapped[str] = mapped_column(String(128))
    ha1_md5: Mapped[str] = mapped_column(String(32))
    ha1_sha256: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    max_contacts: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class BindingRow(Base):
    """A registered contact (the location service's persisted state)."""

    __tablename__ = "bindings"
    __table_args__ = (UniqueConstraint("aor", "contact"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    aor: Mapped[str] = mapped_column(String(15), index=True)
    contact: Mapped[str] = mapped_column(Text)
    instance: Mapped[str | None] = mapped_column(Text, nullable=True)
    reg_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    call_id: Mapped[str] = mapped_column(Text)
    cseq: Mapped[int] = mapped_column(Integer)
    q: Mapped[float | None] = mapped_column(Float, nullable=True)
    transport: Mapped[str] = mapped_column(String(8))
    source_ip: Mapped[str] = mapped_column(String(64))
    source_port: Mapped[int] = mapped_column(Integer)
    local: Mapped[str] = mapped_column(String(80))
    user_agent: Mapped[str | None] = mapped_column(Text, nullable=True)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RegistrationEventRow(Base):
    """Who registered as which extension, from where, with which credential (AUTH-6)."""

    __tablename__ = "registration_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    extension: Mapped[str] = mapped_column(String(64), index=True)
    source_ip: Mapped[str] = mapped_column(String(64))
    source_port: Mapped[int] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(8))
    instance: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_agent: Mapped[str | None] = mapped_column(Text, nullable=True)
    credential: Mapped[str] = mapped_column(String(128))
    algorithm: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The device's MAC (rows the edge writes; the call control never sees a device).
    device: Mapped[str | None] = mapped_column(String(12), nullable=True)
    #: Who wrote the row: "pbx" (the call control) or "edge" (a device at the edge, with its
    #: SIP user as ``credential`` and its own address as source).
    recorded_by: Mapped[str] = mapped_column(String(8), default="pbx", server_default="pbx")


class CallRecordRow(Base):
    """One call attempt (SMDR/CDR)."""

    __tablename__ = "call_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(Text)
    caller: Mapped[str] = mapped_column(String(64), index=True)
    caller_name: Mapped[str] = mapped_column(String(64), default="")
    callee: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    duration: Mapped[float] = mapped_column(Float)
    disposition: Mapped[str] = mapped_column(String(16))
    status: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    caller_source: Mapped[str] = mapped_column(String(80))
    #: The Call-ID of the leg toward the callee (a call through the edge's media relay is
    #: known there by one leg's Call-ID or the other's).
    callee_call_id: Mapped[str] = mapped_column(Text, default="", server_default="")


class MetaRow(Base):
    """Small key/value state, such as the extensions' change counter."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class NetblockRow(Base):
    """One netblock of the allow or the block list (NET-1), in the named netlist it came from
    (the title line of an imported file, or the one given on the command line)."""

    __tablename__ = "netblocks"
    __table_args__ = (UniqueConstraint("kind", "title", "network"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), index=True)  # "allow" | "block"
    title: Mapped[str] = mapped_column(String(128))
    network: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditEventRow(Base):
    """The audit log: every change and every security event — who, when, from where, what."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(128))  # "cli:root", "node", "admin:alice"
    source: Mapped[str] = mapped_column(String(80))  # the actor's address, "local" for the CLI
    action: Mapped[str] = mapped_column(String(64), index=True)  # "netlist.add", "security.lockout"
    target: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")


class DeviceRow(Base):
    """A device (AUTH-1, AUTH-2): its MAC, whether it may reach the call control, and where
    and when it was last seen.  Devices learned on first contact start disabled."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mac: Mapped[str] = mapped_column(String(12), unique=True)  # 12 lower-case hex digits
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(String(128), default="")
    #: Where the MAC was learned: "certificate" | "instance" | "user-agent" | "admin".
    identity: Mapped[str] = mapped_column(String(16))
    last_source: Mapped[str | None] = mapped_column(String(80), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(Text, nullable=True)
    first_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SipUserRow(Base):
    """A SIP user of the edge (AUTH-4): the level-1 credential a device presents to the edge
    (HA1 only) and the level-2 credential the edge presents to the call control for it
    (encrypted with the node's key file: the edge must answer digest challenges with it)."""

    __tablename__ = "sip_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    realm: Mapped[str] = mapped_column(String(128))
    ha1_md5: Mapped[str] = mapped_column(String(32))
    ha1_sha256: Mapped[str] = mapped_column(String(64))
    extension: Mapped[str] = mapped_column(String(15), index=True)
    upstream_username: Mapped[str] = mapped_column(String(64))
    upstream_secret: Mapped[str] = mapped_column(Text)  # secretbox token, never clear
    #: When set, the user may only be used from this device (normalized MAC).
    device_mac: Mapped[str | None] = mapped_column(String(12), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MediaRecordRow(Base):
    """A finished call's media through the edge: what each side sent, what was dropped."""

    __tablename__ = "media_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(Text, index=True)
    other_call_id: Mapped[str] = mapped_column(Text, index=True)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    wan_packets: Mapped[int] = mapped_column(Integer)
    wan_octets: Mapped[int] = mapped_column(Integer)
    wan_forwarded: Mapped[int] = mapped_column(Integer)
    wan_lost: Mapped[int] = mapped_column(Integer)
    wan_dropped_auth: Mapped[int] = mapped_column(Integer)
    wan_dropped_source: Mapped[int] = mapped_column(Integer)
    wan_jitter_ms: Mapped[float] = mapped_column(Float)
    wan_source: Mapped[str] = mapped_column(String(80))
    lan_packets: Mapped[int] = mapped_column(Integer)
    lan_octets: Mapped[int] = mapped_column(Integer)
    lan_forwarded: Mapped[int] = mapped_column(Integer)
    lan_lost: Mapped[int] = mapped_column(Integer)
    lan_dropped_auth: Mapped[int] = mapped_column(Integer)
    lan_dropped_source: Mapped[int] = mapped_column(Integer)
    lan_jitter_ms: Mapped[float] = mapped_column(Float)
    lan_source: Mapped[str] = mapped_column(String(80))


class AdminAccountRow(Base):
    """An account of the web administration (ADMIN-2, ADMIN-5): its role, its argon2 password
    hash and the state of that password."""

    __tablename__ = "admin_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(8))  # "system" | "group" | "user"
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, PHC string
    #: The password was set by someone else (or by voxgate init): changed at the next login.
    must_change: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: Days a password stays valid; ``None`` follows ``admin.password_max_age_days``, 0 never.
    password_max_age_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_login_from: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AdminGrantRow(Base):
    """One grant of an account: ``kind`` "form" gives read or write access to one form of the
    web administration (``name``: "devices", "netlists"…); "extension" and "device" put one
    extension (number) or device (MAC) in a group administrator's or an end user's scope."""

    __tablename__ = "admin_grants"
    __table_args__ = (UniqueConstraint("account_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("admin_accounts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # "form" | "extension" | "device"
    name: Mapped[str] = mapped_column(String(64))
    access: Mapped[str] = mapped_column(String(8))  # "read" | "write"
