"""The Docker target's scheduled database backup: a script run in a container of the flows image.

`infra/components/docker_backup.py` uploads this file alone into that container and runs
`python <file>`. It sleeps until the next time of `BACKUP_SCHEDULE` (5-field cron, UTC, parsed
by Prefect's own cron parser), asks the `backup-dump` container (PostgreSQL's image, `pg_dump`
of the server's major version) for a dump through the spool folder they share, uploads it with
boto3 as `s3://<BACKUP_BUCKET>/<BACKUP_PREFIX><UTC timestamp>.dump` (the key format `prefect-
platform restore` reads) and deletes the backups older than `BACKUP_RETENTION_DAYS`: never the
one just made, never a key of another shape, as the Kubernetes CronJob does. It logs one JSON
line per event, never a secret. `--now` makes one backup at once; `--health` exits 1 when the
last backup failed (the container's health check).

The spool protocol: this side creates `<stamp>.request`; the dump side writes the dump to
`<stamp>.partial`, renames it `<stamp>.dump` (or writes `<stamp>.failed` with `pg_dump`'s
error) and removes the request. Anything in the spool older than the dump timeout is abandoned.

It imports nothing from `infra`, and only the standard library until a backup runs. It is the
one definition of the backup key format: `infra.backup.store` uses `backup_name`/`name_time`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SUFFIX = ".dump"
"""Suffix of a backup's key, and of a finished dump in the spool."""

STAMP_FORMAT = "%Y%m%dT%H%M%S"
"""The UTC time in a backup's name, to the second; milliseconds and `Z` follow."""

NAME = re.compile(r"(?P<stamp>\d{8}T\d{6})\.(?P<ms>\d{3})Z\.dump")
"""A backup's name (its key without the prefix), e.g. `20261127T210012.123Z.dump`."""

REQUEST, PARTIAL, FAILED = ".request", ".partial", ".failed"
"""Spool suffixes: a dump asked for, being written, failed (its file holds the error)."""

SPOOL = "/spool"
"""Where both backup containers mount the spool volume (`BACKUP_SPOOL`)."""

STATUS_FILE = Path("/tmp/scheduled-backup-status.json")
"""The last backup's outcome, read by `--health`."""

DUMP_TIMEOUT = 3600.0
"""Default seconds to wait for a dump (`BACKUP_DUMP_TIMEOUT`), the CronJob's deadline."""

SECRET_ENVS = ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "PGPASSWORD")
"""Values masked in anything logged."""


def backup_name(when: datetime) -> str:
    """The name of a backup taken at `when`: `<UTC time to the millisecond>Z.dump`."""
    when = when.astimezone(UTC)
    return f"{when.strftime(STAMP_FORMAT)}.{when.microsecond // 1000:03d}Z{SUFFIX}"


