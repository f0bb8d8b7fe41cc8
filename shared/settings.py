"""Settings common to every service.

Values that describe the shared infrastructure (database, broker, token keys) are read from unprefixed
variables such as ``DATABASE_URL``; values that belong to one service use that service's prefix
(``REGISTRY_PORT``). Settings objects are built in the app factory or the CLI, never at import time, so
tests can build their own.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_DIR = PROJECT_ROOT / ".local"
LOCAL_SECRET_FILE = LOCAL_DIR / "jwt-secret"


def local_jwt_secret() -> str:
    """The HS256 key of the local run: created once under `.local/` so the token tool and the services agree."""
    if LOCAL_SECRET_FILE.exists():
        return LOCAL_SECRET_FILE.read_text().strip()
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    LOCAL_SECRET_FILE.write_text(secret)
    LOCAL_SECRET_FILE.chmod(0o600)
    return secret


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class AuthSettings(BaseSettings):
    """Token validation. HS256 with a shared secret locally; RS256 with a JWKS URL in deployments."""

    model_config = SettingsConfigDict(extra="ignore")

    jwt_algorithm: str = Field("HS256", validation_alias=_env("HTX_JWT_ALGORITHM"))
    jwt_secret: SecretStr | None = Field(None, validation_alias=_env("HTX_JWT_SECRET"))
    jwt_jwks_url: str | None = Field(None, validation_alias=_env("HTX_JWT_JWKS_URL"))
    jwt_issuer: str = Field("htx-monitor-local", validation_alias=_env("HTX_JWT_ISSUER"))
    jwt_audience: str = Field("htx-monitor", validation_alias=_env("HTX_JWT_AUDIENCE"))

    def signing_secret(self) -> str:
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        return local_jwt_secret()


class ServiceSettings(BaseSettings):
    """What every service needs; each service subclasses it with its own ``env_prefix``."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field(validation_alias=_env("DATABASE_URL"))
    kafka_bootstrap_servers: str = Field(validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS"))
    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))
    log_json: bool = Field(True, validation_alias=_env("LOG_JSON"))
    topic_prefix: str = Field("", validation_alias=_env("HTX_TOPIC_PREFIX"), pattern=r"^[a-zA-Z0-9._-]*$")
    """Namespace for every topic (e.g. `staging.`); lets environments or test runs share one cluster."""
    kafka_topic_partitions: int | None = Field(None, ge=1, validation_alias=_env("KAFKA_TOPIC_PARTITIONS"))
    kafka_topic_replication_factor: int | None = Field(
        None, ge=1, validation_alias=_env("KAFKA_TOPIC_REPLICATION_FACTOR")
    )
    kafka_topic_min_insync_replicas: int | None = Field(
        None, ge=1, validation_alias=_env("KAFKA_TOPIC_MIN_INSYNC_REPLICAS")
    )
    """How the topics a service creates at start-up (when missing) are laid out; unset = the broker's own
    defaults (`num.partitions`, `default.replication.factor`, `min.insync.replicas`). Existing topics are never
    altered. Production on three brokers: replication factor 3 and min.insync.replicas 2 (docs/reliability.md)."""

    host: str = "127.0.0.1"
    port: int = 8000
    run_workers: bool = True
    """Run the outbox relay, consumers and schedulers inside the API process (the default)."""
    consumer_group: str = ""
    consumer_max_retries: int = Field(3, ge=0, le=20)
    consumer_batch_size: int = Field(500, ge=1, le=5000)
    """Most records one fetch applies in one transaction. Each transaction has a fixed cost (inbox claim,
    reference reads, commit, offset commit) that a larger fetch spreads; a poison record makes the fetch fall
    back to one record per transaction. 500 was measured against 200 in docs/performance.md."""
    consumer_fetch_max_wait_ms: int = Field(50, ge=1, le=5000)
    """Longest a fetch waits at the broker for new records. aiokafka keeps one fetch in flight per broker and
    leaves out the partitions whose records it still holds, so a record arriving on one of those waits for the
    fetch in flight to end: with Kafka's default (500 ms) that put half-second steps into drains and latencies."""
    relay_batch_size: int = Field(200, ge=1, le=5000)
    relay_poll_seconds: float = Field(1.0, gt=0, le=60)
    relay_min_interval_seconds: float = Field(0.05, ge=0, le=5)
    """Least time between two relay passes under a stream of commits (a pass per commit cost the registry as much
    CPU as the request); a commit after a quiet spell is still published at once. 50 ms rather than 20: a pass
    has a fixed cost (four statements, a broker round trip), and at the write path's rates the longer interval
    took ~5 % off the registry's CPU per report for ≤ 30 ms more on the way to the indicators
    (docs/performance.md)."""
    outbox_retention_days: float = Field(7.0, ge=0, le=3650)
    """Published outbox rows older than this are deleted by the relay (every minute, oldest first); 0 keeps
    them for ever. Unpublished rows are never deleted."""
    db_pool_size: int = Field(10, ge=1, le=100)
    db_pool_overflow: int = Field(0, ge=0, le=100)
    """Connections opened beyond the pool under a burst and closed after; 0 = a burst waits for a pooled one."""
    db_pool_timeout_seconds: float = Field(10.0, gt=0, le=60)
    """Longest a request waits for a pooled connection before it is answered 503 (busy, retry later)."""
    max_body_bytes: int = Field(1_048_576, ge=1024)

    auth: AuthSettings = Field(default_factory=AuthSettings)
