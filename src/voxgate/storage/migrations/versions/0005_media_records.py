"""Media counters of calls through the edge; call records keep the callee leg's Call-ID.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 11:40:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COUNTERS = ("packets", "octets", "forwarded", "lost", "dropped_auth", "dropped_source")


def upgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("callee_call_id", sa.Text(), server_default="", nullable=False)
        )
    columns: list[sa.Column[Any]] = [
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("other_call_id", sa.Text(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
    ]
    for side in ("wan", "lan"):
        columns += [sa.Column(f"{side}_{name}", sa.Integer(), nullable=False) for name in _COUNTERS]
        columns.append(sa.Column(f"{side}_jitter_ms", sa.Float(), nullable=False))
        columns.append(sa.Column(f"{side}_source", sa.String(length=80), nullable=False))
    op.create_table("media_records", *columns)
    op.create_index("ix_media_records_call_id", "media_records", ["call_id"])
    op.create_index("ix_media_records_other_call_id", "media_records", ["other_call_id"])


def downgrade() -> None:
    op.drop_index("ix_media_records_other_call_id", table_name="media_records")
    op.drop_index("ix_media_records_call_id", table_name="media_records")
    op.drop_table("media_records")
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_column("callee_call_id")
