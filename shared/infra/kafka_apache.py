"""Apache Kafka 4.x as a local single-node KRaft broker (combined broker+controller), run from Maven jars.

The jars listed in ``deploy/kafka/pom.xml`` are fetched once with ``mvn`` into
``${HTX_CACHE_DIR:-~/.cache/htx-monitor}/kafka-<version>/libs`` (outside git). Config, data and ``kafka.log``
live under ``<workdir>/kafka``; the data survives :meth:`KafkaBroker.stop` / :meth:`KafkaBroker.start`.
``HTX_KAFKA_VERSION`` overrides the version (default :data:`DEFAULT_KAFKA_VERSION`; its broker needs Java 17+).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from shared.infra.kafka_broker import HOST, KafkaBroker, free_port, tail

log = logging.getLogger(__name__)

#: Apache Kafka release used unless ``HTX_KAFKA_VERSION`` says otherwise (its broker needs Java 17+).
DEFAULT_KAFKA_VERSION = "4.1.1"
#: Upper bound for the one-off ``mvn dependency:copy-dependencies`` run.
MVN_TIMEOUT_S = 900.0

_REPO_ROOT = Path(__file__).resolve().parents[2]
_POM = _REPO_ROOT / "deploy" / "kafka" / "pom.xml"
_JVM_OPTS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

_LOG4J2_PROPERTIES = """\
# Written by shared/infra/kafka_apache.py: everything goes to stdout, which is redirected to kafka.log.
status = warn
name = htx-local-kafka
# Kafka logs its own shutdown; log4j's hook would only race it ("Unable to register Log4j shutdown hook").
shutdownHook = disable
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
"""


def start_apache(workdir: Path, port: int | None) -> KafkaBroker:
    java = shutil.which("java")
    mvn = shutil.which("mvn")
    if java is None or mvn is None:
        raise RuntimeError("Apache Kafka needs `java` (17+) and `mvn` on PATH")
    version = os.environ.get("HTX_KAFKA_VERSION", "").strip() or DEFAULT_KAFKA_VERSION
    kdir = workdir / "kafka"
    data_dir = kdir / "data"
    kdir.mkdir(parents=True, exist_ok=True)
    log_path = kdir / "kafka.log"

    libs = _ensure_kafka_libs(version, mvn, kdir / "mvn.log")

    port = port or free_port()
    controller_port = free_port(avoid={port})
    config = kdir / "server.properties"
    config.write_text(_server_properties(port, controller_port, data_dir))
    log4j = kdir / "log4j2.properties"
    log4j.write_text(_LOG4J2_PROPERTIES)
    java_base = [java, *_JVM_OPTS, f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*"]

    if not (data_dir / "meta.properties").is_file():
        cluster_id = _cluster_id()
        with log_path.open("ab") as out:
            out.write(f"\n===== formatting {data_dir} (cluster id {cluster_id})\n".encode())
            out.flush()
            fmt = subprocess.run(
                [*java_base, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)],
                cwd=kdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=180,
                check=False,
            )
        if fmt.returncode != 0:
            raise RuntimeError(
                f"kafka storage format failed (exit {fmt.returncode}); log {log_path}:\n{tail(log_path)}"
            )

    log.info("starting Apache Kafka %s (KRaft) on %s:%d; log: %s", version, HOST, port, log_path)
    broker = KafkaBroker(
        bootstrap_servers=f"{HOST}:{port}",
        impl="apache",
        version=version,
        log_path=log_path,
        _argv=[*java_base, "kafka.Kafka", str(config)],
        _cwd=kdir,
    )
    broker.start()
    return broker


def _server_properties(port: int, controller_port: int, data_dir: Path) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "3",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # After a SIGKILL the restarted broker is refused (DUPLICATE_BROKER_REGISTRATION) until the old
        # registration's session expires: 9 s by default, shortened for kill/restart tests.
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "1000",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
    }
    lines = ["# Written by shared/infra/kafka_apache.py for a local single-node KRaft broker."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def _cache_root() -> Path:
    configured = os.environ.get("HTX_CACHE_DIR", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "htx-monitor"


def _ensure_kafka_libs(version: str, mvn: str, mvn_log: Path) -> Path:
    """Return the directory holding the Kafka ``version`` jars, fetching them with Maven when needed.

    A ``.complete`` stamp (naming the version and a hash of the pom) is written only after a successful
    copy, so an interrupted download is redone; a file lock keeps parallel test runs from racing.
    """
    if not _POM.is_file():
        raise RuntimeError(f"{_POM} is missing: cannot fetch the Apache Kafka jars")
    base = _cache_root() / f"kafka-{version}"
    libs = base / "libs"
    stamp = base / ".complete"
    want = f"{version} {hashlib.sha256(_POM.read_bytes()).hexdigest()}"
    marker = f"kafka_2.13-{version}.jar"

    def ready() -> bool:
        return stamp.is_file() and stamp.read_text().strip() == want and (libs / marker).is_file()

    if ready():
        return libs
    base.mkdir(parents=True, exist_ok=True)
    with (base / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready():
            return libs
        stamp.unlink(missing_ok=True)
        shutil.rmtree(libs, ignore_errors=True)
        log.info("fetching Apache Kafka %s jars with Maven into %s (once; log: %s)", version, libs, mvn_log)
        cmd = [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(_POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            f"-Dkafka.version={version}",
            "-DincludeScope=runtime",
        ]
        started = time.monotonic()
        with mvn_log.open("wb") as out:
            try:
                result = subprocess.run(
                    cmd,
                    cwd=_POM.parent,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=MVN_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise RuntimeError(f"mvn did not finish within {MVN_TIMEOUT_S:.0f}s; log {mvn_log}") from exc
        if result.returncode != 0 or not (libs / marker).is_file():
            raise RuntimeError(
                f"mvn could not fetch Apache Kafka {version} (exit {result.returncode}); "
                f"log {mvn_log}:\n{tail(mvn_log)}"
            )
        stamp.write_text(want + "\n")
        log.info("fetched Apache Kafka %s jars in %.1fs", version, time.monotonic() - started)
    return libs


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64. Like Kafka's own `Uuid.randomUuid()` it never
    starts with '-', which the storage tool's argument parser would take for an option (about 1 id in 64
    would, and the format then fails with "argument --cluster-id/-t: expected one argument")."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate
