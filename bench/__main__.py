"""`python -m bench [--quick] [--only ...] [--profile]`: run the benchmark, print the table, write the results.

Starts its own throw-away PostgreSQL + Kafka (shared.infra.stack, like the tests), migrates, runs the three
services as separate processes on loopback ports, runs the scenarios and writes
`bench/results/<UTC timestamp>[-quick].json` and `.md`. Every loop is bounded by a duration or a count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import floors, report, scenarios
from bench.profile import summarize
from bench.system import System, seed_cooperatives, start_system, stop_system
from bench.util import load_average, machine
from bench.workload import cooperative_status_event, record_of

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("floors", "write", "consumers", "e2e", "scale")

QUICK: dict[str, Any] = {
    "per_district": 6,
    "round_trip_messages": 2000,
    "latency_samples": 100,
    "pg_seconds": 2.0,
    "concurrencies": [1, 8, 32],
    "write_seconds": 4.0,  # per side, in `write_rounds` turns
    "write_rounds": 4,
    "drain_events": 1000,
    "drain_events_notifications": 300,
    "rates": [50, 200],
    "e2e_seconds": 6.0,
    "sizes": [1_000, 10_000],
    "import_rows": 500,
    "incremental_samples": 15,
    # Seconds each scenario may take at most (its waits are cut to fit); the whole run stays under 3 minutes.
    "budgets": {"catch_up": 15, "consumers": 30, "e2e": 40, "scale": 50},
}
FULL: dict[str, Any] = {
    "per_district": 20,
    "round_trip_messages": 10_000,
    "latency_samples": 300,
    "pg_seconds": 5.0,
    "concurrencies": [1, 4, 16, 64],
    # Per side, in `write_rounds` turns of 3 s. With 4 turns of 2 s, runs of the same code read a row's median
    # up to ±5 points apart: one slow second weighed on a whole turn. ~2 minutes more per run.
    "write_seconds": 24.0,
    "write_rounds": 8,
    "drain_events": 4000,
    "drain_events_notifications": 3000,
    "rates": [50, 200, 500],
    "e2e_seconds": 15.0,
    "sizes": [1_000, 10_000, 100_000],
    "import_rows": 2000,
    "incremental_samples": 30,
    # Seconds each scenario may take at most (its waits are cut to fit); the whole run stays under 20 minutes.
    "budgets": {"catch_up": 60, "consumers": 240, "e2e": 240, "scale": 420},
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller and shorter (< 3 min)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, help="run only these scenarios")
    parser.add_argument(
        "--profile", action="store_true", help="profile the services with py-spy while they drain (summary saved)"
    )
    parser.add_argument("--no-save", action="store_true", help="print only; write no results file")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = QUICK if args.quick else FULL
    chosen = set(args.only or SCENARIOS)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {
        "started_at": stamp,
        "quick": args.quick,
        "command": "python -m bench " + shlex.join(sys.argv[1:]),
        "config": cfg,
        "machine": machine(),
        "load_average": {"start": load_average()},
    }
    # Repeats of a step with py-spy attached (--profile), kept apart from the measured figures and the targets.
    profiled: dict[str, Any] = {}
    if args.profile:
        results["profiled_repeats"] = profiled
    workdir = Path(tempfile.mkdtemp(prefix="htx-bench-"))
    started = time.perf_counter()
    print(f"load average at start: {results['load_average']['start']}", flush=True)
    system = await start_system(workdir)
    if args.profile:
        system.profile_dir = workdir
    try:
        pg_version = await system.sql("SHOW server_version")
        results["infra"] = {
            "kafka": f"{system.stack.kafka.impl} {system.stack.kafka.version}",
            "postgres": f"{system.stack.postgres.impl} {pg_version}",
            "service_logs": str(workdir),
        }
        print(f"infra: {results['infra']}", flush=True)
        await seed_cooperatives(system, cfg["per_district"])
        await system.wait_drained(timeout=120)
        sample = cooperative_status_event(random.Random(1), system_uuid(), 3, "926")
        _, payload, _, _ = record_of(sample, "registry")
        body = json.loads(payload)["status"]

        if "floors" in chosen or "write" in chosen:
            print("1. raw floors", flush=True)
            f: dict[str, Any] = {}
            f["kafka_round_trip"] = await floors.kafka_round_trip(
                system.bootstrap, payload, messages=cfg["round_trip_messages"], latency_samples=cfg["latency_samples"]
            )
            for c in (1, 10):
                f[f"asyncpg_insert_c{c}"] = await floors.asyncpg_inserts(
                    system.database_url, body, concurrency=c, duration=cfg["pg_seconds"]
                )
            results["floors"] = f
            print(f"  {json.dumps(f)}", flush=True)
        settled: dict[str, float] = results.setdefault("settle_s", {})
        if "write" in chosen:
            print("2. write path", flush=True)
            settled["write"] = await system.settle()
            bare = floors.BareApp(system.database_url, str(workdir / "bare_app.log"))
            await bare.start()
            try:
                if system.sampler:
                    system.sampler.mark("write-path")
                results["write_path"] = await scenarios.write_path(
                    system,
                    bare,
                    concurrencies=cfg["concurrencies"],
                    duration=cfg["write_seconds"],
                    rounds=cfg["write_rounds"],
                    catch_up=cfg["budgets"]["catch_up"],
                )
            finally:
                bare.stop()
        if "consumers" in chosen:
            print("consumers draining a pre-filled topic", flush=True)
            settled["consumers"] = await system.settle()
            await _guarded(results, "consumers", _consumer_drain(system, cfg))
        if "e2e" in chosen:
            print("3. end to end", flush=True)
            settled["e2e"] = await system.settle()
            await _guarded(
                results,
                "end_to_end",
                scenarios.end_to_end(
                    system, rates=cfg["rates"], duration=cfg["e2e_seconds"], budget=cfg["budgets"]["e2e"]
                ),
            )
            results["end_to_end_max_sustained"] = scenarios.max_sustained(results.get("end_to_end") or [])
            print(f"  max sustained: {results['end_to_end_max_sustained']}", flush=True)
        if args.profile:
            # After every measured step that they could disturb (the sampler's CPU, the repeats' own writes),
            # before the scale scenario replaces the projection with its bulk-loaded sizes.
            await _profiled_repeats(system, cfg, chosen, profiled)
        if "scale" in chosen:
            print("4. scale", flush=True)
            await _guarded(
                results,
                "scale",
                scenarios.scale(
                    system,
                    sizes=cfg["sizes"],
                    import_rows=cfg["import_rows"],
                    incremental_samples=cfg["incremental_samples"],
                    budget=cfg["budgets"]["scale"],
                ),
            )
        results["inbox_messages"] = await system.sql("SELECT count(*) FROM notifications.inbox_messages")
        results["dead_letters_note"] = "see service logs for 'event sent to DLQ'"
    finally:
        await system.kafka.close()
        if system.sampler:
            results["peak_rss_mb"] = system.sampler.peaks_mb()
        await asyncio.to_thread(stop_system, system)
    results["duration_s"] = round(time.perf_counter() - started, 1)
    results["load_average"]["end"] = load_average()
    results["targets"] = report.targets(results)
    results["ratios"] = report.ratios(results)
    if args.profile:
        results["profiles"] = {
            f"{service} draining": summarize(workdir / f"{service}-drain.raw")
            for service in ("indicators", "notifications")
        }
        if (workdir / "registry-e2e-200.raw").exists():
            results["profiles"]["registry taking 200 reports/s (end to end)"] = summarize(
                workdir / "registry-e2e-200.raw"
            )
    return results


def _consumer_drain(system: System, cfg: dict[str, Any], *, profile: bool = False) -> Coroutine[Any, Any, Any]:
    return scenarios.consumer_drain(
        system,
        events=cfg["drain_events"],
        notification_events=cfg["drain_events_notifications"],
        budget=cfg["budgets"]["consumers"],
        profile=profile,
    )


async def _profiled_repeats(system: System, cfg: dict[str, Any], chosen: set[str], profiled: dict[str, Any]) -> None:
    """--profile: repeat the steps to profile with py-spy attached; their figures are kept apart from the
    measured ones and never used for a target (on 2 cores the sampler's CPU changes them)."""
    if "e2e" in chosen:
        print("profiled repeat: end to end at 200/s, py-spy on the registry (not used for the targets)", flush=True)
        await _guarded(
            profiled,
            "end_to_end",
            scenarios.end_to_end(
                system, rates=[200], duration=cfg["e2e_seconds"], budget=cfg["e2e_seconds"] + 60, profile=True
            ),
        )
    if "consumers" in chosen:
        print("profiled repeat: consumers draining, py-spy on each (not used for the targets)", flush=True)
        await _guarded(profiled, "consumers", _consumer_drain(system, cfg, profile=True))


async def _guarded(results: dict[str, Any], key: str, scenario: Coroutine[Any, Any, Any]) -> None:
    """A scenario that fails is recorded as failed (with its traceback); the others still run."""
    try:
        results[key] = await scenario
    except Exception:
        results.setdefault("errors", {})[key] = traceback.format_exc()
        print(f"  {key} FAILED:\n{results['errors'][key]}", flush=True)


def system_uuid() -> Any:
    import uuid

    return uuid.uuid4()


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    results = asyncio.run(run(args))
    text = report.markdown(results)
    print()
    print(text)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = results["started_at"] + ("-quick" if args.quick else "")
        (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        for service, summary in results.get("profiles", {}).items():
            text += f"\n## Profile: {service} (py-spy)\n\n```\n{summary}```\n"
        (RESULTS / f"{name}.md").write_text(text)
        print(f"results: bench/results/{name}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
