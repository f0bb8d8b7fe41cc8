"""What every service's ``app.py`` assembles: the runtime (engine, producer, relay, consumers) and the app.

A service describes itself with a :class:`ServiceSpec` — its schema's tables, the events it publishes, its
handler table, its routers — and :func:`build_app` wires the same lifespan for all three, so the start-up
order (schema check → producer → topics → relay → consumers) and the shutdown order are the same everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.auth import TokenVerifier
from shared.clock import Clock, SystemClock
from shared.db import asyncpg_dsn, create_engine, make_sessionmaker
from shared.errors import install_error_handlers
from shared.events.asyncapi import asyncapi_document
from shared.events.contracts import EventPayload
from shared.logs import configure_logging
from shared.messaging.consumer import ConsumerRunner, Subscription
from shared.messaging.kafka import TopicLayout, create_producer, ensure_topics, kafka_reachable
from shared.messaging.outbox import Outbox
from shared.messaging.relay import OutboxRelay
from shared.migrations import assert_schema_current
from shared.openapi import API_PREFIX
from shared.settings import ServiceSettings
from shared.web import RequestContextMiddleware

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a request handler or worker of one service needs, built once in the lifespan."""

    spec: ServiceSpec
    settings: ServiceSettings
    clock: Clock
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer
    outbox: Outbox
    relay: OutboxRelay | None = None
    consumers: list[ConsumerRunner] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def pause(self, seconds: float) -> bool:
        """Sleep between rounds of a worker loop; True when the service is stopping (leave the loop)."""
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True


HandlerTable = Callable[[Runtime], Sequence[Subscription]]
Hook = Callable[[Runtime], Awaitable[None]]


@dataclass
class ServiceSpec:
    name: str
    title: str
    description: str
    metadata: MetaData
    outbox_table: Table
    inbox_table: Table
    publishes: tuple[type[EventPayload], ...] = ()
    consumes: tuple[type[EventPayload], ...] = ()
    handler_table: HandlerTable | None = None
    routers: Sequence[APIRouter] = ()
    on_startup: Sequence[Hook] = ()
    on_shutdown: Sequence[Hook] = ()
    """Run first at shutdown, before the workers are stopped (e.g. to end long-lived HTTP streams)."""
    workers: Sequence[Callable[[Runtime], Coroutine[Any, Any, None]]] = ()
    body_limits: Callable[[ServiceSettings], dict[str, int]] | None = None
    """Per-path request body limits above the service's default (e.g. the file import)."""


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def build_app(
    spec: ServiceSpec,
    settings_factory: Callable[[], ServiceSettings],
    *,
    settings: ServiceSettings | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    cfg = settings or settings_factory()  # built when the app is created, never at import

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(spec.name, cfg.log_level, cfg.log_json)
        app.state.token_verifier = TokenVerifier(cfg.auth)
        engine = create_engine(
            cfg.database_url,
            pool_size=cfg.db_pool_size,
            max_overflow=cfg.db_pool_overflow,
            pool_timeout=cfg.db_pool_timeout_seconds,
            application_name=spec.name,
        )
        await assert_schema_current(engine, spec.name)
        producer = create_producer(cfg.kafka_bootstrap_servers, client_id=f"{spec.name}-producer")
        runtime = Runtime(
            spec=spec,
            settings=cfg,
            clock=clock or SystemClock(),
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            producer=producer,
            outbox=Outbox(spec.outbox_table, spec.name, cfg.topic_prefix),
        )
        app.state.runtime = runtime
        try:
            await _start(runtime)
            _tune_garbage_collector()
            log.info("service started", extra={"port": cfg.port})
            yield
        finally:
            _untune_garbage_collector()
            await _stop(runtime)

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version="1.0.0",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        service=spec.name,
        max_body_bytes=cfg.max_body_bytes,
        route_limits=spec.body_limits(cfg) if spec.body_limits else None,
    )
    # FastAPI tries routes in order (each included router scans its own): the API first, as it takes the traffic.
    for router in spec.routers:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(_operations_router(spec))
    return app


def _tune_garbage_collector() -> None:
    """Tune the garbage collector for a long-running server once start-up is done (docs/performance.md).

    - What start-up built (~150,000 objects: FastAPI's models and routes, SQLAlchemy's metadata and compiled
      statements, pydantic's validators) lives as long as the process, yet every full collection traversed
      it all: 45–100 ms each, twice in 5 s under load, during which the event loop serves nobody. Frozen, a
      full collection takes 3–6 ms.
    - The youngest generation is collected after 5,000 net new container objects instead of 700: one request
      makes and drops more than 700 (rows, JSON, validation), so the collector ran ~50 times a second for
      objects that reference counting frees anyway (~4 % of the registry's CPU under load); with 5,000 it ran
      a few times in ten seconds. Cyclic garbage waits a little longer, which costs a few hundred KB at most.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(_YOUNG_GENERATION_THRESHOLD, older, oldest)


def _untune_garbage_collector() -> None:
    """Back to CPython's defaults at shutdown (tests start many apps in one process)."""
    gc.unfreeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(_DEFAULT_YOUNG_GENERATION_THRESHOLD, older, oldest)


