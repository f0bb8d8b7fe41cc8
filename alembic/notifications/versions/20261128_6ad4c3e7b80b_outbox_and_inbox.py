"""outbox and inbox

Revision ID: 6ad4c3e7b80b
Revises:
Create Date: 2026-11-28 13:38:44.517142
"""

from collections.abc import Sequence

from shared.migrations import create_outbox_and_inbox, drop_outbox_and_inbox

revision: str = "6ad4c3e7b80b"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_and_inbox("notifications")


def downgrade() -> None:
    drop_outbox_and_inbox("notifications")