def name_time(name: str) -> datetime | None:
    """The time in a backup's name, or None when the name is not a backup's."""
    match = NAME.fullmatch(name)
    if match is None:
        return None
    try:
        stamp = datetime.strptime(match["stamp"], STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:  # the shape of a stamp, not a date (month 13)
        return None
    return stamp + timedelta(milliseconds=int(match["ms"]))


class BackupFailed(RuntimeError):
    """A backup could not be made or stored (the message names why, without secrets)."""


@dataclass(frozen=True)
class Settings:
    """What the container's environment sets."""

    schedule: str
    bucket: str
    prefix: str
    retention_days: int
    spool: Path
    dump_timeout: float
    endpoint_url: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read `BACKUP_*` and `AWS_ENDPOINT_URL`; `BackupFailed` names a missing one."""
        missing = [
            name
            for name in ("BACKUP_SCHEDULE", "BACKUP_BUCKET", "BACKUP_PREFIX")
            if not env.get(name)
        ]
        if missing:
            raise BackupFailed(f"not set: {', '.join(missing)}")
        return cls(
            schedule=env["BACKUP_SCHEDULE"],
            bucket=env["BACKUP_BUCKET"],
            prefix=env["BACKUP_PREFIX"],
            retention_days=int(env.get("BACKUP_RETENTION_DAYS", "14")),
            spool=Path(env.get("BACKUP_SPOOL", SPOOL)),
            dump_timeout=float(env.get("BACKUP_DUMP_TIMEOUT", DUMP_TIMEOUT)),
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        )


def scrub(text: str) -> str:
    """`text` with the values of `SECRET_ENVS` masked."""
    for name in SECRET_ENVS:
        value = os.environ.get(name)
        if value:
            text = text.replace(value, "***")
    return text


def log(event: str, **fields: Any) -> None:
    """One JSON line on stdout: the time, the event and its fields."""
    line = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "event": event, **fields}
    print(scrub(json.dumps(line)), flush=True)


def next_time(schedule: str, after: datetime) -> datetime:
    """The first time of the cron `schedule` (UTC) strictly after `after`."""
    # Prefect's own parser, the one that validated the stack setting (prefect-platform:backup).
    from prefect._vendor.croniter.croniter import croniter

    cron: Any = croniter  # untyped
    found: datetime = cron(schedule, after.astimezone(UTC)).get_next(datetime)
    return found.astimezone(UTC)


def expired_keys(
    keys: Sequence[str], prefix: str, made: str, now: datetime, retention_days: int
) -> list[str]:
    """The backups retention deletes: named as a backup, older than the retention, not `made`."""
    cutoff = now - timedelta(days=retention_days)
    doomed = []
    for key in keys:
        taken = name_time(key[len(prefix) :]) if key.startswith(prefix) else None
        if taken is not None and taken < cutoff and key != made:
            doomed.append(key)
    return doomed


def clear_abandoned(spool: Path, now: datetime, timeout: float) -> None:
    """Remove requests and results older than the dump timeout: nobody waits for them now."""
    for path in sorted(spool.iterdir()):
        stem, _, suffix = path.name.rpartition(".")
        taken = name_time(stem + SUFFIX)
        abandoned = taken is not None and now - taken > timedelta(seconds=timeout)
        if abandoned and f".{suffix}" in (REQUEST, SUFFIX, FAILED):
            path.unlink(missing_ok=True)
            log("removed abandoned", file=path.name)


def request_dump(spool: Path, stamp: str, timeout: float) -> Path:
    """Ask the dump container for a dump named `stamp`; its path once written, or raise."""
    request, done, failed = (spool / f"{stamp}{suffix}" for suffix in (REQUEST, SUFFIX, FAILED))
    request.touch()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done.exists():
            return done
        if failed.exists():
            error = failed.read_text(errors="replace").strip()
            failed.unlink(missing_ok=True)
            raise BackupFailed(f"pg_dump failed: {error[-2000:]}")
        time.sleep(1)
    request.unlink(missing_ok=True)
    raise BackupFailed(f"no dump after {timeout:.0f} s: is the backup-dump container running?")


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client (keys and region from the environment)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 3}, connect_timeout=10, read_timeout=120)
    return boto3.client("s3", endpoint_url=settings.endpoint_url, config=config)


def list_keys(s3: Any, settings: Settings) -> list[str]:
    """Every key under the prefix."""
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=settings.bucket, Prefix=settings.prefix
    )
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def back_up(settings: Settings, s3: Any) -> str:
    """Dump, upload, apply retention; return the new backup's key."""
    now = datetime.now(UTC)
    clear_abandoned(settings.spool, now, settings.dump_timeout)
    name = backup_name(now)
    key = f"{settings.prefix}{name}"
    dump = request_dump(settings.spool, name.removesuffix(SUFFIX), settings.dump_timeout)
    size, started = dump.stat().st_size, time.monotonic()
    try:
        s3.upload_file(str(dump), settings.bucket, key)
    finally:
        dump.unlink(missing_ok=True)
    seconds = round(time.monotonic() - started, 2)
    log("uploaded", key=key, bucket=settings.bucket, bytes=size, seconds=seconds)
    keys = list_keys(s3, settings)
    for old in expired_keys(keys, settings.prefix, key, datetime.now(UTC), settings.retention_days):
        s3.delete_object(Bucket=settings.bucket, Key=old)
        log("deleted", key=old, reason=f"older than {settings.retention_days} days")
    return key


def write_status(ok: bool, **fields: Any) -> None:
    """Record the last outcome for `--health`."""
    STATUS_FILE.write_text(json.dumps({"ok": ok, "time": datetime.now(UTC).isoformat(), **fields}))


def attempt(settings: Settings) -> bool:
    """One backup; log and record its outcome instead of raising."""
    try:
        key = back_up(settings, s3_client(settings))
    except Exception as error:  # anything: the loop must live to the next time
        message = scrub(f"{type(error).__name__}: {error}")
        log("failed", error=message)
        write_status(False, error=message)
        return False
    write_status(True, key=key)
    return True


def serve(settings: Settings) -> None:
    """Back up at every time of the schedule, forever."""
    while True:
        due = next_time(settings.schedule, datetime.now(UTC))
        log("next", at=due.isoformat())
        while (left := (due - datetime.now(UTC)).total_seconds()) > 0:
            time.sleep(min(left, 60.0))
        attempt(settings)


def healthy() -> bool:
    """False when the last backup failed (or nothing was recorded yet)."""
    try:
        return bool(json.loads(STATUS_FILE.read_text())["ok"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the schedule (default), one backup now (`--now`), or the health check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--now", action="store_true", help="make one backup now and exit")
    parser.add_argument("--health", action="store_true", help="exit 1 if the last backup failed")
    arguments = parser.parse_args(argv)
    if arguments.health:
        return 0 if healthy() else 1
    try:
        settings = Settings.from_env(os.environ)
    except (BackupFailed, ValueError) as error:
        log("failed", error=f"bad settings: {error}")
        return 2
    if arguments.now:
        return 0 if attempt(settings) else 1
    log(
        "started",
        schedule=settings.schedule,
        bucket=settings.bucket,
        prefix=settings.prefix,
        retention_days=settings.retention_days,
    )
    write_status(True, state="waiting for the first backup")
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
