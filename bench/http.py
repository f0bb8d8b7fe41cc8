"""A closed-loop HTTP load driver: `concurrency` workers send back-to-back requests for `duration` seconds.

The driver is aiohttp, not httpx: on this machine an httpx client against a trivial FastAPI endpoint managed
505 req/s at concurrency 1 and *71* at 64 (its connection pool costs grow with concurrency), aiohttp 1,432 and
3,710 — with httpx every figure above a handful of connections measured the client, not the service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.util import latency_summary

RequestFactory = Callable[[int], tuple[str, str, dict[str, Any]]]  # i → (method, path, kwargs: json, headers)


@dataclass
class LoadResult:
    concurrency: int
    seconds: float
    ok: int
    errors: int
    latencies: list[float]
    statuses: dict[int, int]

    @staticmethod
    def merged(results: list[LoadResult]) -> LoadResult:
        """Several runs at one concurrency as one: their requests, errors and latencies over their summed time."""
        statuses: dict[int, int] = {}
        for result in results:
            for status, count in result.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
        return LoadResult(
            results[0].concurrency,
            sum(r.seconds for r in results),
            sum(r.ok for r in results),
            sum(r.errors for r in results),
            [latency for r in results for latency in r.latencies],
            statuses,
        )

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
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = 0
    errors = 0
    async with client_session(base_url, connections=concurrency) as client:
        # One warm-up request per connection, not counted.
        await asyncio.gather(*(send(client, factory(-1 - i)) for i in range(concurrency)), return_exceptions=True)
        start = time.perf_counter()
        deadline = start + duration

        async def worker() -> None:
            nonlocal counter, errors
            while time.perf_counter() < deadline and counter < max_requests:
                counter += 1
                request = factory(counter)
                t0 = time.perf_counter()
                try:
                    status = await send(client, request)
                except (aiohttp.ClientError, TimeoutError):
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


def client_session(
    base_url: str, *, connections: int, headers: dict[str, str] | None = None, timeout: float = 30.0
) -> aiohttp.ClientSession:
    """A keep-alive session with at most `connections` connections to `base_url`."""
    return aiohttp.ClientSession(
        base_url,
        connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections),
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=timeout),
    )


async def send(client: aiohttp.ClientSession, request: tuple[str, str, dict[str, Any]]) -> int:
    """Send one request, read its whole answer, return the status."""
    method, path, kwargs = request
    async with client.request(method, path, **kwargs) as response:
        await response.read()
        return response.status
