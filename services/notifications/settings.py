"""Settings of the notifications service (env prefix `NOTIFICATIONS_`; infrastructure variables unprefixed)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.outbound import OutboundPolicy
from shared.service import Runtime
from shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore")

    port: int = 8003

    reminder_days: list[int] = Field(default_factory=lambda: [14, 7, 1])
    """Days before a report's due date on which the owing agency is reminded (env: JSON, e.g. `[14,7,1]`)."""
    target_reminder_days: list[int] = Field(default_factory=lambda: [180, 90, 30])
    """Days before a target's deadline on which its lead agency is reminded while it is not achieved."""
    overdue_repeat_days: int = Field(7, ge=1, le=90)
    """An overdue report is re-announced this often until the submission arrives."""
    re_remind_days: int = Field(7, ge=1, le=90)
    """An open, unacknowledged target alert is re-sent to its lead agency this often."""
    scheduler_enabled: bool = True
    scheduler_interval_seconds: float = Field(60.0, gt=0, le=86_400)
    reporting_authority: str = "SNN"
    """The agency every report goes to (plan 219 V.8); it may request ad-hoc reports and sees every deadline."""

    # -- delivery (domain/delivery.py, workers/delivery.py, api/stream.py); see docs/decisions.md --
    smtp_host: str | None = None
    """SMTP relay; unset means e-mail deliveries fail at once with a clear reason (nothing to retry)."""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "HTX Monitor <canhbao@htx-monitor.cantho.gov.vn>"
    smtp_timeout_seconds: float = Field(30.0, gt=0, le=300)
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=120)
    """The whole budget of one webhook attempt: name resolution, connecting, sending and the answer's status."""
    webhook_allowed_hosts: list[str] = Field(default_factory=list)
    """Receiver names that may resolve to non-public addresses (on-premises systems; `*.x.vn` for all under
    it). Empty by default: a webhook must be a public https endpoint (shared/outbound.py)."""
    webhook_allowed_networks: list[str] = Field(default_factory=list)
    """CIDRs whose addresses a webhook may reach although they are not public (e.g. `["10.20.0.0/16"]`)."""
    webhook_allow_http: bool = False
    """Accept plain http:// webhooks (local runs and tests); deployments keep https only."""
    delivery_max_attempts: int = Field(6, ge=1, le=30)
    delivery_base_delay_seconds: float = Field(30.0, gt=0, le=3600)
    """Retry n waits base·2^(n-1), jittered into its upper half, capped by `delivery_max_delay_seconds`."""
    delivery_max_delay_seconds: float = Field(3600.0, gt=0, le=86_400)
    delivery_lease_seconds: float = Field(300.0, gt=0, le=3600)
    """A claimed delivery is not claimed again for this long: a crash mid-send re-sends at most once a lease."""
    delivery_batch_size: int = Field(50, ge=1, le=1000)
    delivery_concurrency: int = Field(10, ge=1, le=100)
    """Sends in flight at once, per replica (e-mail and webhooks together)."""
    delivery_per_destination: int = Field(2, ge=1, le=100)
    """Sends in flight at once to one destination (a webhook's scheme, host and port; the SMTP relay), so one
    agency's slow receiver holds at most this many of the `delivery_concurrency` slots."""
    delivery_poll_seconds: float = Field(1.0, gt=0, le=60)
    digest_hour: int = Field(7, ge=0, le=23)
    """Vietnam-local hour at which the previous day's digest e-mails are sent."""
    stream_max_connections_per_agency: int = Field(5, ge=1, le=1000)
    """Concurrent SSE connections per agency, per API replica; one more gets 429."""
    notify_limit_per_minute: int = Field(30, ge=0)
    """Requests that notify another party (ad-hoc report requests) per agency per minute, across replicas; one
    more gets 429 with Retry-After. 0 = no limit."""
    stream_heartbeat_seconds: float = Field(15.0, gt=0, le=300)
    stream_poll_seconds: float = Field(5.0, gt=0, le=300)
    """Safety net under LISTEN/NOTIFY: the stream also looks for new events this often."""

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, networks: list[str]) -> list[str]:
        OutboundPolicy.build((), networks, allow_http=False)  # a ValueError names the bad CIDR
        return networks

    def outbound_policy(self) -> OutboundPolicy:
        return OutboundPolicy.build(
            self.webhook_allowed_hosts, self.webhook_allowed_networks, allow_http=self.webhook_allow_http
        )

    @field_validator("reminder_days", "target_reminder_days")
    @classmethod
    def _positive_and_distinct(cls, days: list[int]) -> list[int]:
        if not days or any(d < 1 or d > 3660 for d in days):
            raise ValueError("give one or more whole numbers of days between 1 and 3660")
        return sorted(set(days), reverse=True)


def settings_of(runtime: Runtime) -> NotificationsSettings:
    settings = runtime.settings
    if not isinstance(settings, NotificationsSettings):  # built by services.notifications.app.create_app
        raise TypeError("the notifications runtime needs NotificationsSettings")
    return settings
