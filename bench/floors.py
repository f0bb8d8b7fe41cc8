"""Scenario 1, the raw floors: what aiokafka, asyncpg and a bare FastAPI endpoint do on this machine, now."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.http import LoadResult, closed_loop
from bench.util import free_port, latency_summary
from shared.db import asyncpg_dsn
from shared.messaging.kafka import ensure_topics
from shared.settings import ServiceSettings


async def kafka_round_trip(bootstrap: str, payload: bytes, *, messages: int, latency_samples: int) -> dict[str, Any]:
    """Produce → consume through one topic: pipelined throughput, then one-at-a-time latency."""
    topic = f"bench.floor.roundtrip.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic], partitions=3, with_dlq=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="latest", enable_auto_commit=False, fetch_max_wait_ms=10
    )
    await producer.start()
    await consumer.start()
    try:
        await consumer.seek_to_end()
        for tp in consumer.assignment():
            await consumer.position(tp)
        received = asyncio.Queue[float]()

        async def pump() -> None:
            while True:
                batches = await consumer.getmany(timeout_ms=100, max_records=1000)
                now = time.perf_counter()
                for records in batches.values():
                    for _ in records:
                        received.put_nowait(now)

        pump_task = asyncio.create_task(pump())
        # Latency: one message at a time.
        latencies = []
        for i in range(latency_samples):
            t0 = time.perf_counter()
            await producer.send_and_wait(topic, value=payload, key=str(i).encode())
            t1 = await asyncio.wait_for(received.get(), timeout=10)
            latencies.append(t1 - t0)
        # Throughput: pipelined sends (the producer batches), until every message is consumed.
        start = time.perf_counter()
        for i in range(messages):
            await producer.send(topic, value=payload, key=str(i).encode())
        last = start
        for _ in range(messages):
            last = await asyncio.wait_for(received.get(), timeout=30)
        seconds = last - start
        pump_task.cancel()
        return {
            "payload_bytes": len(payload),
            "messages": messages,
            "msgs_per_s": round(messages / seconds, 1),
            "round_trip": latency_summary(latencies),
        }
    finally:
        await consumer.stop()
        await producer.stop()


FETCH_MAX_WAIT_MS: int = ServiceSettings.model_fields["consumer_fetch_max_wait_ms"].default
"""The services' fetch wait, so the floor and the consumers fetch alike."""


async def kafka_consume_commit(
    bootstrap: str, start: dict[TopicPartition, int], end: dict[TopicPartition, int]
) -> dict[str, Any]:
    """Drain [start, end) of the given partitions in a fresh group, committing {tp: last+1} after every fetch.

    The clock starts when the first records arrive (and those are not counted): the group's start-up — metadata,
    positions, a first fetch that can wait out `fetch_max_wait_ms` — once swung this floor by a factor of three."""
    group = f"bench-raw-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, fetch_max_wait_ms=FETCH_MAX_WAIT_MS
    )
    await consumer.start()
    try:
        consumer.assign(list(end))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        remaining = {tp: end[tp] for tp in end if end[tp] > start.get(tp, 0)}
        total = sum(end[tp] - start.get(tp, 0) for tp in end)
        count = 0
        t0: float | None = None
        first = 0
        while remaining:
            batches = await consumer.getmany(timeout_ms=500, max_records=200)
            offsets = {}
            for tp, records in batches.items():
                for record in records:
                    json.loads(record.value)  # a consumer at least parses what it reads
                    count += 1
                if records:
                    offsets[tp] = records[-1].offset + 1
                    if offsets[tp] >= remaining.get(tp, 0):
                        remaining.pop(tp, None)
            if offsets:
                await consumer.commit(offsets)
                if t0 is None:
                    t0, first = time.perf_counter(), count
        seconds = time.perf_counter() - (t0 or 0.0)
        return {
            "messages": count,
            "expected": total,
            "seconds": round(seconds, 3),
            "msgs_per_s": round((count - first) / seconds, 1) if count > first else None,
        }
    finally:
        await consumer.stop()


async def asyncpg_inserts(
    database_url: str, payload: dict[str, Any], *, concurrency: int, duration: float
) -> dict[str, Any]:
    """Single-row INSERT transactions (autocommit = one transaction each) from `concurrency` connections."""
    pool = await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=concurrency, max_size=concurrency)
    body = json.dumps(payload)
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_floor (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                " body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
            )
        latencies: list[float] = []
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            async with pool.acquire() as conn:
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    await conn.fetchval("INSERT INTO bench_floor (body) VALUES ($1::jsonb) RETURNING id", body)
                    latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - t0
        return {
            "concurrency": concurrency,
            "inserts": len(latencies),
            "tx_per_s": round(len(latencies) / seconds, 1),
            **latency_summary(latencies),
        }
    finally:
        await pool.close()


class BareApp:
    """The bare FastAPI one-insert endpoint in its own uvicorn process on a loopback port."""

    def __init__(self, database_url: str, log_path: str) -> None:
        self.port = free_port()
        self.database_url = database_url
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        import os

        import httpx

        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "bench.bare_app", str(self.port)],
                env={**os.environ, "DATABASE_URL": self.database_url},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    await client.get(self.url + "/docs")
                    return
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        raise RuntimeError(f"bare app did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(timeout=15)

    async def drive(self, body: dict[str, Any], *, concurrency: int, duration: float) -> LoadResult:
        return await closed_loop(
            self.url, lambda i: ("POST", "/insert", {"json": body}), concurrency=concurrency, duration=duration
        )
