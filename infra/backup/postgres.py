"""`pg_dump`, `pg_restore` and `psql` on a `Database`, connection details in the environment."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

from infra.backup.connection import BackupError, Database

CLEAN_SQL = "DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"
"""What `restore --force` runs first, in the same transaction as the restore."""

_TABLES_SQL = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"
)


def tool(name: str) -> str:
    """The path of a PostgreSQL client program.

    Raises:
        BackupError: it is not on PATH.
    """
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not on PATH: install the PostgreSQL client tools (Debian: "
            "postgresql-client), of a major version at least the server's"
        )
    return path


def _failure(database: Database, what: str, stderr: str) -> BackupError:
    """`what` (it names `{db}`, the database) failed, with the tool's message, password scrubbed."""
    detail = database.scrub(stderr.strip()) or "no message"
    return BackupError(f"{what.format(db=database.display)}: {detail}")


def query(database: Database, sql: str) -> list[str]:
    """Run one SQL statement with psql; its output lines.

    Raises:
        BackupError: the database is unreachable or the statement fails.
    """
    result = subprocess.run(
        [tool("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-Atc", sql],
        env=database.env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise _failure(database, "cannot reach or query the database {db}", result.stderr)
    return [line for line in result.stdout.splitlines() if line]


def tables(database: Database) -> list[str]:
    """The tables in the database's `public` schema (where Prefect keeps its own)."""
    return query(database, _TABLES_SQL)


def dump(database: Database, path: Path) -> None:
    """`pg_dump --format=custom` of the database into `path`.

    Raises:
        BackupError: pg_dump is missing or fails (unreachable database, version mismatch...).
    """
    result = subprocess.run(
        [tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={path}"],
        env=database.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise _failure(database, "pg_dump of {db} failed", result.stderr)


def check_archive(path: Path) -> None:
    """Check that `path` is a `pg_dump` custom-format archive (`pg_restore --list`).

    Raises:
        BackupError: pg_restore is missing or cannot read it.
    """
    result = subprocess.run(
        [tool("pg_restore"), "--list", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"{path.name} is not a pg_dump archive: {result.stderr.strip()}")


def restore(database: Database, path: Path, clean: bool) -> None:
    """Restore the archive into the database in one transaction (all or nothing).

    `pg_restore` turns the archive into SQL that `psql --single-transaction` runs; with `clean`,
    `CLEAN_SQL` runs first in that same transaction, so a failed restore leaves the database
    exactly as it was.

    Raises:
        BackupError: a tool is missing or the restore fails (the database is then unchanged).
    """
    psql, pg_restore = tool("psql"), tool("pg_restore")
    env = database.env()
    with subprocess.Popen(
        [psql, "-X", "-q", "--single-transaction", "-v", "ON_ERROR_STOP=1", "-f", "-"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as sink:
        assert sink.stdin is not None and sink.stderr is not None
        if clean:
            sink.stdin.write(CLEAN_SQL.encode())
            sink.stdin.flush()
        source = subprocess.run(
            [pg_restore, "--no-owner", "--no-privileges", "--file=-", str(path)],
            stdout=sink.stdin,
            stderr=subprocess.PIPE,
            check=False,
        )
        if source.returncode != 0 and sink.poll() is None:
            sink.kill()  # psql must not commit a partial script: its transaction is aborted
        with contextlib.suppress(BrokenPipeError):
            sink.stdin.close()
        errors = sink.stderr.read().decode(errors="replace")
        sink.wait()
    if sink.returncode != 0 and errors.strip():
        raise _failure(database, "restore into {db} failed, nothing was changed", errors)
    if source.returncode != 0:
        detail = source.stderr.decode(errors="replace").strip()
        raise BackupError(f"pg_restore cannot read {path.name} (nothing was changed): {detail}")
    if sink.returncode != 0:
        raise _failure(database, "restore into {db} failed, nothing was changed", errors)
