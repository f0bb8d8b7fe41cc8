"""Settings of the registry service (env prefix `REGISTRY_`; shared infrastructure variables are unprefixed)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore")

    port: int = 8001
    seed_demo: bool = Field(False, description="Seed the demo registry at start-up when the registry is empty")
    import_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest CSV/XLSX accepted by the import")
    import_max_rows: int = Field(20_000, ge=1)
    write_limit_per_minute: int = Field(600, ge=0)
    """Writes (creates, edits, status reports, submissions, imports) per agency per minute, across replicas; one
    more gets 429 with Retry-After. 0 = no limit."""
