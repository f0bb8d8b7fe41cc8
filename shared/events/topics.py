"""Kafka topic names. ``<service>.<what>.v<N>``: the suffix changes when the payload changes incompatibly."""

from __future__ import annotations

COOPERATIVE_STATUS = "registry.cooperative-status.v1"
ORG_UNITS = "registry.org-units.v1"
AGENCIES = "registry.agencies.v1"
REPORT_SUBMISSIONS = "registry.report-submissions.v1"
INDICATOR_VALUES = "indicators.indicator-values.v1"
TARGET_STATUS = "indicators.target-status.v1"
ALERTS = "notifications.alerts.v1"

ALL_TOPICS = (
    COOPERATIVE_STATUS,
    ORG_UNITS,
    AGENCIES,
    REPORT_SUBMISSIONS,
    INDICATOR_VALUES,
    TARGET_STATUS,
    ALERTS,
)

DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    """Where a consumer parks the messages of `topic` it cannot process."""
    return topic + DLQ_SUFFIX
