"""Small helpers shared by the scenarios: percentiles, machine facts, the load average, loopback ports."""

from __future__ import annotations

import math
import os
import platform
import socket
import time
from collections.abc import Sequence
from typing import Any

import psutil


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def ratio(value: float | None, floor: float | None) -> float | None:
    """`value ÷ floor` to three places; None when either is missing or zero (a figure a run did not get)."""
    if not value or not floor:
        return None
    return round(value / floor, 3)


def latency_summary(seconds: Sequence[float]) -> dict[str, Any]:
    """p50/p95/p99/max in milliseconds."""
    return {
        "samples": len(seconds),
        "p50_ms": _ms(percentile(seconds, 50)),
        "p95_ms": _ms(percentile(seconds, 95)),
        "p99_ms": _ms(percentile(seconds, 99)),
        "max_ms": _ms(max(seconds) if seconds else None),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    memory = psutil.virtual_memory()
    cpu_model = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model,
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_total_mb": round(memory.total / 2**20),
        "memory_available_mb_at_start": round(memory.available / 2**20),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def monotonic() -> float:
    return time.perf_counter()


def cpu_seconds_by_process(names: dict[int, str]) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) used so far by each process of interest, with its role: the pids in `names` by
    their name, PostgreSQL's processes as `postgres`, the JVM (Apache Kafka) as `kafka`, this process as `bench`.
    Two snapshots around a step tell where the machine's time went (:func:`cpu_ms_per`)."""
    import psutil  # noqa: PLC0415 - only the benchmark needs it

    found: dict[int, tuple[str, float]] = {}
    me = os.getpid()
    for proc in psutil.process_iter(["name"]):
        name = proc.info["name"] or ""
        role = names.get(proc.pid) or (
            "postgres" if "postgres" in name else "kafka" if "java" in name else "bench" if proc.pid == me else None
        )
        if role is None:
            continue
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        found[proc.pid] = (role, times.user + times.system)
    return found


def cpu_ms_per(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], count: int
) -> dict[str, float]:
    """Milliseconds of CPU per unit of work (e.g. per status report) for each role between two snapshots, process
    by process (a process that started meanwhile counts whole; one that ended meanwhile is not seen)."""
    totals: dict[str, float] = {}
    for pid, (role, seconds) in after.items():
        totals[role] = totals.get(role, 0.0) + seconds - before.get(pid, (role, 0.0))[1]
    return {role: round(1000 * total / max(1, count), 2) for role, total in sorted(totals.items())}
