"""A closed-loop HTTP load driver: `concurrency` workers send back-to-back requests for `duration` seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.util import latency_summary

RequestFactory = Callable[[int], tuple[str, str, dict[str, Any]]]  # i → (method, path, httpx kwargs)


@dataclass
class LoadResult:
    concurrency: int
    seconds: float
    ok: int
    errors: int
    latencies: list[float]
    statuses: dict[int, int]

    def summary(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 2),
            "requests_ok": self.ok,
            "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "req_per_s": round(self.ok / self.seconds, 1) if self.seconds else None,
            **latency_summary(self.latencies),
        }


async def closed_loop(
    base_url: str,
    factory: RequestFactory,
    *,
    concurrency: int,
    duration: float,
    max_requests: int = 1_000_000,
    ok_status: int = 201,
) -> LoadResult:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = 0
    errors = 0
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:
        # One warm-up request per connection, not counted.
        await asyncio.gather(*(_send(client, factory(-1 - i)) for i in range(concurrency)), return_exceptions=True)
        start = time.perf_counter()
        deadline = start + duration

        async def worker() -> None:
            nonlocal counter, errors
            while time.perf_counter() < deadline and counter < max_requests:
                counter += 1
                request = factory(counter)
                t0 = time.perf_counter()
                try:
                    status = await _send(client, request)
                except httpx.HTTPError:
                    errors += 1
                    continue
                elapsed = time.perf_counter() - t0
                statuses[status] = statuses.get(status, 0) + 1
                if status == ok_status:
                    latencies.append(elapsed)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    return LoadResult(concurrency, seconds, len(latencies), errors, latencies, statuses)


async def _send(client: httpx.AsyncClient, request: tuple[str, str, dict[str, Any]]) -> int:
    method, path, kwargs = request
    response = await client.request(method, path, **kwargs)
    return response.status_code
