"""rate limits per agency

Revision ID: 8e4b2f6a1c35
Revises: 7c1e9a4d2f60
Create Date: 2026-12-08 01:00:00.000000
"""

from collections.abc import Sequence

from shared.migrations import create_rate_limits, drop_rate_limits

revision: str = "8e4b2f6a1c35"
down_revision: str | None = "7c1e9a4d2f60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_rate_limits("notifications")


def downgrade() -> None:
    drop_rate_limits("notifications")
