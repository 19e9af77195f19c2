"""A real Prefect server with basic auth on, for tests.

SQLite in a temporary ``PREFECT_HOME`` by default. When
``PLATFORM_TEST_DATABASE_URL`` names a PostgreSQL server
(``postgresql+asyncpg://user@host:port/db``), a fresh database is created on it
for the session and dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .processes import ManagedProcess, free_port

DATABASE_URL_ENV = "PLATFORM_TEST_DATABASE_URL"
_DB_PREFIX = "prefect_test_"


def client_env(api_url: str, auth_string: str, home: Path) -> dict[str, str]:
    """Settings a Prefect client (flow, CLI, worker) needs to reach the server."""
    return {
        "PREFECT_API_URL": api_url,
        "PREFECT_API_AUTH_STRING": auth_string,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }


@dataclass
class LiveServer:
    """A running Prefect server and what a client needs to talk to it."""

    api_url: str
    auth_string: str
    database: str
    home: Path
    process: ManagedProcess = field(repr=False)
    _drop_database: str | None = field(default=None, repr=False)

    @property
    def auth(self) -> tuple[str, str]:
        """(user, password) for httpx and requests."""
        user, _, password = self.auth_string.partition(":")
        return user, password

    def client_env(self, home: Path | None = None) -> dict[str, str]:
        """Environment for a client process of this server (see `client_env`)."""
        return client_env(self.api_url, self.auth_string, home or self.home / "client")

    def stop(self) -> None:
        """Stop the server and drop its PostgreSQL database, if it made one."""
        self.process.stop()
        if self._drop_database:
            psql(self._drop_database, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def start_prefect_server(workdir: Path, database_url: str | None = None) -> LiveServer:
    """Start ``prefect server start`` on a free loopback port and wait until healthy.

    On SQLite in its home folder, or on a fresh database of `database_url`'s PostgreSQL
    server (dropped when the server stops).
    """
    drop_url: str | None = None
    if database_url:
        database, drop_url = _create_database(database_url)
        connection_url = _with_database(database_url, database)
    else:
        database = str(workdir / "prefect-home" / "prefect.db")
        connection_url = f"sqlite+aiosqlite:///{database}"
    return serve_database(workdir, connection_url, database, drop_url=drop_url)


def serve_database(
    workdir: Path,
    connection_url: str,
    database: str,
    *,
    drop_url: str | None = None,
    settings: Mapping[str, str] | None = None,
    python: str = sys.executable,
    extra_args: Sequence[str] = (),
) -> LiveServer:
    """``prefect server start`` (basic auth on) on `connection_url`, once healthy.

    Args:
        workdir: the server's home folder and log go below it.
        connection_url: the SQLAlchemy URL of a database that exists.
        database: its name (or SQLite file), as `LiveServer.database`.
        drop_url: drop the database through this admin URL when the server stops.
        settings: extra server settings (environment variables).
        python: the interpreter whose Prefect serves (another version's venv, say).
        extra_args: more arguments of ``prefect server start`` (``--no-services``).
    """
    home = workdir / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    auth_string = f"admin:{secrets.token_urlsafe(24)}"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_API_AUTH_STRING": auth_string,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": connection_url,
        **(settings or {}),
    }
    for stale in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING"):
        env.pop(stale, None)
    argv = [python, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    process = ManagedProcess(
        "prefect-server",
        [*argv, "--port", str(port), *extra_args],
        env=env,
        log_path=workdir / "prefect-server.log",
        stop_signal=signal.SIGTERM,
    )
    server = LiveServer(
        api_url=f"http://127.0.0.1:{port}/api",
        auth_string=auth_string,
        database=database,
        home=home,
        process=process,
        _drop_database=drop_url,
    )
    try:
        process.wait_for_http(f"{server.api_url}/health", 120, lambda code: code == 200)
    except BaseException:
        server.stop()
        raise
    return server


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def psql(url: str, sql: str) -> str:
    """Run one SQL statement with psql (a plain libpq URL, no ~/.psqlrc) and return its output."""
    result = subprocess.run(
        ["psql", "-X", url, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"psql failed on {sql!r}: {result.stderr.strip()}")
    return result.stdout


def _create_database(database_url: str) -> tuple[str, str]:
    """Create a fresh database for this session; drop ones left by dead sessions."""
    parts = urlsplit(database_url)
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    for name in psql(admin_url, "SELECT datname FROM pg_database").split():
        if name.startswith(_DB_PREFIX) and not _pid_alive(int(name.split("_")[2])):
            psql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    database = f"{_DB_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    psql(admin_url, f'CREATE DATABASE "{database}"')
    return database, admin_url


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
