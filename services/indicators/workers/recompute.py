"""`python -m services.indicators.workers.recompute` (also `make recompute`): rebuild every plan's values from
the projection and report where the incremental path differed (expected: nowhere). Exit status 1 on any
difference, so it can run as a scheduled check."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from services.indicators.db.models import outbox
from services.indicators.domain.engine import recompute_all
from services.indicators.settings import IndicatorsSettings
from shared.clock import SystemClock
from shared.db import create_engine, make_sessionmaker
from shared.messaging.outbox import Outbox
from shared.migrations import assert_schema_current


async def run(*, publish: bool) -> int:
    settings = IndicatorsSettings()
    engine = create_engine(settings.database_url, pool_size=2, application_name="indicators-recompute")
    try:
        await assert_schema_current(engine, "indicators")
        writer = Outbox(outbox, "indicators", settings.topic_prefix) if publish else None
        async with make_sessionmaker(engine)() as session, session.begin():
            reports = await recompute_all(session, writer, SystemClock())
    finally:
        await engine.dispose()
    differences = 0
    for report in reports:
        differences += len(report.differences)
        line = {
            "plan": report.plan_code,
            "cooperatives": report.cooperatives,
            "values": report.values,
            "differences": report.differences,
        }
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    return 1 if differences else 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.indicators.workers.recompute", description=__doc__)
    parser.add_argument(
        "--no-publish", action="store_true", help="do not publish events for corrected values (a dry check)"
    )
    args = parser.parse_args()
    return asyncio.run(run(publish=not args.no_publish))


if __name__ == "__main__":
    raise SystemExit(main())
