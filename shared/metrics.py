"""Prometheus metrics shared by the services (exposed at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Histogram(
    "htx_http_request_seconds",
    "HTTP request latency",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_PUBLISHED = Counter("htx_outbox_published_total", "Outbox rows published to Kafka", ["service"])
OUTBOX_FAILURES = Counter("htx_outbox_publish_failures_total", "Failed relay passes", ["service"])
EVENTS_CONSUMED = Counter("htx_events_consumed_total", "Events handled by a consumer", ["consumer", "outcome"])
CONSUMER_LAG_SECONDS = Gauge(
    "htx_consumer_event_age_seconds", "Age of the last event handled (now - ce_time)", ["consumer"]
)
