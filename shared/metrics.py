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
OUTBOX_UNPUBLISHED = Gauge("htx_outbox_unpublished_rows", "Outbox rows not yet published (the backlog)", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "htx_outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished outbox row (0: none)", ["service"]
)
EVENTS_CONSUMED = Counter("htx_events_consumed_total", "Events handled by a consumer", ["consumer", "outcome"])
CONSUMED_OUTCOMES = ("applied", "duplicate", "dead_lettered")
DEAD_LETTERS = Counter(
    "htx_dead_letters_total", "Records a consumer sent to <topic>.dlq, per original topic", ["consumer", "topic"]
)
CONSUMER_LAG_SECONDS = Gauge(
    "htx_consumer_event_age_seconds", "Age of the last event handled (now - ce_time)", ["consumer"]
)
CONSUMER_LAG_RECORDS = Gauge(
    "htx_consumer_lag_records",
    "Records on a partition not yet handled by the consumer (high watermark - position)",
    ["consumer", "topic", "partition"],
)
