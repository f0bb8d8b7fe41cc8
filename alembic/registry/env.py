"""Alembic environment of this service's schema; the shared logic is in shared/migrations.py."""

from shared.migrations import run_env

run_env()
