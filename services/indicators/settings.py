"""Settings of the indicators service (env prefix `INDICATORS_`; shared infrastructure variables are unprefixed)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IndicatorsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INDICATORS_", extra="ignore")

    port: int = 8002
