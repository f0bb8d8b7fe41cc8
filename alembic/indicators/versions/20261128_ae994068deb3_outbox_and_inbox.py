"""outbox and inbox

Revision ID: ae994068deb3
Revises:
Create Date: 2026-11-28 13:38:42.581813
"""

from collections.abc import Sequence

from shared.migrations import create_outbox_and_inbox, drop_outbox_and_inbox

revision: str = "ae994068deb3"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_and_inbox("indicators")


def downgrade() -> None:
    drop_outbox_and_inbox("indicators")
