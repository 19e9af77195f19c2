"""Settings of a backup: database URLs in Prefect's form, environment only, retention rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.backup import BackupError, database_from_env, object_store, parse_database_url
from infra.backup.store import Backup, expired, key_for, taken_at


def test_a_sqlalchemy_url_becomes_libpq_environment_without_argv() -> None:
    database = parse_database_url(
        "postgresql+asyncpg://prefect:p%40ss%2Fw0rd@db.internal:6543/server?ssl=require"
    )
    env = database.env()
    assert {key: env[key] for key in env if key.startswith("PG")} == {
        "PGHOST": "db.internal",
        "PGPORT": "6543",
        "PGUSER": "prefect",
        "PGDATABASE": "server",
        "PGPASSWORD": "p@ss/w0rd",
        "PGSSLMODE": "require",
    }
    assert database.display == "prefect@db.internal:6543/server"
    assert "p@ss/w0rd" not in repr(database)
    assert database.scrub("FATAL: p@ss/w0rd rejected") == "FATAL: *** rejected"


def test_stray_libpq_settings_of_the_caller_are_not_inherited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGSERVICE", "somewhere-else")
    env = parse_database_url("postgresql://u@h/d").env()
    assert "PGSERVICE" not in env and "PGPASSWORD" not in env


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite+aiosqlite:///prefect.db", r"scheme 'sqlite\+aiosqlite'"),
        ("postgresql+asyncpg://u:secretpw@h:5432/", "names no database"),
        ("postgresql://u:secretpw@h/d?target_session_attrs=any", "'target_session_attrs'"),
        ("postgresql://u:secretpw@h:99999/d", "invalid port"),
    ],
)
def test_bad_database_urls_are_refused_without_echoing_them(url: str, message: str) -> None:
    with pytest.raises(BackupError, match=message) as raised:
        parse_database_url(url)
    assert "secretpw" not in str(raised.value)


def test_the_database_url_comes_from_the_environment_in_order() -> None:
    assert database_from_env({"PLATFORM_BACKUP_DATABASE_URL": "postgresql://a@h/one"}).name == (
        "one"
    )
    fallback = {"PREFECT_SERVER_DATABASE_CONNECTION_URL": "postgresql+asyncpg://a@h/two"}
    assert database_from_env(fallback).name == "two"
    with pytest.raises(BackupError, match="set PLATFORM_BACKUP_DATABASE_URL"):
        database_from_env({})


def test_s3_keys_must_be_in_the_environment() -> None:
    with pytest.raises(BackupError, match="AWS_SECRET_ACCESS_KEY not set"):
        object_store("prefect-results", environ={"AWS_ACCESS_KEY_ID": "x"})
    keys = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_ENDPOINT_URL": "http://s3"}
    store = object_store("prefect-results", "/db/backups/", environ=keys)
    assert (store.prefix, store.endpoint_url) == ("db/backups/", "http://s3")
    with pytest.raises(BackupError, match="not a bucket name"):
        object_store("a/b", environ=keys)


def test_keys_carry_the_time_and_only_backup_keys_are_read() -> None:
    store = object_store("b", environ={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    when = datetime(2026, 11, 27, 21, 0, 12, 345678, tzinfo=UTC)
    key = key_for(store, when)
    assert key == "backups/20261127T210012.345Z.dump"
    assert taken_at(store, key) == when.replace(microsecond=345000)
    assert taken_at(store, "backups/notes.txt") is None
    assert taken_at(store, "elsewhere/20261127T210012.345Z.dump") is None


def test_retention_never_removes_the_newest_backup() -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    backups = [Backup(f"k{age}", now - timedelta(days=age), 1) for age in (30, 10, 3, 1)]
    assert [b.key for b in expired(backups, now, 7, None)] == ["k10", "k30"]
    assert [b.key for b in expired(backups, now, None, 2)] == ["k10", "k30"]
    assert [b.key for b in expired(backups, now, None, 3)] == ["k30"]
    assert [b.key for b in expired(backups, now, 2, None)] == ["k3", "k10", "k30"]
    assert [b.key for b in expired(backups, now, 20, 3)] == ["k30"]
    assert expired(backups, now, None, None) == []
    only_old = [Backup("old", now - timedelta(days=400), 1)]
    assert expired(only_old, now, 1, 1) == []
