"""Per-agency limits on the requests that make the service notify another party (shared.ratelimit)."""

from __future__ import annotations

from services.notifications.db.models import rate_limits
from services.notifications.domain.access import WRITE
from services.notifications.settings import NotificationsSettings
from shared.ratelimit import RateLimiter, limited
from shared.settings import ServiceSettings


def _notify_limit(settings: ServiceSettings) -> int:
    if not isinstance(settings, NotificationsSettings):  # built by services.notifications.app.create_app
        raise TypeError("the notifications service runs with NotificationsSettings")
    return settings.notify_limit_per_minute


NOTIFY = limited(WRITE, RateLimiter(rate_limits), "notify", _notify_limit)
"""`notifications:write` for a request that notifies other agencies (an ad-hoc report request copies a message
into the reporting authority's inbox and announces a deadline to each agency named), counted against the
caller's agency (NOTIFICATIONS_NOTIFY_LIMIT_PER_MINUTE)."""
