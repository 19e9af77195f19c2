"""Backups as objects `<prefix><UTC timestamp>.dump` in an S3 bucket; listing and retention.

The timestamp in the key (`20261127T210012.123Z`) is the backup's time: keys sort by it, and
retention reads the age from it, so an object whose name does not match is never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from infra.backup.connection import BackupError, ObjectStore
from infra.backup.scheduled import backup_name, name_time


@dataclass(frozen=True)
class Backup:
    """One backup object."""

    key: str
    taken_at: datetime
    size: int


def key_for(store: ObjectStore, when: datetime) -> str:
    """The object key of a backup taken at `when` (UTC)."""
    return f"{store.prefix}{backup_name(when)}"


def taken_at(store: ObjectStore, key: str) -> datetime | None:
    """The time in a backup key, or None when the key is not a backup's."""
    if not key.startswith(store.prefix):
        return None
    return name_time(key[len(store.prefix) :])


def client(store: ObjectStore) -> Any:
    """A boto3 S3 client for the store (keys from the environment)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=store.endpoint_url,
        config=Config(retries={"max_attempts": 3}, connect_timeout=10, read_timeout=120),
    )


def _explain(store: ObjectStore, what: str, error: Exception) -> BackupError:
    from botocore.exceptions import ClientError, EndpointConnectionError

    if isinstance(error, EndpointConnectionError):
        return BackupError(f"{what}: cannot reach the object store at {store.endpoint_url}")
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchBucket", "404"):
            return BackupError(f"{what}: bucket {store.bucket!r} does not exist ({store.location})")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "AccessDenied"):
            return BackupError(
                f"{what}: the object store refused the keys in AWS_ACCESS_KEY_ID/"
                f"AWS_SECRET_ACCESS_KEY ({code}, {store.location})"
            )
        return BackupError(f"{what}: the object store answered {code or error} ({store.location})")
    return BackupError(f"{what}: {type(error).__name__} ({store.location})")


def check_bucket(s3: Any, store: ObjectStore) -> None:
    """Raise `BackupError` unless the bucket exists and the keys may read it."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3.head_bucket(Bucket=store.bucket)
    except (BotoCoreError, ClientError) as error:
        raise _explain(store, "cannot use the backup bucket", error) from None


def list_backups(s3: Any, store: ObjectStore) -> list[Backup]:
    """Every backup under the prefix, oldest first."""
    from botocore.exceptions import BotoCoreError, ClientError

    found = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=store.bucket, Prefix=store.prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                when = taken_at(store, item["Key"])
                if when is not None:
                    found.append(Backup(item["Key"], when, int(item["Size"])))
    except (BotoCoreError, ClientError) as error:
        raise _explain(store, "cannot list the backups", error) from None
    return sorted(found, key=lambda backup: backup.taken_at)


def upload(s3: Any, store: ObjectStore, path: Path, key: str) -> None:
    """Upload a dump file as `key`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3.upload_file(str(path), store.bucket, key)
    except (BotoCoreError, ClientError) as error:
        raise _explain(store, f"cannot upload {key}", error) from None


def download(s3: Any, store: ObjectStore, key: str, path: Path) -> None:
    """Download the backup `key` into `path`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3.download_file(store.bucket, key, str(path))
    except (BotoCoreError, ClientError) as error:
        raise _explain(store, f"cannot download {key}", error) from None


def expired(
    backups: list[Backup], now: datetime, retention_days: int | None, keep: int | None
) -> list[Backup]:
    """The backups retention removes: older than `retention_days`, or beyond the newest `keep`.

    The newest backup is never among them, whatever the settings.
    """
    if not backups:
        return []
    newest_first = sorted(backups, key=lambda b: b.taken_at, reverse=True)
    doomed = []
    for index, backup in enumerate(newest_first[1:], start=1):
        too_old = retention_days is not None and backup.taken_at < now - timedelta(
            days=retention_days
        )
        too_many = keep is not None and index >= keep
        if too_old or too_many:
            doomed.append(backup)
    return doomed


def delete(s3: Any, store: ObjectStore, backups: list[Backup]) -> None:
    """Delete these backup objects."""
    from botocore.exceptions import BotoCoreError, ClientError

    for backup in backups:
        try:
            s3.delete_object(Bucket=store.bucket, Key=backup.key)
        except (BotoCoreError, ClientError) as error:
            raise _explain(store, f"cannot delete {backup.key}", error) from None
