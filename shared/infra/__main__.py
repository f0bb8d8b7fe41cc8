"""Developer commands behind the Makefile.

python -m shared.infra run       start PostgreSQL + Kafka, migrate, seed, run the three services
python -m shared.infra migrate   start PostgreSQL (if needed) and upgrade every service schema
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import httpx

from shared.infra.stack import start_stack
from shared.migrations import upgrade_all

SERVICES = (("registry", 8001), ("indicators", 8002), ("notifications", 8003))
log = logging.getLogger("htx.run")


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def migrate() -> int:
    stack = start_stack(persistent=True)
    try:
        upgrade_all(stack.database_url)
        _say("migrations applied")
    finally:
        stack.stop()
    return 0


def run() -> int:
    stack = start_stack(persistent=True)
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def shutdown(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        upgrade_all(stack.database_url)
        env = {**os.environ, **stack.env()}
        env.setdefault("REGISTRY_SEED_DEMO", "true")  # a realistic demo registry, seeded once into an empty one
        for name, _port in SERVICES:
            children.append(subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=env))
        _wait_healthy(children)
        _say("\nHTX Monitor is running:")
        for name, port in SERVICES:
            _say(f"  {name:<14} http://127.0.0.1:{port}/docs")
        _say("Mint a token with:  make token AGENCY=SNN\nPress Ctrl-C to stop.\n")
        while not stopping:
            if any(child.poll() is not None for child in children):
                _say("a service exited; stopping everything")
                break
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=25)
            except subprocess.TimeoutExpired:
                child.kill()
        stack.stop()
        _say("stopped")
    return 0


def _wait_healthy(children: list[subprocess.Popen[bytes]], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    for _name, port in SERVICES:
        while True:
            if any(child.poll() is not None for child in children):
                raise RuntimeError("a service exited during start-up; see its log above")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"service on port {port} did not become healthy within {timeout:.0f}s")
            time.sleep(0.3)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m shared.infra", description=__doc__)
    parser.add_argument("command", choices=["run", "migrate"])
    args = parser.parse_args()
    return run() if args.command == "run" else migrate()


if __name__ == "__main__":
    raise SystemExit(main())