_YOUNG_GENERATION_THRESHOLD = 5_000
_DEFAULT_YOUNG_GENERATION_THRESHOLD = gc.get_threshold()[0]


async def _start(runtime: Runtime) -> None:
    spec, cfg = runtime.spec, runtime.settings
    await _retry("kafka producer", runtime.producer.start)
    topics = [cfg.topic_prefix + p.topic for p in (*spec.publishes, *spec.consumes)]
    if topics:
        layout = TopicLayout(
            partitions=cfg.kafka_topic_partitions,
            replication_factor=cfg.kafka_topic_replication_factor,
            min_insync_replicas=cfg.kafka_topic_min_insync_replicas,
        )
        await _retry("topic creation", lambda: ensure_topics(cfg.kafka_bootstrap_servers, topics, layout=layout))
    for hook in spec.on_startup:
        await hook(runtime)
    if not cfg.run_workers:
        return
    runtime.relay = OutboxRelay(
        service=spec.name,
        table=spec.outbox_table,
        sessionmaker=runtime.sessionmaker,
        producer=runtime.producer,
        listen_dsn=asyncpg_dsn(cfg.database_url),
        batch_size=cfg.relay_batch_size,
        poll_seconds=cfg.relay_poll_seconds,
        min_interval_seconds=cfg.relay_min_interval_seconds,
        retention=timedelta(days=cfg.outbox_retention_days) if cfg.outbox_retention_days else None,
    )
    runtime.outbox.wake = runtime.relay.wake  # commits in this process wake it directly, without a NOTIFY
    runtime.tasks.append(asyncio.create_task(runtime.relay.run(), name=f"{spec.name}-relay"))
    if spec.handler_table is not None:
        subscriptions = [
            Subscription(cfg.topic_prefix + s.topic, s.event_type, s.handler) for s in spec.handler_table(runtime)
        ]
        if subscriptions:
            consumer = ConsumerRunner(
                name=spec.name,
                group_id=cfg.consumer_group or f"htx-{spec.name}",
                bootstrap_servers=cfg.kafka_bootstrap_servers,
                subscriptions=subscriptions,
                sessionmaker=runtime.sessionmaker,
                inbox=spec.inbox_table,
                producer=runtime.producer,
                max_retries=cfg.consumer_max_retries,
                max_records=cfg.consumer_batch_size,
                fetch_max_wait_ms=cfg.consumer_fetch_max_wait_ms,
            )
            runtime.consumers.append(consumer)
            runtime.tasks.append(asyncio.create_task(consumer.run(), name=f"{spec.name}-consumer"))
    for worker in spec.workers:
        runtime.tasks.append(asyncio.create_task(worker(runtime), name=f"{spec.name}-{worker.__name__}"))


async def _stop(runtime: Runtime) -> None:
    runtime.stopping.set()
    for hook in runtime.spec.on_shutdown:
        try:
            await asyncio.wait_for(hook(runtime), timeout=10)
        except Exception:  # one failing hook must not keep the rest of the shutdown from running
            log.warning("shutdown hook %s failed", getattr(hook, "__name__", hook), exc_info=True)
    if runtime.relay is not None:
        runtime.outbox.wake = None  # commits from here on NOTIFY, for another replica's relay
        runtime.relay.stop()
    for consumer in runtime.consumers:
        consumer.stop()
    if runtime.tasks:
        # Give the workers time to finish the record in hand and commit; then cancel what is left.
        _, pending = await asyncio.wait(runtime.tasks, timeout=15)
        for task in pending:
            task.cancel()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(runtime.producer.stop(), timeout=10)
    await runtime.engine.dispose()
    log.info("service stopped")


async def _retry(what: str, action: Callable[[], Awaitable[Any]], attempts: int = 30) -> None:
    """Dependencies may come up after us (or restart); wait for them a bounded while, then fail loudly."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            await action()
            return
        except Exception:
            if attempt == attempts:
                raise
            log.warning("%s failed; retrying", what, exc_info=attempt == 1)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _operations_router(spec: ServiceSpec) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": spec.name}

    @router.get("/readyz", summary="Readiness: PostgreSQL and Kafka reachable", responses={503: {}})
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        checks = {"database": False, "kafka": False}
        if runtime is not None:
            try:
                async with asyncio.timeout(2):
                    async with runtime.engine.connect() as conn:
                        await conn.execute(text("SELECT 1"))
                checks["database"] = True
            except Exception:
                log.info("readiness: database unreachable", exc_info=True)
            checks["kafka"] = await kafka_reachable(runtime.producer)
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
        )

    @router.get(
        "/metrics",
        summary="Prometheus metrics (OpenMetrics when the Accept header asks for it)",
        response_class=PlainTextResponse,
        responses={
            200: {
                "content": {
                    "text/plain": {"schema": {"type": "string"}},
                    "application/openmetrics-text": {"schema": {"type": "string"}},
                }
            }
        },
    )
    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(REGISTRY), media_type=content_type)

    @router.get("/asyncapi.json", summary="AsyncAPI 3.0 document of the events this service uses")
    async def asyncapi() -> dict[str, Any]:
        return asyncapi_document(spec.name, spec.publishes, spec.consumes)

    return router
