"""The steps of a Prefect server upgrade, as the tests run them: migrate, read the revision.

`migrate` is what the prefect-server chart's migration Job runs (`prefect server database
upgrade -y`, templates/pre-upgrade-hook.yaml), here with a given Python's Prefect against a
database URL, nothing else set.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.harness.live_server import LiveServer, psql

REPO = Path(__file__).resolve().parents[2]

_FIND_PREFECT = "import importlib.util; print(importlib.util.find_spec('prefect').origin)"


def migrations_head(python: str, dialect: str = "postgresql") -> str:
    """The newest migration revision that `python`'s Prefect ships for `dialect` (read from its
    migration files, without importing Prefect)."""
    found = subprocess.run(
        [python, "-c", _FIND_PREFECT], capture_output=True, text=True, check=True, timeout=60
    )
    versions = Path(found.stdout.strip()).parent / "server/database/_migrations/versions"
    revisions, parents = set(), set()
    for path in (versions / dialect).glob("*.py"):
        text = path.read_text()
        revision = re.search(r'^revision = "(\w+)"', text, re.M)
        if revision:
            revisions.add(revision.group(1))
        parents.update(re.findall(r'^down_revision = "(\w+)"', text, re.M))
    heads = sorted(revisions - parents)
    if len(heads) != 1:
        raise RuntimeError(f"expected one {dialect} migration head in {versions}, found {heads}")
    return heads[0]


def alembic_revision(libpq_url: str) -> str:
    """The revision the database is at (`alembic_version`)."""
    return psql(libpq_url, "SELECT version_num FROM alembic_version").strip()


def row_counts(libpq_url: str) -> dict[str, int]:
    """Rows per table of the database's `public` schema (one query)."""
    sql = (
        "SELECT tablename, (xpath('/row/n/text()', query_to_xml("
        "format('SELECT count(*) AS n FROM public.%I', tablename), false, true, '')))[1]::text "
        "FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    )
    rows = (line.split("|") for line in psql(libpq_url, sql).splitlines() if line)
    return {table: int(count) for table, count in rows}


def migrate(connection_url: str, home: Path, python: str = sys.executable) -> tuple[float, str]:
    """``prefect server database upgrade -y`` on the database, as one separate process.

    Returns (seconds, output); raises with the output if it fails.
    """
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": connection_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    started = time.monotonic()
    result = subprocess.run(
        [python, "-m", "prefect", "server", "database", "upgrade", "-y"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"database upgrade failed ({result.returncode}):\n{output}")
    return seconds, output


def _python(server: LiveServer, python: str, args: list[str], what: str) -> str:
    """Run `python args...` from the repository as a client of `server`; its stdout."""
    result = subprocess.run(
        [python, *args],
        cwd=REPO,
        env={**os.environ, **server.client_env()},
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{what} with {python} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def server_content(server: LiveServer, action: str, python: str = sys.executable) -> Any:
    """Run tests/backup/server_content.py (`populate` or `snapshot`) with `python`'s Prefect
    client against the server; the snapshot as JSON."""
    output = _python(server, python, ["-m", "tests.backup.server_content", action], action)
    return json.loads(output) if action == "snapshot" else None


def run_demo_flow(server: LiveServer, n: int, python: str = sys.executable) -> None:
    """Run the backup content's `demo` flow once (`n` < RUNS - 1 completes) against the server."""
    code = f"from tests.backup.server_content import demo; demo({n})"
    _python(server, python, ["-c", code], "the demo flow")


def server_version(server: LiveServer) -> str:
    """The Prefect version the server reports (`/admin/version`)."""
    response = httpx.get(f"{server.api_url}/admin/version", auth=server.auth, timeout=10)
    response.raise_for_status()
    return str(response.json())
