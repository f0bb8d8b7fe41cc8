"""rate limits per agency

Revision ID: 5d3a9c1e7b24
Revises: 4b8e2d71c9a3
Create Date: 2026-12-08 01:00:00.000000
"""

from collections.abc import Sequence

from shared.migrations import create_rate_limits, drop_rate_limits

revision: str = "5d3a9c1e7b24"
down_revision: str | None = "4b8e2d71c9a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_rate_limits("registry")


def downgrade() -> None:
    drop_rate_limits("registry")
