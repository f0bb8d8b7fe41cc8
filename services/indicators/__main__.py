"""`python -m services.indicators`: serve the API (and, by default, the workers) with uvicorn."""

from services.indicators.app import create_app
from services.indicators.settings import IndicatorsSettings
from shared.main import run

if __name__ == "__main__":
    run(create_app, IndicatorsSettings)
