"""Registration events name the device and who recorded them (AUTH-6 at the edge).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registration_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device", sa.String(length=12), nullable=True))
        batch_op.add_column(
            sa.Column("recorded_by", sa.String(length=8), server_default="pbx", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("registration_events", schema=None) as batch_op:
        batch_op.drop_column("recorded_by")
        batch_op.drop_column("device")
