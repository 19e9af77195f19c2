"""Back a populated Prefect server's database up to S3, lose it, restore it, read it all back.

Everything is real: PostgreSQL, `prefect server start` on it, the SeaweedFS S3 server, and
`prefect-platform backup` / `restore` (the CLI in this process, its secrets in the environment).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from infra.cli import main
from tests.backup import server_content as content
from tests.backup.conftest import DatabaseFactory, libpq, serve
from tests.harness.live_server import LiveServer, psql
from tests.harness.s3 import S3Server

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Sentinel-db-password-91c"
"""Put in the database URL (trust auth ignores it); it must never appear in any output."""


def with_password(url: str) -> str:
    """The URL with `PASSWORD` as the user's password."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user.split(':')[0]}:{PASSWORD}@{host}"


def server_content(server: LiveServer, action: str) -> dict[str, Any]:
    """Run tests/backup/server_content.py against the server (`populate` or `snapshot`)."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.backup.server_content", action],
        cwd=REPO,
        env={**os.environ, **server.client_env()},
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout) if action == "snapshot" else {}


def row_counts(url: str) -> dict[str, int]:
    """Rows per table of the database's `public` schema."""
    tables = psql(
        libpq(url), "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    ).split()
    return {t: int(psql(libpq(url), f'SELECT count(*) FROM "{t}"')) for t in tables}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, float]:
    """Run `prefect-platform` in this process; (exit status, output, seconds)."""
    started = time.monotonic()
    status = main(list(argv))
    seconds = time.monotonic() - started
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert PASSWORD not in output
    return status, output, seconds


@pytest.mark.timeout(300)
def test_backup_drop_restore_shows_the_same_objects_and_history(
    new_database: DatabaseFactory,
    s3_env: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = new_database()
    database = url.rsplit("/", 1)[1]
    prefix = f"backups-{database}/"
    monkeypatch.setenv("PLATFORM_BACKUP_DATABASE_URL", with_password(url))

    started = time.monotonic()
    first = serve(url, tmp_path / "first")
    print(f"server up in {time.monotonic() - started:.1f} s")
    try:
        server_content(first, "populate")
        before = server_content(first, "snapshot")
        status, output, backup_seconds = cli(
            capsys, "backup", "--bucket", s3_env.bucket, "--prefix", prefix
        )
    finally:
        first.stop()
    assert status == 0, output
    keys = s3_env.keys(prefix)
    assert len(keys) == 1 and keys[0].endswith(".dump"), keys
    size = s3_env.client().head_object(Bucket=s3_env.bucket, Key=keys[0])["ContentLength"]

    # What was made is all there before the loss (so the comparison below means something).
    assert content.POOL in before["work_pools"]
    assert [d[0] for d in before["deployments"]] == [content.DEPLOYMENT]
    assert before["variables"] == {content.VARIABLE: {"rows": 42, "source": "backup test"}}
    assert before["secret"] == content.SECRET_VALUE
    assert len(before["flow_runs"]) == content.RUNS + 1
    assert sorted(run["state"] for run in before["flow_runs"]) == sorted(
        ["COMPLETED"] * (content.RUNS - 1) + ["FAILED", "SCHEDULED"]
    )
    assert len(before["logs"]) == content.RUNS
    assert [a[:3] for a in before["artifacts"] if a[0] == content.ARTIFACT] == [
        [content.ARTIFACT, "markdown", "# rows: 42"]
    ]

    admin = libpq(url, "postgres")
    psql(admin, f'DROP DATABASE "{database}" WITH (FORCE)')
    psql(admin, f'CREATE DATABASE "{database}"')
    assert row_counts(url) == {}
    status, output, restore_seconds = cli(
        capsys, "restore", "--bucket", s3_env.bucket, "--prefix", prefix
    )
    assert status == 0, output
    assert keys[0] in output
    restored_counts = row_counts(url)
    with capsys.disabled():
        print(
            f"\nbackup of the populated database: {size} bytes, backup {backup_seconds:.2f} s, "
            f"restore {restore_seconds:.2f} s, {len(restored_counts)} tables, "
            f"{sum(restored_counts.values())} rows"
        )

    second = serve(url, tmp_path / "second")
    try:
        after = server_content(second, "snapshot")
    finally:
        second.stop()
    assert after == before

    # A restore into a database that holds tables is refused, and changes nothing.
    psql(libpq(url), "DELETE FROM variable")
    damaged = row_counts(url)
    status, output, _ = cli(capsys, "restore", "--bucket", s3_env.bucket, "--prefix", prefix)
    assert status == 1
    assert "is not empty" in output and "--force" in output, output
    assert row_counts(url) == damaged

    status, output, _ = cli(
        capsys, "restore", "--bucket", s3_env.bucket, "--prefix", prefix, "--force"
    )
    assert status == 0, output
    assert psql(libpq(url), "SELECT name FROM variable").split() == [content.VARIABLE]
    counts = row_counts(url)
    assert counts == restored_counts
