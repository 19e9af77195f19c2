"""The CronJob's two containers, run for real here: its `pg_dump` command, then its upload and
retention script (bash, GNU date, the AWS CLI) with the environment the manifest gives them,
only the addresses and credentials swapped for the local PostgreSQL and S3 server. What they
leave in the bucket must be what `prefect-platform restore` reads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.backup import object_store, parse_database_url, restore
from infra.backup.store import key_for
from infra.components.database_backup import DUMP_FILE, DatabaseBackupArgs, cron_job_spec
from tests.backup.conftest import DatabaseFactory, libpq
from tests.harness.live_server import psql
from tests.harness.s3 import S3Server


def run_container(container: dict[str, Any], env: dict[str, str]) -> str:
    """Run a container's command on this machine with its manifest env updated by `env`."""
    manifest_env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    result = subprocess.run(
        container["command"],
        env={"PATH": os.environ["PATH"], **manifest_env, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_cron_jobs_commands_back_up_with_retention_and_restore_reads_it(
    new_database: DatabaseFactory, s3_env: S3Server, tmp_path: Path
) -> None:
    if shutil.which("aws") is None:
        pytest.skip("the AWS CLI (`aws`) is not installed: the CronJob's upload script needs it")
    source = new_database()
    psql(libpq(source), "CREATE TABLE flow_run (name text); INSERT INTO flow_run VALUES ('x')")
    prefix = "scheduled-test/"
    spec = cron_job_spec(
        DatabaseBackupArgs(
            namespace="prefect", bucket=s3_env.bucket, retention_days=7, prefix=prefix
        )
    )
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (dump,), (upload,) = pod["initContainers"], pod["containers"]
    store = object_store(s3_env.bucket, prefix)
    now = datetime.now(UTC)
    old, recent = key_for(store, now - timedelta(days=20)), key_for(store, now - timedelta(days=1))
    for key in (old, recent, f"{prefix}README.txt"):
        s3_env.client().put_object(Bucket=s3_env.bucket, Key=key, Body=b"x")

    target = parse_database_url(source)
    dump_file = tmp_path / Path(DUMP_FILE).name
    local_db = {"PGHOST": target.host, "PGPORT": str(target.port), "PGDATABASE": target.name}
    run_container(
        {**dump, "command": [c.replace(DUMP_FILE, str(dump_file)) for c in dump["command"]]},
        {**local_db, "PGUSER": target.user, "PGPASSWORD": "unused-with-trust"},
    )
    output = run_container(
        upload,
        {
            "BACKUP_FILE": str(dump_file),
            "AWS_ENDPOINT_URL": s3_env.endpoint_url,
            "AWS_ACCESS_KEY_ID": s3_env.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_env.secret_key,
            "HOME": str(tmp_path),
        },
    )
    keys = sorted(s3_env.keys(prefix))
    (new,) = set(keys) - {recent, f"{prefix}README.txt"}
    assert keys == sorted([new, recent, f"{prefix}README.txt"])
    assert f"deleted {old}" in output and f"uploaded s3://{s3_env.bucket}/{new}" in output

    copy = new_database()
    restored = restore(parse_database_url(copy), store, new)
    assert restored.key == new
    assert psql(libpq(copy), "SELECT name FROM flow_run").split() == ["x"]
