"""ObjectStore: an S3-compatible server on Kubernetes (MinIO or SeaweedFS) with its buckets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.components.versions import (
    AWS_CLI_IMAGE,
    MINIO_IMAGE,
    MINIO_TAG,
    SEAWEEDFS_IMAGE,
    SEAWEEDFS_TAG,
)

SERVICE_NAME = "object-store"
"""Service (and Deployment) name; S3 is on port 9000 of it."""

CREDENTIALS_SECRET_NAME = "object-store-credentials"
"""Kubernetes Secret with keys `access-key` and `secret-key`."""

RESTRICTED_CONTAINER: dict[str, Any] = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""A container's settings under the Pod Security Standard `restricted` profile."""

_NON_ROOT: dict[str, Any] = {
    **RESTRICTED_CONTAINER,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "readOnlyRootFilesystem": False,
}


@dataclass(frozen=True)
class ObjectStoreArgs:
    """Inputs of `ObjectStore`."""

    namespace: str
    """Namespace to run in (must exist)."""
    buckets: tuple[str, ...] = ("prefect-results",)
    """Buckets the stack creates; the first is the results bucket."""
    kind: Literal["minio", "seaweedfs"] = "minio"
    """Server software; both speak the S3 API on port 9000 of the Service."""
    image_tag: str | None = None
    """Override the pinned image tag."""
    storage_size: str = "5Gi"
    """Size of the data volume."""
    node_port: int | None = None
    """Expose S3 as this NodePort (ClusterIP otherwise)."""
    protect: bool = False
    """Keep the data volume: `protect` it and retain it on delete (the namespace too, see
    `infra/targets/kubernetes.py`); False: `pulumi destroy` deletes it."""


