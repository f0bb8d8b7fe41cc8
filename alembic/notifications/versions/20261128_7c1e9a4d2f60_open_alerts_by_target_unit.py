"""open alerts by target and unit

Revision ID: 7c1e9a4d2f60
Revises: 2d2cc5ab9fcb
Create Date: 2026-11-28 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c1e9a4d2f60"
down_revision: str | None = "2d2cc5ab9fcb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Each target-status event reads the open alerts of its (target, unit); without this it scanned every alert.
    op.create_index(
        "ix_alerts_open_target_unit",
        "alerts",
        ["target_id", "unit_code"],
        unique=False,
        schema="notifications",
        postgresql_where=sa.text("state <> 'resolved'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_alerts_open_target_unit",
        table_name="alerts",
        schema="notifications",
        postgresql_where=sa.text("state <> 'resolved'"),
    )
