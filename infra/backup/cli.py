"""The `backup` and `restore` subcommands of `prefect-platform` (see infra/cli.py).

Secrets come from the environment only: the database URL from `PLATFORM_BACKUP_DATABASE_URL`
(or the server's `PREFECT_SERVER_DATABASE_CONNECTION_URL`), the S3 keys from
`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, the endpoint from `AWS_ENDPOINT_URL` or
`--endpoint-url`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

BUCKET_ENV = "PLATFORM_BACKUP_BUCKET"
"""Default bucket (else `prefect-results`, the stacks' results bucket)."""

DEFAULT_PREFIX = "backups/"
"""Default key prefix; the scheduled backup uses the same."""


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bucket",
        default=os.environ.get(BUCKET_ENV, "prefect-results"),
        help=f"bucket of the backups (default: ${BUCKET_ENV} or prefect-results)",
    )
    parser.add_argument(
        "--prefix", default=DEFAULT_PREFIX, help=f"key prefix (default {DEFAULT_PREFIX})"
    )
    parser.add_argument(
        "--endpoint-url", help="S3 endpoint (default: $AWS_ENDPOINT_URL; unset: AWS S3)"
    )


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `backup` and `restore` to the command's subparsers."""
    backup = commands.add_parser(
        "backup",
        help="pg_dump the server's database to the object store, then apply retention",
        description="Database URL from $PLATFORM_BACKUP_DATABASE_URL, S3 keys from "
        "$AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY.",
    )
    _store_options(backup)
    backup.add_argument(
        "--retention-days", type=int, help="delete backups older than this many days"
    )
    backup.add_argument("--keep", type=int, help="keep only the newest N backups")
    backup.add_argument(
        "--list", action="store_true", help="list the backups instead of making one"
    )
    backup.add_argument(
        "--from-file",
        type=Path,
        help="upload this pg_dump --format=custom archive instead of dumping the database",
    )
    restore = commands.add_parser(
        "restore",
        help="restore a backup (the newest by default) into the database; stop the server first",
        description="Refuses a database that already has tables unless --force.",
    )
    _store_options(restore)
    restore.add_argument("--key", help="the backup's object key (default: the newest)")
    restore.add_argument(
        "--download-to",
        type=Path,
        metavar="PATH",
        help="only download the backup (checked) to PATH; touch no database",
    )
    restore.add_argument(
        "--force",
        action="store_true",
        help="drop what the database holds first (in the restore's transaction)",
    )


def run(arguments: argparse.Namespace) -> int:
    """Run `backup` or `restore`; print what happened; return the exit status."""
    from infra.backup import (
        BackupError,
        backup,
        database_from_env,
        download,
        list_backups,
        object_store,
        restore,
    )

    try:
        target = object_store(arguments.bucket, arguments.prefix, arguments.endpoint_url)
        if arguments.command == "backup" and arguments.list:
            for item in list_backups(target):
                print(f"{item.key}\t{item.size}\t{item.taken_at.isoformat()}")
            return 0
        if arguments.command == "restore" and arguments.download_to:
            key = download(target, arguments.download_to, arguments.key)
            print(f"downloaded s3://{target.bucket}/{key} to {arguments.download_to}")
            return 0
        from_file = getattr(arguments, "from_file", None)
        database = None if from_file else database_from_env()
        if arguments.command == "backup":
            made = backup(
                database, target, arguments.retention_days, arguments.keep, from_file=from_file
            )
            source = database.display if database else str(from_file)
            print(
                f"backed up {source} to s3://{target.bucket}/{made.key} "
                f"({made.size} bytes, {made.seconds:.1f} s)"
            )
            for key in made.deleted:
                print(f"deleted {key} (retention)")
            return 0
        assert database is not None
        done = restore(database, target, arguments.key, arguments.force)
        print(
            f"restored s3://{target.bucket}/{done.key} ({done.size} bytes) into "
            f"{database.display} in {done.seconds:.1f} s"
            + (f", replacing {done.replaced_tables} tables" if done.replaced_tables else "")
        )
        return 0
    except BackupError as error:
        print(f"{arguments.command}: {error}", file=sys.stderr)
        return 1
