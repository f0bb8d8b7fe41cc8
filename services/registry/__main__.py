"""`python -m services.registry`: serve the API (and, by default, the workers) with uvicorn."""

from services.registry.app import create_app
from services.registry.settings import RegistrySettings
from shared.main import run

if __name__ == "__main__":
    run(create_app, RegistrySettings)
