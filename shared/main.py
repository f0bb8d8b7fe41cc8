"""What `python -m services.<name>` runs: one service's app under uvicorn, configured the same for all three."""

from __future__ import annotations

from typing import Protocol, TypeVar

import uvicorn
from fastapi import FastAPI

from shared.clock import Clock
from shared.settings import ServiceSettings

SettingsT = TypeVar("SettingsT", bound=ServiceSettings, contravariant=True)


class AppFactory(Protocol[SettingsT]):
    """A service's `create_app`."""

    def __call__(self, *, settings: SettingsT | None = None, clock: Clock | None = None) -> FastAPI: ...


def run(create_app: AppFactory[SettingsT], settings_factory: type[SettingsT]) -> None:
    """Serve the API (and, unless the settings say otherwise, the workers) until SIGINT/SIGTERM."""
    settings = settings_factory()  # read from the environment here, when the process starts
    uvicorn.run(
        create_app(settings=settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # the lifespan configures our JSON logging
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )
