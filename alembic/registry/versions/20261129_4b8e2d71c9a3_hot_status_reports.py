"""status reports update the cooperative in place (HOT)

Revision ID: 4b8e2d71c9a3
Revises: 9f898e8204af
Create Date: 2026-11-29 02:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "4b8e2d71c9a3"
down_revision: str | None = "9f898e8204af"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every status report rewrites its cooperative's row (latest report, rating, model flag, version). PostgreSQL
    # rewrites it in place on the same page (a HOT update: no new entry in any index) only if no indexed column
    # changed and the page has room. The rating and model-flag indexes (a handful of values each, never chosen
    # over the unit index or a scan of a few hundred cooperatives) made most reports write all eight indexes;
    # fillfactor 70 leaves each page room for the new versions. Reports by cooperative are served by the unique
    # (cooperative_id, period, revision) index, whose first column is the one the dropped index held.
    op.drop_index("ix_cooperatives_classification", table_name="cooperatives", schema="registry")
    op.drop_index("ix_cooperatives_is_model", table_name="cooperatives", schema="registry")
    op.drop_index("ix_status_reports_cooperative_id", table_name="status_reports", schema="registry")
    # Applies to pages written from now on: a database upgraded in place gains the room as rows move (a few
    # hundred cooperatives: within the first reports), or at once with `VACUUM FULL registry.cooperatives`.
    op.execute("ALTER TABLE registry.cooperatives SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute("ALTER TABLE registry.cooperatives RESET (fillfactor)")
    op.create_index(
        "ix_status_reports_cooperative_id", "status_reports", ["cooperative_id"], unique=False, schema="registry"
    )
    op.create_index("ix_cooperatives_is_model", "cooperatives", ["is_model"], unique=False, schema="registry")
    op.create_index(
        "ix_cooperatives_classification", "cooperatives", ["classification"], unique=False, schema="registry"
    )
