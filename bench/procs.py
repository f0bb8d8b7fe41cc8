"""The services under test, each a `python -m services.<name>` process on a loopback port, and their memory."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from bench.util import free_port

SERVICES = ("registry", "indicators", "notifications")


@dataclass
class ServiceProcess:
    name: str
    port: int
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.popen.pid

    def rss(self) -> int:
        try:
            return int(psutil.Process(self.pid).memory_info().rss)
        except psutil.Error:
            return 0

    def suspend(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)


def start_service(
    name: str,
    env: dict[str, str],
    log_dir: Path,
    *,
    extra: dict[str, str] | None = None,
) -> ServiceProcess:
    port = free_port()
    prefix = name.upper()
    child_env = {
        **os.environ,
        **env,
        f"{prefix}_PORT": str(port),
        f"{prefix}_HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "true",
        **(extra or {}),
    }
    log_path = log_dir / f"{name}.log"
    command = [sys.executable, "-m", f"services.{name}"]
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(command, env=child_env, stdout=log, stderr=subprocess.STDOUT)
    return ServiceProcess(name, port, popen, log_path)


async def wait_ready(proc: ServiceProcess, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log_path}")
            try:
                if (await client.get(proc.url + "/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{proc.name} not ready after {timeout:.0f} s; see {proc.log_path}")


def stop_service(proc: ServiceProcess, timeout: float = 40.0) -> None:
    if proc.popen.poll() is not None:
        return
    proc.popen.send_signal(signal.SIGCONT)  # a service paused for a drain cannot act on SIGTERM
    proc.popen.send_signal(signal.SIGTERM)
    try:
        proc.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.popen.kill()
        proc.popen.wait(timeout=10)


@dataclass
class RssSampler:
    """Samples each service's RSS every `interval` seconds in a thread; `mark()` opens a new phase."""

    procs: dict[str, ServiceProcess]
    interval: float = 0.2
    phase: str = "start"
    peaks: dict[str, dict[str, int]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def mark(self, phase: str) -> None:
        self.phase = phase

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            phase = self.phase
            for name, proc in self.procs.items():
                rss = proc.rss()
                bucket = self.peaks.setdefault(phase, {})
                bucket[name] = max(bucket.get(name, 0), rss)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def peaks_mb(self) -> dict[str, dict[str, float]]:
        return {
            phase: {name: round(rss / 2**20, 1) for name, rss in values.items()} for phase, values in self.peaks.items()
        }
