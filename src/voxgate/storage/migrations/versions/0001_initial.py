"""The first tables: extensions, bindings, registration events, call records, meta.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 20:45:49.947899
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bindings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("aor", sa.String(length=15), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("instance", sa.Text(), nullable=True),
        sa.Column("reg_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("cseq", sa.Integer(), nullable=False),
        sa.Column("q", sa.Float(), nullable=True),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.Column("source_port", sa.Integer(), nullable=False),
        sa.Column("local", sa.String(length=80), nullable=False),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bindings")),
        sa.UniqueConstraint("aor", "contact", name=op.f("uq_bindings_aor")),
    )
    with op.batch_alter_table("bindings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bindings_aor"), ["aor"], unique=False)

    op.create_table(
        "call_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("caller_name", sa.String(length=64), nullable=False),
        sa.Column("callee", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("caller_source", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_records")),
    )
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_records_callee"), ["callee"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_records_caller"), ["caller"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_call_records_started_at"), ["started_at"], unique=False
        )

    op.create_table(
        "extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=15), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("realm", sa.String(length=128), nullable=False),
        sa.Column("ha1_md5", sa.String(length=32), nullable=False),
        sa.Column("ha1_sha256", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("max_contacts", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extensions")),
        sa.UniqueConstraint("number", name=op.f("uq_extensions_number")),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )
    op.create_table(
        "registration_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extension", sa.String(length=64), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.Column("source_port", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("instance", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("credential", sa.String(length=128), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_events")),
    )
    with op.batch_alter_table("registration_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registration_events_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_registration_events_extension"), ["extension"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("registration_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registration_events_extension"))
        batch_op.drop_index(batch_op.f("ix_registration_events_at"))

    op.drop_table("registration_events")
    op.drop_table("meta")
    op.drop_table("extensions")
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_records_started_at"))
        batch_op.drop_index(batch_op.f("ix_call_records_caller"))
        batch_op.drop_index(batch_op.f("ix_call_records_callee"))

    op.drop_table("call_records")
    with op.batch_alter_table("bindings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bindings_aor"))

    op.drop_table("bindings")
