"""`python -m services.registry`: serve the API (and, by default, the workers) with uvicorn."""

from __future__ import annotations

import uvicorn

from services.registry.app import create_app
from services.registry.settings import RegistrySettings


def main() -> None:
    settings = RegistrySettings()
    uvicorn.run(
        create_app(settings=settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # our JSON logging is configured in the lifespan
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
