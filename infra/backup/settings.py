"""`prefect-platform:backup`: the scheduled database backup of a stack (part of `PlatformConfig`).

It applies to the stacks that run their own database: the Kubernetes target with
`server.database: bundled` (a CronJob, infra/components/database_backup.py) and the Docker
target (two containers, infra/components/docker_backup.py). An external database is backed up
by its provider or with `prefect-platform backup` (docs/operations.md#backups).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel


class BackupConfig(BaseModel):
    """When and where the stack's database is dumped, and how long dumps are kept."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    enabled: bool = Field(
        default=True, description="Declare the scheduled backup (stacks with their own database)."
    )
    schedule: str = Field(
        default="17 3 * * *",
        description="Cron schedule of the backup (5 fields, UTC): the Kubernetes CronJob's, or "
        "the Docker target's backup container's.",
    )
    retention_days: int = Field(
        default=14, ge=1, le=3650, description="Backups older than this are deleted after one."
    )
    prefix: str = Field(
        default="backups/",
        pattern=r"^([A-Za-z0-9._-]+/)+$",
        description="Key prefix of the backups in the stack's first (results) bucket, ending "
        "in `/`.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from prefect.client.schemas.schedules import CronSchedule

        if len(value.split()) != 5:
            raise ValueError(f"{value!r} is not a 5-field cron schedule ('17 3 * * *')")
        try:
            CronSchedule(cron=value)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid cron schedule") from None
        return value
