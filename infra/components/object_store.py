"""ObjectStore: an S3-compatible server on Kubernetes (MinIO or SeaweedFS) with its buckets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, cast

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.components.store_access import (
    S3_CONFIG_ENV,
    bucket_script,
    minio_user_script,
    seaweedfs_command,
    seaweedfs_s3_config,
)
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
    """An S3 server with generated credentials, a data volume and the stack's buckets.

    Two users (`store_access.py`): the root keys (`access_key`, `secret_key`) and the flows'
    keys (`flows_access_key`, `flows_secret_key`), limited to the stack's buckets.
    """

    endpoint_url: pulumi.Output[str]
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]
    flows_access_key: pulumi.Output[str]
    flows_secret_key: pulumi.Output[str]
    buckets: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: ObjectStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if not args.buckets:
            raise ValueError(f"{name}: at least one bucket (the results bucket) is required")
        super().__init__("prefect-platform:kubernetes:ObjectStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def key(role: str, length: int) -> pulumi.Output[str]:
            generated = random.RandomPassword(
                f"{name}-{role}", length=length, special=False, opts=child
            )
            return pulumi.Output.secret(generated.result)

        self.access_key, self.secret_key = key("access-key", 20), key("secret-key", 40)
        self.flows_access_key = key("flows-access-key", 20)
        self.flows_secret_key = key("flows-secret-key", 40)
        keys = [self.access_key, self.secret_key, self.flows_access_key, self.flows_secret_key]
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=self._meta(args, CREDENTIALS_SECRET_NAME),
            type="Opaque",
            string_data={
                "access-key": self.access_key,
                "secret-key": self.secret_key,
                "flows-access-key": self.flows_access_key,
                "flows-secret-key": self.flows_secret_key,
                "s3-config": pulumi.Output.all(*keys).apply(
                    lambda k: json.dumps(seaweedfs_s3_config(k[:2], k[2:], args.buckets))
                ),
            },
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
        if args.kind == "minio":
            k8s.batch.v1.Job(
                f"{name}-flows-user",
                metadata=self._meta(args, f"{SERVICE_NAME}-flows-user"),
                spec=cast(k8s.batch.v1.JobSpecArgsDict, self._user_job_spec(args, endpoint)),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[service]),
            )
        self.endpoint_url = service.metadata.apply(lambda _: endpoint)
        self.buckets = pulumi.Output.from_input(list(args.buckets))
        self.register_outputs(
            {
                "endpoint_url": self.endpoint_url,
                "access_key": self.access_key,
                "secret_key": self.secret_key,
                "flows_access_key": self.flows_access_key,
                "flows_secret_key": self.flows_secret_key,
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
            command = seaweedfs_command(["mini", "-dir=/data", "-s3.port=9000"])
            env = [{"name": S3_CONFIG_ENV, "valueFrom": from_secret("s3-config")}]
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
        env = [
            {"name": "AWS_ENDPOINT_URL", "value": endpoint},
            {"name": "AWS_DEFAULT_REGION", "value": "us-east-1"},
            {"name": "HOME", "value": "/tmp"},
            _secret_env("AWS_ACCESS_KEY_ID", "access-key"),
            _secret_env("AWS_SECRET_ACCESS_KEY", "secret-key"),
        ]
        return _job(AWS_CLI_IMAGE, "create-buckets", bucket_script(args.buckets), env)

    @staticmethod
    def _user_job_spec(args: ObjectStoreArgs, endpoint: str) -> dict[str, Any]:
        env = [
            {"name": "MINIO_ENDPOINT", "value": endpoint},
            _secret_env("MINIO_ROOT_USER", "access-key"),
            _secret_env("MINIO_ROOT_PASSWORD", "secret-key"),
            _secret_env("FLOWS_ACCESS_KEY", "flows-access-key"),
            _secret_env("FLOWS_SECRET_KEY", "flows-secret-key"),
        ]
        image = f"{MINIO_IMAGE}:{args.image_tag or MINIO_TAG}"
        return _job(image, "flows-user", minio_user_script(args.buckets), env)


def _secret_env(name: str, key: str) -> dict[str, Any]:
    return {
        "name": name,
        "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET_NAME, "key": key}},
    }


def _job(image: str, name: str, script: str, env: list[dict[str, Any]]) -> dict[str, Any]:
    """A Job spec running one shell script, retried until it succeeds (the server may start)."""
    return {
        "backoffLimit": 10,
        "template": {
            "spec": {
                "restartPolicy": "OnFailure",
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": name,
                        "image": image,
                        "command": ["/bin/sh", "-c", script],
                        "env": env,
                        "securityContext": _NON_ROOT,
                    }
                ],
            }
        },
    }
