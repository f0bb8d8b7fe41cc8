"""The services as real OS processes (``python -m services.<name>``), for end-to-end and fault tests.

Integration tests run an app in-process; these tests need what only a process gives: a port the test
reaches over real HTTP, SIGKILL at any instruction, several replicas of one consumer group, and a restart
that starts from nothing but the database and the broker.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.auth import mint_token
from shared.settings import AuthSettings

SERVICES = ("registry", "indicators", "notifications")
ALL_SCOPES = "registry:read registry:write indicators:read indicators:admin notifications:read notifications:write"


_PORTS = random.Random()


def free_port() -> int:
    """A free port *below* the kernel's ephemeral range (32768+): a service that is down for a moment must
    find its port still free, not taken as the source port of somebody's outgoing connection."""
    for _ in range(200):
        port = _PORTS.randrange(20_000, 32_000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def token(agency: str = "SNN", scopes: str = ALL_SCOPES) -> str:
    return mint_token(AuthSettings(), agency=agency, scopes=scopes)


def bearer(agency: str = "SNN", scopes: str = ALL_SCOPES) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(agency, scopes)}"}


@dataclass
class ServiceProcess:
    """One process of one service; ``workers=False`` serves the API only (no relay, consumers, schedulers)."""

    service: str
    env: Mapping[str, str]
    log_dir: Path
    label: str = ""
    workers: bool = True
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def __post_init__(self) -> None:
        if self.service not in SERVICES:
            raise ValueError(f"unknown service {self.service!r}")
        self.label = self.label or self.service

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.label}.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> ServiceProcess:
        if self.alive:
            raise RuntimeError(f"{self.label} is already running")
        prefix = self.service.upper()
        env = {
            **os.environ,
            **self.env,
            f"{prefix}_HOST": "127.0.0.1",
            f"{prefix}_PORT": str(self.port),
            f"{prefix}_RUN_WORKERS": "true" if self.workers else "false",
            "PYTHONUNBUFFERED": "1",
        }
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts + 1} of {self.label} =====\n".encode())
            log.flush()
            # Its own session: a SIGKILL of the group leaves nothing behind, and Ctrl-C in the test runner
            # does not reach the service before the harness decides to stop it.
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        return self

    def wait_healthy(self, timeout: float = 90.0) -> ServiceProcess:
        """Until ``/healthz`` answers: the lifespan (schema check, producer, topics, workers) has run."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive:
                raise RuntimeError(f"{self.label} exited during start-up:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.url}/healthz", timeout=2)
                # Ours, not whatever else may answer on this port.
                if response.status_code == 200 and response.json().get("service") == self.service and self.alive:
                    return self
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label} not healthy within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.2)

    def readiness(self) -> int:
        """The status code of ``/readyz`` (0 when the process does not answer at all)."""
        try:
            return httpx.get(f"{self.url}/readyz", timeout=5).status_code
        except httpx.HTTPError:
            return 0

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no final commit, no flush — the crash the design must survive."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait for the graceful shutdown; SIGKILL if it does not come."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self) -> ServiceProcess:
        self.kill()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def errors_logged(self) -> list[str]:
        """Log lines at ERROR level or above (JSON or text logs)."""
        if not self.log_path.exists():
            return []
        markers = ('"level": "error"', '"level": "critical"', " ERROR ", " CRITICAL ")
        text = self.log_path.read_text(errors="replace")
        return [line for line in text.splitlines() if any(m in line for m in markers)]


@dataclass
class System:
    """The three services as processes against one PostgreSQL and one Kafka (a throw-away namespace each)."""

    processes: dict[str, ServiceProcess]

    def __getitem__(self, label: str) -> ServiceProcess:
        return self.processes[label]

    def add(self, process: ServiceProcess) -> ServiceProcess:
        if process.label in self.processes:
            raise ValueError(f"{process.label} already exists")
        self.processes[process.label] = process
        return process

    def __iter__(self) -> Iterator[ServiceProcess]:
        return iter(list(self.processes.values()))

    def start(self, timeout: float = 120.0) -> System:
        for process in self:
            if not process.alive:
                process.start()
        for process in self:
            process.wait_healthy(timeout)
        return self

    def stop(self) -> None:
        for process in self:
            process.stop()


def system_env(database_url: str, bootstrap_servers: str, topic_prefix: str, **extra: str) -> dict[str, str]:
    """What every process of one system shares: infrastructure, topic namespace, the test token key."""
    return {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "HTX_TOPIC_PREFIX": topic_prefix,
        "HTX_JWT_SECRET": os.environ["HTX_JWT_SECRET"],
        "LOG_JSON": "true",
        # The system suites drive one agency far beyond a person's pace; the limits have their own test.
        "REGISTRY_WRITE_LIMIT_PER_MINUTE": "0",
        "NOTIFICATIONS_NOTIFY_LIMIT_PER_MINUTE": "0",
        **extra,
    }
