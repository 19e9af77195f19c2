"""DatabaseBackup: a Kubernetes CronJob that dumps the bundled PostgreSQL to the object store.

Each run is one pod: an init container (the pinned `BACKUP_DUMP_IMAGE`) runs `pg_dump
--format=custom` into an emptyDir, then the AWS CLI (`AWS_CLI_IMAGE`) uploads it as
`<prefix><UTC timestamp>.dump` (the key format `prefect-platform restore` reads) and deletes
the backups older than the retention (never the one it just made, never a key of another
shape). Passwords and keys reach the pod only as `secretKeyRef`s to the stack's Secrets. A
NetworkPolicy admits these pods, besides the server chart's, to the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from infra.components.object_store import CREDENTIALS_SECRET_NAME, RESTRICTED_CONTAINER
from infra.components.object_store import SERVICE_NAME as OBJECT_STORE
from infra.components.server_values import DATABASE_SECRET_NAME, RELEASE_NAME
from infra.components.versions import AWS_CLI_IMAGE, BACKUP_DUMP_IMAGE

NAME = "database-backup"
"""Name of the CronJob, its pods' `app.kubernetes.io/name` and the NetworkPolicy."""

DUMP_FILE = "/backup/database.dump"
"""Where the init container writes the dump and the upload container reads it."""

UPLOAD_SCRIPT = r"""set -euo pipefail
# The endpoint on every call: AWS CLI releases before 2.13 ignore AWS_ENDPOINT_URL.
aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
key="${BACKUP_PREFIX}$(date -u +%Y%m%dT%H%M%S.%3NZ).dump"
aws s3 cp --only-show-errors "$BACKUP_FILE" "s3://${BACKUP_BUCKET}/${key}"
echo "uploaded s3://${BACKUP_BUCKET}/${key} ($(wc -c < "$BACKUP_FILE") bytes)"
cutoff="$(date -u -d "@$(( $(date +%s) - BACKUP_RETENTION_DAYS * 86400 ))" +%Y%m%dT%H%M%S.%3NZ)"
aws s3api list-objects-v2 --bucket "$BACKUP_BUCKET" --prefix "$BACKUP_PREFIX" \
    --query 'Contents[].Key' --output text | tr '\t' '\n' | while read -r old; do
  name="${old#"$BACKUP_PREFIX"}"
  [[ "$name" =~ ^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.dump$ ]] || continue
  [[ "$old" != "$key" && "$name" < "$cutoff" ]] || continue
  aws s3 rm --only-show-errors "s3://${BACKUP_BUCKET}/${old}"
  echo "deleted ${old} (older than ${BACKUP_RETENTION_DAYS} days)"
done
"""
"""Upload the dump, then apply retention (bash; the AWS CLI image has GNU date)."""

DUMP_COMMAND = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges"]
"""What the init container runs (connection from `PG*` variables), plus `--file=...`."""


@dataclass(frozen=True)
class DatabaseBackupArgs:
    """Inputs of `DatabaseBackup` (defaults: the prefect-server chart's bundled PostgreSQL)."""

    namespace: str
    """The platform's namespace (database, object store and their Secrets live there)."""
    bucket: str
    """Bucket of the backups (must exist: the object store's bucket Job creates the stack's)."""
    schedule: str = "17 3 * * *"
    """Cron schedule of the CronJob."""
    retention_days: int = 14
    """Backups older than this are deleted after each successful backup."""
    prefix: str = "backups/"
    """Key prefix, ending in `/`."""
    database_name: str = "server"
    """The chart's database (`postgresql.auth.database`)."""
    database_user: str = "prefect"
    """The chart's user (`postgresql.auth.username`)."""
    password_secret: str = DATABASE_SECRET_NAME
    """Secret holding the user's password ..."""
    password_key: str = "password"
    """... under this key."""


