"""`python -m services.notifications`: serve the API (and, by default, the workers) with uvicorn."""

from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from shared.main import run

if __name__ == "__main__":
    run(create_app, NotificationsSettings)
