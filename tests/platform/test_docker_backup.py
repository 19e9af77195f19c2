"""The scheduled database backup the Docker stack declares (components/docker_backup.py).

The `docker` stack's real program runs under Pulumi's mocks. With `backup` enabled (the
default) it declares `prefect-backup-dump` (PostgreSQL's image, the server's database and its
password) and `prefect-backup` (the flows image, the schedule script uploaded into it, the
results bucket and the object store's root keys), sharing a retained spool volume; the schedule,
retention and prefix are the stack's `backup` settings; every secret stays inside a Pulumi
secret. `backup.enabled: false` declares neither. tests/containers/test_docker_backup.py runs
the two containers for real.
"""

from __future__ import annotations

from pathlib import Path

from infra.backup import scheduled
from infra.components.docker_backup import SCRIPT_PATH
from infra.components.versions import FLOWS_IMAGE, POSTGRES_IMAGE
from tests.harness.mockstack import (
    SECRET_PREFIX,
    StackRun,
    run_stack,
    stack_config,
    strings_outside_secrets,
)
from tests.platform.test_stacks import containers, env_of

BACKUP_CONTAINERS = ("prefect-backup-dump", "prefect-backup")


def test_the_docker_stack_backs_up_its_database_with_the_configured_settings() -> None:
    settings = {"schedule": "0 */6 * * *", "retentionDays": 3, "prefix": "prefect/nightly/"}
    run = run_stack("docker", {**stack_config("docker"), "backup": settings})
    found = containers(run)
    dump, upload = (found[name] for name in BACKUP_CONTAINERS)
    assert run.named("prefect-backup-dump-image").inputs["name"] == POSTGRES_IMAGE
    assert run.named("prefect-backup-image").inputs["name"] == FLOWS_IMAGE

    env = env_of(upload)
    assert {key: env[key] for key in env if key.startswith("BACKUP_")} == {
        "BACKUP_SCHEDULE": "0 */6 * * *",
        "BACKUP_RETENTION_DAYS": "3",
        "BACKUP_PREFIX": "prefect/nightly/",
        "BACKUP_BUCKET": "prefect-results",  # the first of the stack's buckets
        "BACKUP_SPOOL": scheduled.SPOOL,
    }
    assert env["AWS_ENDPOINT_URL"] == "http://object-store:9000"
    # The root keys, as the bucket job uses them, not the flows' user's.
    buckets_job = env_of(found["prefect-create-buckets"])
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key] == buckets_job[key] and env[key].startswith(SECRET_PREFIX)
    assert upload.inputs["command"] == ["python", SCRIPT_PATH]
    (uploaded,) = upload.inputs["uploads"]
    assert uploaded["file"] == SCRIPT_PATH
    assert uploaded["content"] == Path(scheduled.__file__).read_text()

    database = env_of(dump)
    server = env_of(found["prefect-postgres"])
    assert database["PGHOST"] == "prefect-postgres"
    assert (database["PGUSER"], database["PGDATABASE"]) == (
        server["POSTGRES_USER"],
        server["POSTGRES_DB"],
    )
    assert database["PGPASSWORD"] == server["POSTGRES_PASSWORD"]
    assert database["PGPASSWORD"].startswith(SECRET_PREFIX)
    assert dump.inputs["entrypoints"] == ["/bin/bash", "-c"]
    assert "pg_dump --format=custom --no-owner --no-privileges" in dump.inputs["command"][0]

    (spool,) = [v for v in run.of_type("docker:index/volume:Volume") if "spool" in v.name]
    assert spool.retain_on_delete
    for container in (dump, upload):
        assert container.inputs["volumes"] == [
            {"containerPath": scheduled.SPOOL, "volumeName": spool.inputs["name"]}
        ]
        assert container.inputs["restart"] == "unless-stopped"
        assert container.inputs["healthcheck"]["tests"][0] == "CMD"
        assert container.inputs["wait"] is True and container.delete_before_replace
        assert "envs" in container.additional_secret_outputs
        plain = list(strings_outside_secrets(container.raw))
        leaks = [text for text in plain if any(s in text for s in run.secret_values)]
        assert leaks == []
        assert not any(SECRET_PREFIX in text for text in plain)


def test_the_default_docker_stack_backs_up_nightly_for_two_weeks(
    stack_runs: dict[str, StackRun],
) -> None:
    env = env_of(containers(stack_runs["docker"])["prefect-backup"])
    assert (env["BACKUP_SCHEDULE"], env["BACKUP_RETENTION_DAYS"], env["BACKUP_PREFIX"]) == (
        "17 3 * * *",
        "14",
        "backups/",
    )


def test_no_backup_containers_when_backup_is_disabled() -> None:
    run = run_stack("docker", {**stack_config("docker"), "backup": {"enabled": False}})
    assert not set(BACKUP_CONTAINERS) & set(containers(run))
    assert not [v for v in run.of_type("docker:index/volume:Volume") if "spool" in v.name]
    assert "prefect-postgres" in containers(run)
