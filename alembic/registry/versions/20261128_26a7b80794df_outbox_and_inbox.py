"""outbox and inbox

Revision ID: 26a7b80794df
Revises:
Create Date: 2026-11-28 13:38:40.661966
"""

from collections.abc import Sequence

from shared.migrations import create_outbox_and_inbox, drop_outbox_and_inbox

revision: str = "26a7b80794df"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_and_inbox("registry")


def downgrade() -> None:
    drop_outbox_and_inbox("registry")
