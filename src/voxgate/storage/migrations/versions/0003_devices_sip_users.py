"""The device table (AUTH-1, AUTH-2) and the edge's SIP users with their two credential
levels (AUTH-4).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=12), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=128), nullable=False),
        sa.Column("identity", sa.String(length=16), nullable=False),
        sa.Column("last_source", sa.String(length=80), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("mac", name=op.f("uq_devices_mac")),
    )
    op.create_table(
        "sip_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("realm", sa.String(length=128), nullable=False),
        sa.Column("ha1_md5", sa.String(length=32), nullable=False),
        sa.Column("ha1_sha256", sa.String(length=64), nullable=False),
        sa.Column("extension", sa.String(length=15), nullable=False),
        sa.Column("upstream_username", sa.String(length=64), nullable=False),
        sa.Column("upstream_secret", sa.Text(), nullable=False),
        sa.Column("device_mac", sa.String(length=12), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_users")),
        sa.UniqueConstraint("username", name=op.f("uq_sip_users_username")),
    )
    with op.batch_alter_table("sip_users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sip_users_extension"), ["extension"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sip_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sip_users_extension"))
    op.drop_table("sip_users")
    op.drop_table("devices")
