"""The Docker target's scheduled database backup: two containers sharing a spool volume.

`backup-dump` runs PostgreSQL's own image (`POSTGRES_IMAGE`, so `pg_dump` is of the server's
major version): a bash loop that answers each request in the spool with `pg_dump
--format=custom` (`DUMP_COMMAND`, as the Kubernetes CronJob runs it). `backup` runs the flows
image (Python, boto3, Prefect's cron parser) and `infra/backup/scheduled.py`, uploaded into it:
at each time of the schedule it asks for a dump, uploads it to the results bucket as
`<prefix><UTC timestamp>.dump` with the object store's root keys, and applies the retention.
The database password and the keys are secret container environment only. `dump_spec` and
`upload_spec` say what each container runs; `scheduled_backup` declares them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker as docker

from infra.backup import scheduled
from infra.components.database_backup import DUMP_COMMAND
from infra.components.docker_container import Placement, container
from infra.components.docker_object_store import OBJECT_STORE_HOST, StoreKeys
from infra.components.versions import POSTGRES_IMAGE

SCRIPT_PATH = "/opt/prefect-platform-backup/scheduled_backup.py"
"""Where `infra/backup/scheduled.py` is uploaded in the `backup` container."""

DUMP_LOOP = r"""set -u
trap 'exit 0' TERM INT
cd "$BACKUP_SPOOL" || exit 1
rm -f -- *"$partial"
echo "backup-dump: waiting for requests in $BACKUP_SPOOL"
while :; do
  for request in *"$request_suffix"; do
    [ -e "$request" ] || continue
    stamp="${request%"$request_suffix"}"
    if "${dump[@]}" --file="$stamp$partial" 2>"$stamp.stderr"; then
      mv -f -- "$stamp$partial" "$stamp$done_suffix"
      rm -f -- "$stamp.stderr"
      echo "backup-dump: dumped $stamp$done_suffix ($(stat -c %s "$stamp$done_suffix") bytes)"
    else
      rm -f -- "$stamp$partial"
      mv -f -- "$stamp.stderr" "$stamp$failed"
      echo "backup-dump: pg_dump failed for $stamp (the backup container logs why)"
    fi
    rm -f -- "$request"
  done
  sleep 1 & wait $!
done
"""
"""The dump container's loop (bash; the suffixes and `pg_dump` argv are set before it)."""


@dataclass(frozen=True)
class ContainerSpec:
    """What one backup container runs (its image aside); secrets are added by the caller."""

    role: str
    """`<prefix>-<role>` is the container's name."""
    entrypoint: list[str] | None
    """Replaces the image's entrypoint (None: the image's)."""
    command: list[str]
    """The container's command."""
    env: dict[str, str]
    """Its environment, without the secret variables."""
    health: list[str]
    """Its health check (Docker's `CMD` form)."""
    files: dict[str, str] = field(default_factory=dict)
    """Files uploaded into it before it starts: path -> content."""


@dataclass(frozen=True)
class BackupSchedule:
    """When and where the backups go (the stack setting `backup`)."""

    schedule: str
    """5-field cron schedule, UTC."""
    retention_days: int
    """Backups older than this are deleted after each backup."""
    prefix: str
    """Key prefix, ending in `/`."""
    bucket: str
    """The results bucket."""


def dump_script() -> str:
    """The dump container's bash script: the spool suffixes and `DUMP_COMMAND`, then the loop."""
    settings = {
        "request_suffix": scheduled.REQUEST,
        "partial": scheduled.PARTIAL,
        "done_suffix": scheduled.SUFFIX,
        "failed": scheduled.FAILED,
    }
    assignments = "\n".join(f"{name}={shlex.quote(value)}" for name, value in settings.items())
    return f"{assignments}\ndump=({shlex.join(DUMP_COMMAND)})\n{DUMP_LOOP}"


def dump_spec(host: str, port: int, database: str, user: str) -> ContainerSpec:
    """`backup-dump`: the loop, with the database in libpq's variables (`PGPASSWORD` aside)."""
    return ContainerSpec(
        role="backup-dump",
        entrypoint=["/bin/bash", "-c"],
        command=[dump_script()],
        env={
            "PGHOST": host,
            "PGPORT": str(port),
            "PGDATABASE": database,
            "PGUSER": user,
            "BACKUP_SPOOL": scheduled.SPOOL,
        },
        health=["CMD", "pg_isready", "--quiet"],
    )


def upload_spec(backup: BackupSchedule, endpoint_url: str) -> ContainerSpec:
    """`backup`: the schedule script in the flows image (the S3 keys aside)."""
    return ContainerSpec(
        role="backup",
        entrypoint=None,
        command=["python", SCRIPT_PATH],
        env={
            "BACKUP_SCHEDULE": backup.schedule,
            "BACKUP_BUCKET": backup.bucket,
            "BACKUP_PREFIX": backup.prefix,
            "BACKUP_RETENTION_DAYS": str(backup.retention_days),
            "BACKUP_SPOOL": scheduled.SPOOL,
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        },
        health=["CMD", "python", SCRIPT_PATH, "--health"],
        files={SCRIPT_PATH: Path(scheduled.__file__).read_text()},
    )


def scheduled_backup(
    place: Placement,
    flows_image: str,
    backup: BackupSchedule,
    *,
    database: ContainerSpec,
    password: pulumi.Input[str],
    keys: StoreKeys,
    depends_on: list[pulumi.Resource],
) -> list[docker.Container]:
    """Declare the spool volume, `backup-dump` (`POSTGRES_IMAGE`) and `backup` (`flows_image`).

    `database` is `dump_spec(...)` for the server's database and `password` its user's; the
    uploads use the object store's root keys of `keys` (backups are the platform's).
    """
    spool = docker.Volume(
        f"{place.prefix}-backup-spool",
        name=f"{place.prefix}-backup-spool",
        # Only dumps on their way to the bucket: kept on delete, never protected.
        opts=pulumi.ResourceOptions(parent=place.parent, retain_on_delete=True),
    )
    upload = upload_spec(backup, f"http://{OBJECT_STORE_HOST}:9000")
    declared: list[tuple[ContainerSpec, str, dict[str, pulumi.Input[str]]]] = [
        (database, POSTGRES_IMAGE, {"PGPASSWORD": password}),
        (
            upload,
            flows_image,
            {"AWS_ACCESS_KEY_ID": keys.access_key, "AWS_SECRET_ACCESS_KEY": keys.secret_key},
        ),
    ]
    return [
        container(
            place,
            spec.role,
            image,
            entrypoint=spec.entrypoint,
            command=spec.command,
            envs={**spec.env, **secrets},
            volume=(spool.name, scheduled.SPOOL),
            health=spec.health,
            depends_on=depends_on,
            uploads=[
                docker.ContainerUploadArgs(file=path, content=text)
                for path, text in sorted(spec.files.items())
            ]
            or None,
        )
        for spec, image, secrets in declared
    ]