class ObjectStore(pulumi.ComponentResource):
    """An S3 server with generated credentials, a data volume and the stack's buckets."""

    endpoint_url: pulumi.Output[str]
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]
    buckets: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: ObjectStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if not args.buckets:
            raise ValueError(f"{name}: at least one bucket (the results bucket) is required")
        super().__init__("prefect-platform:kubernetes:ObjectStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        access = random.RandomPassword(f"{name}-access-key", length=20, special=False, opts=child)
        secret = random.RandomPassword(f"{name}-secret-key", length=40, special=False, opts=child)
        self.access_key = pulumi.Output.secret(access.result)
        self.secret_key = pulumi.Output.secret(secret.result)
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=self._meta(args, CREDENTIALS_SECRET_NAME),
            type="Opaque",
            string_data={"access-key": self.access_key, "secret-key": self.secret_key},
            opts=child,
        )
        volume = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-data",
            metadata=self._meta(args, f"{SERVICE_NAME}-data"),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                    requests={"storage": args.storage_size}
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=args.protect, protect=args.protect
            ),
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-server",
            metadata=self._meta(args, SERVICE_NAME),
            spec=cast(k8s.apps.v1.DeploymentSpecArgsDict, self._deployment_spec(args)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[credentials, volume]),
        )
        service_spec: dict[str, Any] = {
            "type": "NodePort" if args.node_port else "ClusterIP",
            "selector": {"app.kubernetes.io/name": SERVICE_NAME},
            "ports": [{"name": "s3", "port": 9000, "targetPort": "s3"}],
        }
        if args.node_port:
            service_spec["ports"][0]["nodePort"] = args.node_port
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=self._meta(args, SERVICE_NAME),
            spec=cast(k8s.core.v1.ServiceSpecArgsDict, service_spec),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
        )
        endpoint = f"http://{SERVICE_NAME}.{args.namespace}.svc.cluster.local:9000"
        k8s.batch.v1.Job(
            f"{name}-buckets",
            metadata=self._meta(args, f"{SERVICE_NAME}-buckets"),
            spec=cast(k8s.batch.v1.JobSpecArgsDict, self._bucket_job_spec(args, endpoint)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[service]),
        )
        self.endpoint_url = service.metadata.apply(lambda _: endpoint)
        self.buckets = pulumi.Output.from_input(list(args.buckets))
        self.register_outputs(
            {
                "endpoint_url": self.endpoint_url,
                "access_key": self.access_key,
                "secret_key": self.secret_key,
                "buckets": self.buckets,
            }
        )

    @staticmethod
    def _meta(args: ObjectStoreArgs, name: str) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=args.namespace,
            labels={
                "app.kubernetes.io/name": SERVICE_NAME,
                "app.kubernetes.io/part-of": "prefect-platform",
            },
        )

    @staticmethod
    def _deployment_spec(args: ObjectStoreArgs) -> dict[str, Any]:
        def from_secret(key: str) -> dict[str, Any]:
            return {"secretKeyRef": {"name": CREDENTIALS_SECRET_NAME, "key": key}}

        if args.kind == "minio":
            image = f"{MINIO_IMAGE}:{args.image_tag or MINIO_TAG}"
            command = [
                "minio",
                "server",
                "/data",
                "--address",
                ":9000",
                "--console-address",
                ":9001",
            ]
            env = [
                {"name": "MINIO_ROOT_USER", "valueFrom": from_secret("access-key")},
                {"name": "MINIO_ROOT_PASSWORD", "valueFrom": from_secret("secret-key")},
            ]
            probe = {"httpGet": {"path": "/minio/health/ready", "port": "s3"}}
        else:
            image = f"{SEAWEEDFS_IMAGE}:{args.image_tag or SEAWEEDFS_TAG}"
            command = ["weed", "mini", "-dir=/data", "-s3.port=9000"]
            env = [
                {"name": "AWS_ACCESS_KEY_ID", "valueFrom": from_secret("access-key")},
                {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": from_secret("secret-key")},
            ]
            probe = {"tcpSocket": {"port": "s3"}}
        container = {
            "name": args.kind,
            "image": image,
            "command": command,
            "env": env,
            "ports": [{"name": "s3", "containerPort": 9000}],
            "readinessProbe": {**probe, "periodSeconds": 5},
            "livenessProbe": {**probe, "periodSeconds": 20, "failureThreshold": 6},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "securityContext": _NON_ROOT,
            "resources": {
                "requests": {"cpu": "100m", "memory": "256Mi"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
        }
        labels = {"app.kubernetes.io/name": SERVICE_NAME}
        return {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {"fsGroup": 1000},
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "data",
                            "persistentVolumeClaim": {"claimName": f"{SERVICE_NAME}-data"},
                        }
                    ],
                },
            },
        }

    @staticmethod
    def _bucket_job_spec(args: ObjectStoreArgs, endpoint: str) -> dict[str, Any]:
        script = bucket_script(args.buckets)
        env = [
            {"name": "AWS_ENDPOINT_URL", "value": endpoint},
            {"name": "AWS_DEFAULT_REGION", "value": "us-east-1"},
            {"name": "HOME", "value": "/tmp"},
            {
                "name": "AWS_ACCESS_KEY_ID",
                "valueFrom": {
                    "secretKeyRef": {"name": CREDENTIALS_SECRET_NAME, "key": "access-key"}
                },
            },
            {
                "name": "AWS_SECRET_ACCESS_KEY",
                "valueFrom": {
                    "secretKeyRef": {"name": CREDENTIALS_SECRET_NAME, "key": "secret-key"}
                },
            },
        ]
        return {
            "backoffLimit": 10,
            "template": {
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": "create-buckets",
                            "image": AWS_CLI_IMAGE,
                            "command": ["/bin/sh", "-c", script],
                            "env": env,
                            "securityContext": _NON_ROOT,
                        }
                    ],
                }
            },
        }


def bucket_script(buckets: tuple[str, ...]) -> str:
    """A shell script (for the aws-cli image) that creates each bucket unless it exists."""
    lines = [
        f"aws s3api head-bucket --bucket {bucket} 2>/dev/null || "
        f"aws s3api create-bucket --bucket {bucket}"
        for bucket in buckets
    ]
    return "set -e\n" + "\n".join(lines) + "\necho buckets ready\n"
