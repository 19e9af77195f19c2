"""Database backups of the Prefect server to the stack's object store, and restores.

`prefect-platform backup` / `restore` (infra/cli.py) call `backup` and `restore`; the scheduled
backup of a stack does the same with `pg_dump` and the AWS CLI (Kubernetes CronJob,
infra/components/database_backup.py) or boto3 (the Docker target's `scheduled.py`, in a
container: infra/components/docker_backup.py). Settings come from the environment
(`connection.py`), never from argv.
"""

from infra.backup.commands import (
    BackupResult,
    RestoreResult,
    backup,
    download,
    list_backups,
    restore,
)
from infra.backup.connection import (
    DATABASE_URL_ENVS,
    BackupError,
    Database,
    ObjectStore,
    database_from_env,
    object_store,
    parse_database_url,
)

__all__ = [
    "DATABASE_URL_ENVS",
    "BackupError",
    "BackupResult",
    "Database",
    "ObjectStore",
    "RestoreResult",
    "backup",
    "database_from_env",
    "download",
    "list_backups",
    "object_store",
    "parse_database_url",
    "restore",
]
