"""What `python -m services.<name>` runs: one service's app under uvicorn, configured the same for all three."""

from __future__ import annotations

from typing import Protocol, TypeVar

import uvicorn
from fastapi import FastAPI

from shared.clock import Clock
from shared.settings import ServiceSettings
from shared.web import MAX_HEADER_BYTES

KEEP_ALIVE_SECONDS = 5

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
        # Bounds below the app (which refuses more than 100 headers or 16 KiB of them with a 431, and a body that
        # takes longer than a minute with a 408): an idle kept-alive connection closes after 5 s, and the h11
        # parser, when used, stops buffering a request head at the same 16 KiB (+ request line).
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES + 8 * 1024,
    )
