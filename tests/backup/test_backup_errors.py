"""Backup and restore against real PostgreSQL and S3: retention, and every refusal named clearly.

Each failure must name what is wrong, keep the password out of the message, and change nothing
(no object uploaded, no table touched).
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.backup import BackupError, backup, object_store, parse_database_url, restore
from infra.backup.store import key_for
from infra.cli import main
from tests.backup.conftest import DatabaseFactory, libpq
from tests.harness.live_server import psql
from tests.harness.processes import free_port
from tests.harness.s3 import S3Server

SECRET = "Sentinel-pw-3e1"
PG_RESTORE_STDIN = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction"]
"""The restore docs/operations.md runs inside the Docker target's database container."""


def small_database(new_database: DatabaseFactory) -> str:
    """A database with one table of three rows; its URL with `SECRET` as the password."""
    url = new_database()
    psql(
        libpq(url),
        "CREATE TABLE flow_run (name text); INSERT INTO flow_run VALUES ('a'),('b'),('c')",
    )
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{SECRET}@{host}"


def new_database_url(url: str, name: str) -> str:
    """`url` for another database on the same server."""
    return f"{url.rsplit('/', 1)[0]}/{name}"


def test_retention_deletes_old_backups_and_keeps_other_objects(
    new_database: DatabaseFactory, s3_env: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    url = small_database(new_database)
    store = object_store(s3_env.bucket, "retention-test/")
    s3 = s3_env.client()
    now = datetime.now(UTC)
    old = [key_for(store, now - timedelta(days=days)) for days in (400, 20, 8)]
    recent = key_for(store, now - timedelta(days=2))
    for key in [*old, recent, "retention-test/notes.txt"]:
        s3.put_object(Bucket=s3_env.bucket, Key=key, Body=b"x")

    made = backup(parse_database_url(url), store, retention_days=7)
    assert sorted(made.deleted) == sorted(old)
    assert sorted(s3_env.keys("retention-test/")) == sorted(
        [recent, made.key, "retention-test/notes.txt"]
    )
    assert made.size > 0

    newest = backup(parse_database_url(url), store, keep=1)
    assert sorted(newest.deleted) == sorted([recent, made.key])
    assert sorted(s3_env.keys("retention-test/")) == [newest.key, "retention-test/notes.txt"]

    assert main(["backup", "--list", "--bucket", s3_env.bucket, "--prefix", "retention-test"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in listed] == [newest.key]


def test_an_unreachable_database_is_named_and_nothing_is_uploaded(s3_env: S3Server) -> None:
    port = free_port()
    database = parse_database_url(f"postgresql+asyncpg://prefect:{SECRET}@127.0.0.1:{port}/gone")
    store = object_store(s3_env.bucket, "unreachable-test/")
    with pytest.raises(BackupError) as raised:
        backup(database, store)
    message = str(raised.value)
    assert f"prefect@127.0.0.1:{port}/gone" in message and "pg_dump" in message
    assert SECRET not in message
    assert s3_env.keys("unreachable-test/") == []


def test_a_missing_bucket_and_a_missing_backup_are_named(
    new_database: DatabaseFactory, s3_env: S3Server
) -> None:
    database = parse_database_url(small_database(new_database))
    with pytest.raises(BackupError, match="bucket 'no-such-bucket-x1' does not exist"):
        backup(database, object_store("no-such-bucket-x1"))
    with pytest.raises(BackupError, match="no backup found under s3://"):
        restore(database, object_store(s3_env.bucket, "never-written/"))
    with pytest.raises(BackupError, match=r"no backup 'never-written/x\.dump'"):
        restore(database, object_store(s3_env.bucket, "never-written/"), "never-written/x.dump")


def test_pg_dump_missing_is_named(
    new_database: DatabaseFactory,
    s3_env: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = parse_database_url(small_database(new_database))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackupError, match=r"pg_dump is not on PATH: install .*postgresql-client"):
        backup(database, object_store(s3_env.bucket, "no-tools/"))
    assert s3_env.keys("no-tools/") == []


def test_a_broken_archive_with_force_leaves_the_database_as_it_was(
    new_database: DatabaseFactory, s3_env: S3Server
) -> None:
    url = small_database(new_database)
    store = object_store(s3_env.bucket, "broken-test/")
    s3_env.client().put_object(
        Bucket=s3_env.bucket, Key=key_for(store, datetime.now(UTC)), Body=b"not a dump"
    )
    with pytest.raises(BackupError, match="is not a pg_dump archive"):
        restore(parse_database_url(url), store, force=True)
    assert psql(libpq(url), "SELECT name FROM flow_run ORDER BY 1").split() == ["a", "b", "c"]


def test_the_cli_reports_errors_without_secrets(
    new_database: DatabaseFactory,
    s3_env: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("PLATFORM_BACKUP_DATABASE_URL", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_DATABASE_CONNECTION_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    assert main(["backup", "--bucket", s3_env.bucket]) == 1
    assert "set PLATFORM_BACKUP_DATABASE_URL" in capsys.readouterr().err

    url = small_database(new_database)
    monkeypatch.setenv("PLATFORM_BACKUP_DATABASE_URL", url)
    assert main(["backup", "--bucket", s3_env.bucket, "--prefix", "cli-test"]) == 0
    assert main(["restore", "--bucket", s3_env.bucket, "--prefix", "cli-test"]) == 1
    captured = capsys.readouterr()
    assert "is not empty (1 tables: flow_run)" in captured.err
    assert SECRET not in captured.out + captured.err


def test_a_dump_made_elsewhere_is_uploaded_and_restorable(
    new_database: DatabaseFactory,
    s3_env: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The Docker target's path: `docker exec … pg_dump -Fc > file`, then `backup --from-file`."""
    monkeypatch.delenv("PLATFORM_BACKUP_DATABASE_URL", raising=False)
    source = parse_database_url(small_database(new_database))
    archive = tmp_path / "prefect.dump"
    subprocess.run(["pg_dump", "-Fc", f"--file={archive}"], env=source.env(), check=True)
    bogus = tmp_path / "bogus.dump"
    bogus.write_text("not an archive")
    store = ["--bucket", s3_env.bucket, "--prefix", "from-file-test"]
    assert main(["backup", *store, "--from-file", str(bogus)]) == 1
    assert "bogus.dump is not a pg_dump archive" in capsys.readouterr().err
    assert s3_env.keys("from-file-test/") == []

    assert main(["backup", *store, "--from-file", str(archive), "--retention-days", "7"]) == 0
    (key,) = s3_env.keys("from-file-test/")
    assert f"backed up {archive} to s3://{s3_env.bucket}/{key}" in capsys.readouterr().out
    copy = new_database()
    restore(parse_database_url(copy), object_store(s3_env.bucket, "from-file-test/"))
    assert psql(libpq(copy), "SELECT count(*) FROM flow_run").strip() == "3"

    # ... and back: `restore --download-to`, then pg_restore reading stdin (`docker exec -i`).
    fetched = tmp_path / "fetched.dump"
    assert main(["restore", *store, "--download-to", str(fetched)]) == 0
    assert f"downloaded s3://{s3_env.bucket}/{key} to {fetched}" in capsys.readouterr().out
    other = parse_database_url(new_database())
    with fetched.open("rb") as stdin:
        subprocess.run(
            [*PG_RESTORE_STDIN, f"--dbname={other.name}"],
            stdin=stdin,
            env=other.env(),
            check=True,
        )
    assert psql(libpq(new_database_url(copy, other.name)), "SELECT count(*) FROM flow_run") == (
        "3\n"
    )


def test_an_unreachable_object_store_or_restore_target_is_named(
    new_database: DatabaseFactory, s3_env: S3Server
) -> None:
    database = parse_database_url(small_database(new_database))
    nowhere = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackupError, match=f"cannot reach the object store at {nowhere}"):
        backup(database, object_store(s3_env.bucket, endpoint_url=nowhere))

    store = object_store(s3_env.bucket, "restore-target-test/")
    backup(database, store)
    port = free_port()
    gone = parse_database_url(f"postgresql://prefect:{SECRET}@127.0.0.1:{port}/gone")
    with pytest.raises(BackupError) as raised:
        restore(gone, store)
    assert f"cannot reach or query the database prefect@127.0.0.1:{port}/gone" in str(raised.value)
    assert SECRET not in str(raised.value)
