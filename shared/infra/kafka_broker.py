"""The handle on one local Kafka broker process: spawn it, wait until clients can use it, stop or kill it.

How to start each kind of broker lives beside this module (``kafka_apache``, ``kafka_tansu``); the handle only
knows a command line, a working directory and a log file, so both kinds share one lifecycle.

Every broker runs in its own process group, so :meth:`KafkaBroker.stop` / :meth:`KafkaBroker.kill` leave no
orphan behind; brokers still running when the interpreter exits are stopped by an ``atexit`` hook.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from shared.infra.kafka_ready import probe

log = logging.getLogger(__name__)

#: How long a broker may take to become ready (see :mod:`shared.infra.kafka_ready`) after being spawned.
READY_TIMEOUT_S = 90.0
#: How long :meth:`KafkaBroker.stop` waits after SIGTERM before it sends SIGKILL.
STOP_TIMEOUT_S = 20.0
#: Every local broker listens on loopback only.
HOST = "127.0.0.1"

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


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
        return tail(self.log_path, lines)

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
                error = probe(
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


def free_port(avoid: set[int] | None = None) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if not avoid or port not in avoid:
            return port
    raise RuntimeError("could not find a free TCP port on 127.0.0.1")


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _first_host_port(bootstrap_servers: str) -> tuple[str, int]:
    first = bootstrap_servers.split(",")[0].strip()
    if "://" in first:
        first = first.split("://", 1)[1]
    host, _, port = first.rpartition(":")
    return (host.strip("[]") or HOST), int(port or 9092)


def _tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.is_file():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 16384))
        text = _ANSI_ESCAPE.sub("", fh.read().decode("utf-8", errors="replace"))
    return "\n".join(line for line in text.splitlines()[-lines:] if line.strip())
