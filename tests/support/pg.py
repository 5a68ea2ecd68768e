"""Where the PostgreSQL tests get a server: TEST_DATABASE_URL, else a throwaway local cluster.

Each test run creates its own database on that server and drops it at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from tests.support.harness import free_port
from webapp.config import sqlalchemy_url


class PostgresUnavailable(Exception):
    pass


class ThrowawayCluster:
    """initdb + pg_ctl from the local binaries; run as `postgres` when we are root."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = shutil.which("initdb") or (bins[-1] if bins else None)
        if not initdb:
            raise PostgresUnavailable("no PostgreSQL binaries (initdb) found and TEST_DATABASE_URL is unset")
        self.bindir = os.path.dirname(initdb)
        self.dir = tempfile.mkdtemp(prefix="pgtest-")
        self.port = free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            self.prefix = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U", "postgres", "--no-sync")
        self._run(
            "pg_ctl",
            "-D",
            f"{self.dir}/data",
            "-w",
            "-l",
            f"{self.dir}/log",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.prefix, os.path.join(self.bindir, tool), *args], check=True, capture_output=True)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", f"{self.dir}/data", "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


class TestDatabase:
    """A database of our own on whichever server we found."""

    def __init__(self):
        self.cluster = None
        server = os.environ.get("TEST_DATABASE_URL")
        if not server:
            self.cluster = ThrowawayCluster()
            server = self.cluster.url
        self.server = server = sqlalchemy_url(server)
        self.name = f"checkout_test_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        deadline = time.monotonic() + 20
        while True:
            try:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
                break
            except sa.exc.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(f"cannot reach PostgreSQL at {server}: {exc}") from exc
                time.sleep(0.5)
        admin.dispose()
        self.url = _with_database(server, self.name)

    def new_database(self, suffix: str) -> str:
        """Another empty database on the same server (dropped with this one)."""
        name = f"{self.name}_{suffix}"
        admin = sa.create_engine(self.server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self._extra = [*getattr(self, "_extra", []), name]
        return _with_database(self.server, name)

    def drop(self) -> None:
        admin = sa.create_engine(self.server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in [self.name, *getattr(self, "_extra", [])]:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if self.cluster:
            self.cluster.stop()
