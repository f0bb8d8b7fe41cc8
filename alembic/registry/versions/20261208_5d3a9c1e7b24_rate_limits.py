"""rate limits per agency

Revision ID: 5d3a9c1e7b24
Revises: 4b8e2d71c9a3
Create Date: 2026-12-08 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d3a9c1e7b24"
down_revision: str | None = "4b8e2d71c9a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Requests per agency, bucket and minute, shared by every replica (shared/ratelimit.py); a check that opens a
    # window deletes the older ones, so the table holds about one row per agency and bucket.
    op.create_table(
        "rate_limits",
        sa.Column("agency", sa.String(length=30), nullable=False),
        sa.Column("bucket", sa.String(length=40), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("agency", "bucket", "window_start", name=op.f("pk_rate_limits")),
        schema="registry",
    )


def downgrade() -> None:
    op.drop_table("rate_limits", schema="registry")