class DatabaseBackup(pulumi.ComponentResource):
    """The scheduled `pg_dump` of the bundled PostgreSQL to the object store, with retention."""

    cron_job_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: DatabaseBackupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if not args.prefix.endswith("/") or args.prefix.startswith("/"):
            raise ValueError(f"{name}: prefix {args.prefix!r} must end (and not start) with '/'")
        if args.retention_days < 1:
            raise ValueError(f"{name}: retention_days must be at least 1")
        super().__init__("prefect-platform:kubernetes:DatabaseBackup", name, None, opts)
        labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "prefect-platform"}
        policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-to-database",
            metadata={"name": NAME, "namespace": args.namespace},
            spec=cast(k8s.networking.v1.NetworkPolicySpecArgsDict, database_policy_spec()),
            opts=pulumi.ResourceOptions(parent=self),
        )
        cron_job = k8s.batch.v1.CronJob(
            f"{name}-cron-job",
            metadata={"name": NAME, "namespace": args.namespace, "labels": labels},
            spec=cast(k8s.batch.v1.CronJobSpecArgsDict, cron_job_spec(args)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.cron_job_name = cron_job.metadata.apply(lambda m: m.name or NAME)
        self.register_outputs({"cron_job_name": self.cron_job_name})


def database_policy_spec() -> dict[str, Any]:
    """Admit the backup pods to the bundled PostgreSQL on 5432 (policies add up)."""
    return {
        "podSelector": {
            "matchLabels": {
                "app.kubernetes.io/instance": RELEASE_NAME,
                "app.kubernetes.io/name": "postgresql",
            }
        },
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": NAME}}}],
                "ports": [{"protocol": "TCP", "port": 5432}],
            }
        ],
    }


def _secret(name: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": name, "key": key}}


def cron_job_spec(args: DatabaseBackupArgs) -> dict[str, Any]:
    """The CronJob's spec: dump in an init container, upload and retention in the main one."""
    endpoint = f"http://{OBJECT_STORE}.{args.namespace}.svc.cluster.local:9000"
    database_env = [
        {
            "name": "PGHOST",
            "value": f"{RELEASE_NAME}-postgresql.{args.namespace}.svc.cluster.local",
        },
        {"name": "PGPORT", "value": "5432"},
        {"name": "PGDATABASE", "value": args.database_name},
        {"name": "PGUSER", "value": args.database_user},
        {"name": "PGPASSWORD", "valueFrom": _secret(args.password_secret, args.password_key)},
    ]
    upload_env = [
        {"name": "AWS_ENDPOINT_URL", "value": endpoint},
        {"name": "AWS_DEFAULT_REGION", "value": "us-east-1"},
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": _secret(CREDENTIALS_SECRET_NAME, "access-key")},
        {
            "name": "AWS_SECRET_ACCESS_KEY",
            "valueFrom": _secret(CREDENTIALS_SECRET_NAME, "secret-key"),
        },
        {"name": "HOME", "value": "/tmp"},
        {"name": "BACKUP_FILE", "value": DUMP_FILE},
        {"name": "BACKUP_BUCKET", "value": args.bucket},
        {"name": "BACKUP_PREFIX", "value": args.prefix},
        {"name": "BACKUP_RETENTION_DAYS", "value": str(args.retention_days)},
    ]
    mount = [{"name": "backup", "mountPath": "/backup"}]
    resources = {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }
    pod = {
        "metadata": {"labels": {"app.kubernetes.io/name": NAME}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsUser": 999, "runAsGroup": 999, "fsGroup": 999},
            "volumes": [{"name": "backup", "emptyDir": {}}],
            "initContainers": [
                {
                    "name": "pg-dump",
                    "image": BACKUP_DUMP_IMAGE,
                    "command": [*DUMP_COMMAND, f"--file={DUMP_FILE}"],
                    "env": database_env,
                    "volumeMounts": mount,
                    "securityContext": RESTRICTED_CONTAINER,
                    "resources": resources,
                }
            ],
            "containers": [
                {
                    "name": "upload",
                    "image": AWS_CLI_IMAGE,
                    "command": ["/bin/bash", "-c", UPLOAD_SCRIPT],
                    "env": upload_env,
                    "volumeMounts": mount,
                    "securityContext": RESTRICTED_CONTAINER,
                    "resources": resources,
                }
            ],
        },
    }
    return {
        "schedule": args.schedule,
        "timeZone": "Etc/UTC",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": {"app.kubernetes.io/name": NAME}},
            "spec": {"backoffLimit": 2, "activeDeadlineSeconds": 3600, "template": pod},
        },
    }
