"""What `/metrics` tells an operator: consumer lag, outbox backlog, dead letters, in either exposition format."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifications.app import create_app as notifications_app
from shared.events.contracts import AgencyV1, ReportSubmissionV1, TargetStatusV1
from shared.infra.stack import Stack
from shared.messaging.consumer import ConsumerRunner
from tests.integration.apps import running
from tests.integration.kafka_helpers import eventually
from tests.integration.test_event_plumbing import plumbing_for, run_until, stop

pytestmark = pytest.mark.integration

OPENMETRICS = "application/openmetrics-text"


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_metrics_answer_openmetrics_when_asked_and_show_dead_letters_from_the_start(
    isolated_env: dict[str, str],
) -> None:
    prefix = isolated_env["HTX_TOPIC_PREFIX"]
    async with running(notifications_app()) as http:
        plain = await http.get("/metrics")
        assert plain.status_code == 200
        assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")

        asked = await http.get("/metrics", headers={"Accept": f"{OPENMETRICS}; version=1.0.0, text/plain;q=0.5"})
        assert asked.status_code == 200
        assert asked.headers["content-type"].startswith(OPENMETRICS)
        assert asked.text.endswith("# EOF\n")  # the OpenMetrics terminator, absent from the text format

        # One dead-letter series per consumed topic, at 0 before any dead letter.
        for contract in (AgencyV1, TargetStatusV1, ReportSubmissionV1):
            line = f'htx_dead_letters_total{{consumer="notifications",topic="{prefix}{contract.topic}"}} 0.0'
            assert line in plain.text, line

        async def backlog_reported() -> bool:
            text = (await http.get("/metrics")).text
            return (
                'htx_outbox_unpublished_rows{service="notifications"}' in text
                and 'htx_outbox_oldest_unpublished_age_seconds{service="notifications"}' in text
            )

        await eventually(backlog_reported, within=10, what="the relay to report the outbox backlog")


async def test_the_relay_reports_the_backlog_count_and_the_age_of_the_oldest_row(
    stack: Stack, engine: AsyncEngine
) -> None:
    async with plumbing_for(stack, engine) as plumbing:
        for i in range(3):
            await plumbing.deposit_with_outbox(f"acct-{i}", 1)
        await asyncio.sleep(0.2)
        relay = plumbing.relay()

        count, age = await relay.measure_backlog()
        assert count == 3
        assert age >= 0.2
        assert sample("htx_outbox_unpublished_rows", service="plumbing") == 3
        assert (sample("htx_outbox_oldest_unpublished_age_seconds", service="plumbing") or 0) >= 0.2

        await relay.publish_pending()
        assert await relay.measure_backlog() == (0, 0.0)
        assert sample("htx_outbox_unpublished_rows", service="plumbing") == 0


async def test_consumer_lag_in_records_and_dead_letters_per_topic(stack: Stack, engine: AsyncEngine) -> None:
    async with plumbing_for(stack, engine) as plumbing:
        for i in range(40):
            await plumbing.deposit_with_outbox(f"acct-{i % 8}", 1)
        await plumbing.deposit_with_outbox("acct-poison", -1)  # the handler refuses it: a dead letter
        await plumbing.relay().publish_pending()

        runner: ConsumerRunner = plumbing.consumer(f"lag-{plumbing.schema}", max_retries=0, max_records=5)
        assert sample("htx_dead_letters_total", consumer="plumbing", topic=plumbing.topic) == 0

        def lag() -> dict[str, float]:
            return {
                str(p): value
                for p in range(4)
                if (
                    value := sample(
                        "htx_consumer_lag_records", consumer="plumbing", topic=plumbing.topic, partition=str(p)
                    )
                )
                is not None
            }

        plumbing.handling_delay = 0.02
        task = await run_until(runner)
        seen_behind = 0.0
        try:

            async def drained() -> bool:
                nonlocal seen_behind
                now = lag()
                seen_behind = max([seen_behind, *now.values()])
                return sum((await plumbing.balances()).values()) == 40 and bool(now) and not any(now.values())

            await eventually(drained, within=60, what="the consumer lag to reach 0 on every partition")
        finally:
            await stop(runner, task)
        assert seen_behind > 0  # while the consumer worked through the backlog, the gauge said so
        assert sample("htx_dead_letters_total", consumer="plumbing", topic=plumbing.topic) == 1
