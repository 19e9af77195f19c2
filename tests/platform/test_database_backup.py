"""The scheduled database backup the Kubernetes stacks declare (components/database_backup.py).

The stacks' real programs run under Pulumi's mocks; the CronJob must agree with the chart's
database (its Service, database and user as the Helm values set them), read every credential
from a Secret by reference, run pinned images and pass `kubernetes-validate --strict`.
tests/backup/test_scheduled_backup_script.py runs its commands for real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.components.database_backup import NAME
from infra.components.versions import AWS_CLI_IMAGE, BACKUP_DUMP_IMAGE
from infra.config import ConfigError
from infra.config_loader import parse_config
from tests.harness.mockstack import SECRET_PREFIX, StackRun, run_stack, stack_config, unwrap_secrets
from tests.platform.conftest import example_pools
from tests.platform.test_manifests import kubernetes_validate, write

SECRET_ENVS = {"PGPASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def of_kind(run: StackRun, kind: str) -> list[dict[str, Any]]:
    """The stack's raw manifests of one kind."""
    return [m for m in run.kubernetes_manifests() if m["kind"] == kind]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's environment: name -> value or valueFrom."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize("stack", ["local", "pr"])
def test_bundled_database_stacks_back_up_on_a_schedule_from_secrets(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    (cron_job,) = of_kind(run, "CronJob")
    namespace = stack_config(stack).get("namespace", "prefect")
    assert cron_job["metadata"]["name"] == NAME
    assert cron_job["metadata"]["namespace"] == namespace
    spec = cron_job["spec"]
    assert (spec["schedule"], spec["concurrencyPolicy"]) == ("17 3 * * *", "Forbid")
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (dump,), (upload,) = pod["initContainers"], pod["containers"]
    assert (dump["image"], upload["image"]) == (BACKUP_DUMP_IMAGE, AWS_CLI_IMAGE)

    (release,) = [r for r in run.helm_releases() if r.inputs["chart"] == "prefect-server"]
    auth = unwrap_secrets(release.inputs["values"])["postgresql"]["auth"]
    database = env_of(dump)
    assert database["PGHOST"] == f"prefect-server-postgresql.{namespace}.svc.cluster.local"
    assert (database["PGDATABASE"], database["PGUSER"]) == (auth["database"], auth["username"])
    assert database["PGPASSWORD"] == {
        "secretKeyRef": {
            "name": auth["existingSecret"],
            "key": auth["secretKeys"]["userPasswordKey"],
        }
    }
    store = env_of(upload)
    assert store["AWS_ACCESS_KEY_ID"] == {
        "secretKeyRef": {"name": "object-store-credentials", "key": "access-key"}
    }
    assert store["AWS_SECRET_ACCESS_KEY"]["secretKeyRef"]["name"] == "object-store-credentials"
    assert store["AWS_ENDPOINT_URL"] == f"http://object-store.{namespace}.svc.cluster.local:9000"
    assert (
        store["BACKUP_BUCKET"]
        == stack_config(stack)
        .get("objectStore", {"buckets": ["prefect-results"]})
        .get("buckets", ["prefect-results"])[0]
    )
    assert (store["BACKUP_PREFIX"], store["BACKUP_RETENTION_DAYS"]) == ("backups/", "14")
    for container in (dump, upload):
        for entry in container["env"]:
            if entry["name"] in SECRET_ENVS:
                assert "value" not in entry, entry
    assert SECRET_PREFIX not in str(cron_job)

    (policy,) = [p for p in of_kind(run, "NetworkPolicy") if p["metadata"]["name"] == NAME]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "postgresql"
    allowed = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert allowed == spec["jobTemplate"]["spec"]["template"]["metadata"]["labels"]


def test_no_scheduled_backup_for_an_external_database_or_when_disabled(
    stack_runs: dict[str, StackRun],
) -> None:
    assert of_kind(stack_runs["prod"], "CronJob") == []
    config = {**stack_config("local"), "backup": {"enabled": False}}
    run = run_stack("local", config, None, example_pools())
    assert of_kind(run, "CronJob") == []
    assert NAME not in {p["metadata"]["name"] for p in of_kind(run, "NetworkPolicy")}


def test_backup_settings_reach_the_cron_job_and_it_is_strictly_valid(tmp_path: Path) -> None:
    settings = {
        "schedule": "0 */6 * * *",
        "retentionDays": 3,
        "prefix": "prefect/nightly/",
    }
    run = run_stack("local", {**stack_config("local"), "backup": settings}, None, example_pools())
    (cron_job,) = of_kind(run, "CronJob")
    assert cron_job["spec"]["schedule"] == "0 */6 * * *"
    (upload,) = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = env_of(upload)
    assert (env["BACKUP_BUCKET"], env["BACKUP_PREFIX"], env["BACKUP_RETENTION_DAYS"]) == (
        "prefect-results",
        "prefect/nightly/",
        "3",
    )
    backup_objects = [cron_job, *(p for p in of_kind(run, "NetworkPolicy"))]
    result = kubernetes_validate([write(tmp_path, "backup", backup_objects)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"schedule": "every night"}, "backup.schedule"),
        ({"schedule": "0 25 * * *"}, "backup.schedule"),
        ({"retentionDays": 0}, "backup.retentionDays"),
        ({"prefix": "/backups"}, "backup.prefix"),
        ({"bucket": "db-backups"}, "backup.bucket"),
    ],
)
def test_bad_backup_settings_fail_naming_the_key(settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"prefect-platform:{key}"):
        parse_config({**stack_config("local"), "backup": settings})
