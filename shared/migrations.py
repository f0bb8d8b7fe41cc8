"""Alembic glue: one migration tree per service schema, and the start-up check that the schema is current.

``alembic.ini`` has one named section per service (``alembic -n registry upgrade head``); each tree's
``env.py`` calls :func:`run_env`, which migrates only that service's schema and keeps its version table there.
"""

from __future__ import annotations

import asyncio
import importlib
import os

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from shared.db import async_url
from shared.settings import PROJECT_ROOT

SERVICES = ("registry", "indicators", "notifications")
VERSION_TABLE = "alembic_version"


class SchemaNotCurrent(RuntimeError):
    pass


def service_metadata_of(service: str) -> MetaData:
    module = importlib.import_module(f"services.{service}.db.models")
    metadata: MetaData = module.metadata
    return metadata


def alembic_config(service: str, database_url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"), ini_section=service)
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic" / service))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade_all(database_url: str) -> None:
    for service in SERVICES:
        command.upgrade(alembic_config(service, database_url), "head")


def check_all(database_url: str) -> None:
    """``alembic check`` for every tree: raises if the models and the migrations have drifted apart."""
    for service in SERVICES:
        command.check(alembic_config(service, database_url))


async def assert_schema_current(engine: AsyncEngine, service: str) -> None:
    """Refuse to start on a database whose migrations for `service` are not at head."""
    heads = set(ScriptDirectory.from_config(alembic_config(service)).get_heads())

    def current(conn: Connection) -> set[str]:
        ctx = MigrationContext.configure(conn, opts={"version_table_schema": service})
        return set(ctx.get_current_heads())

    async with engine.connect() as conn:
        found = await conn.run_sync(current)
    if found != heads:
        raise SchemaNotCurrent(
            f"schema '{service}' is at {sorted(found) or 'nothing'} but the code needs {sorted(heads)}; "
            "run `make migrate` first"
        )


# -- used by each tree's first revision ----------------------------------------------------------------


def create_outbox_and_inbox(schema: str) -> None:
    """The outbox and inbox of one service schema (``shared.messaging.tables`` describes them as models).

    The DDL is written out rather than built from those models: a revision must keep creating what it
    created, and ``alembic check`` only sees a model that moved on if the migrations do not move with it.
    """
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_key", sa.String(length=300), nullable=False, comment="CloudEvents source#id"),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_key", name=op.f("pk_inbox")),
        schema=schema,
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
        schema=schema,
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )


def drop_outbox_and_inbox(schema: str) -> None:
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema=schema)
    op.drop_table("inbox", schema=schema)


# -- used by alembic/<service>/env.py -------------------------------------------------------------------


def run_env() -> None:
    config = context.config
    service = config.config_ini_section
    metadata = service_metadata_of(service)
    url = config.attributes.get("database_url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("DATABASE_URL is not set")

    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        return name == service if type_ == "schema" else True

    def do_run(conn: Connection) -> None:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{service}"'))
        conn.commit()
        context.configure(
            connection=conn,
            target_metadata=metadata,
            version_table=VERSION_TABLE,
            version_table_schema=service,
            include_schemas=True,
            include_name=include_name,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(async_url(url), poolclass=NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())


def create_rate_limits(schema: str) -> None:
    """Requests per agency, bucket and minute, shared by every replica (``shared.ratelimit``); a check that opens
    a window deletes the older ones, so the table holds about one row per agency and bucket. Written out for the
    same reason as :func:`create_outbox_and_inbox`."""
    op.create_table(
        "rate_limits",
        sa.Column("agency", sa.String(length=30), nullable=False),
        sa.Column("bucket", sa.String(length=40), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("agency", "bucket", "window_start", name=op.f("pk_rate_limits")),
        schema=schema,
    )


def drop_rate_limits(schema: str) -> None:
    op.drop_table("rate_limits", schema=schema)
