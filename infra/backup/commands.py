"""Back the server's database up to the object store, list the backups, restore one."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import infra.backup.postgres as postgres
import infra.backup.store as store
from infra.backup.connection import BackupError, Database, ObjectStore


@dataclass(frozen=True)
class BackupResult:
    """What `backup` made and removed."""

    key: str
    size: int
    seconds: float
    deleted: tuple[str, ...]


@dataclass(frozen=True)
class RestoreResult:
    """What `restore` restored."""

    key: str
    size: int
    seconds: float
    replaced_tables: int


def backup(
    database: Database | None,
    target: ObjectStore,
    retention_days: int | None = None,
    keep: int | None = None,
    now: datetime | None = None,
    from_file: Path | None = None,
) -> BackupResult:
    """Dump the database (custom format), upload it, then apply retention.

    With `from_file` (a `pg_dump --format=custom` made elsewhere, e.g. by `docker exec` on the
    Docker target) that archive is checked and uploaded instead, and `database` is not used.
    Retention runs only after the new backup is uploaded, and never removes the newest backup.

    Raises:
        BackupError: pg_dump missing, database unreachable, bucket missing, bad retention.
    """
    if retention_days is not None and retention_days < 1:
        raise BackupError(f"retention of {retention_days} days: it must be at least 1")
    if keep is not None and keep < 1:
        raise BackupError(f"keep {keep}: at least the newest backup is kept (>= 1)")
    if from_file is not None:
        if not from_file.is_file():
            raise BackupError(f"{from_file}: no such file")
        postgres.check_archive(from_file)
    elif database is None:
        raise BackupError("no database to back up (and no --from-file)")
    else:
        postgres.tool("pg_dump")
    s3 = store.client(target)
    store.check_bucket(s3, target)
    started = time.monotonic()
    now = now or datetime.now(UTC)
    key = store.key_for(target, now)
    with tempfile.TemporaryDirectory(prefix="prefect-backup-") as folder:
        path = from_file or Path(folder) / "database.dump"
        if from_file is None:
            assert database is not None
            postgres.dump(database, path)
        size = path.stat().st_size
        store.upload(s3, target, path, key)
    expired = store.expired(store.list_backups(s3, target), now, retention_days, keep)
    doomed = [b for b in expired if b.key != key]
    store.delete(s3, target, doomed)
    return BackupResult(key, size, time.monotonic() - started, tuple(b.key for b in doomed))


def list_backups(target: ObjectStore) -> list[store.Backup]:
    """The backups in the store, oldest first.

    Raises:
        BackupError: the bucket is missing or unreachable.
    """
    s3 = store.client(target)
    store.check_bucket(s3, target)
    return store.list_backups(s3, target)


def _resolve(s3: object, target: ObjectStore, key: str | None) -> str:
    backups = store.list_backups(s3, target)
    if key is None:
        if not backups:
            raise BackupError(f"no backup found under {target.location}")
        return backups[-1].key
    if key not in {b.key for b in backups}:
        known = ", ".join(b.key for b in backups[-3:]) or "none"
        raise BackupError(f"no backup {key!r} under {target.location} (newest: {known})")
    return key


def download(target: ObjectStore, path: Path, key: str | None = None) -> str:
    """Download a backup (the newest unless `key`) into `path`, checked; return its key.

    Touches no database: for a restore the caller runs itself (`docker exec … pg_restore`).

    Raises:
        BackupError: no such backup, the bucket is missing, or the file is not an archive.
    """
    s3 = store.client(target)
    store.check_bucket(s3, target)
    key = _resolve(s3, target, key)
    store.download(s3, target, key, path)
    postgres.check_archive(path)
    return key


def restore(
    database: Database, target: ObjectStore, key: str | None = None, force: bool = False
) -> RestoreResult:
    """Restore a backup (the newest unless `key`) into the database.

    A database that already has tables is refused unless `force`; then its `public` schema is
    dropped and recreated in the same transaction as the restore. Stop the Prefect server (scale
    it to zero) first.

    Raises:
        BackupError: no backup found, the database is unreachable or not empty (without
            `force`), or the restore fails; the database is then unchanged.
    """
    for name in ("psql", "pg_restore"):
        postgres.tool(name)
    s3 = store.client(target)
    store.check_bucket(s3, target)
    key = _resolve(s3, target, key)
    present = postgres.tables(database)
    if present and not force:
        shown = ", ".join(present[:5]) + (", …" if len(present) > 5 else "")
        raise BackupError(
            f"database {database.display} is not empty ({len(present)} tables: {shown}); "
            "restoring would replace them: pass --force to drop them first"
        )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="prefect-restore-") as folder:
        path = Path(folder) / "database.dump"
        store.download(s3, target, key, path)
        postgres.check_archive(path)
        size = path.stat().st_size
        postgres.restore(database, path, clean=bool(present))
    return RestoreResult(key, size, time.monotonic() - started, len(present))
