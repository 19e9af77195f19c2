"""DaskCluster: the official Dask Helm chart, a scheduler and workers for flows' task runners.

Deployments select it by job variables: `env: {PLATFORM_DASK_ADDRESS: <scheduler_address>}`
(flows/integrations/clusters.py reads it and gives `DaskTaskRunner` that address). The
scheduler and workers run the stack's `dask.image`: an image holding Prefect, prefect-dask and
the flows' dependencies (Dask workers import and run the tasks, and report them to the API),
with `dask-scheduler` and `dask-worker` on PATH (the chart calls those). Workers get the API's
in-cluster URL and its auth string as a `secretKeyRef` (never a value). A NetworkPolicy
admits the namespace's pods to the release's pods (flow runs to the scheduler, workers to
each other), inside the platform's default-deny ingress. Kubernetes target only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from infra.components.versions import DASK_CHART_VERSION, DASK_HELM_REPOSITORY
from infra.merging import deep_merge

RELEASE_NAME = "dask"
"""The release and `fullnameOverride`: Services `dask-scheduler`, Deployments `dask-*`."""

SCHEDULER_PORT = 8786
"""The scheduler Service's port (the chart's `scheduler.servicePort`)."""

_IMAGE = re.compile(
    r"^(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"


def scheduler_address(namespace: str) -> str:
    """The in-cluster address deployments put in `PLATFORM_DASK_ADDRESS`."""
    return f"tcp://{RELEASE_NAME}-scheduler.{namespace}.svc.cluster.local:{SCHEDULER_PORT}"


class DaskConfig(BaseModel):
    """`prefect-platform:dask`: a Dask cluster in the stack's namespace (Kubernetes target)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    enabled: bool = Field(default=False, description="Declare the Dask cluster.")
    image: str = Field(
        default="",
        description="Image of the scheduler and workers (required when enabled): Prefect, "
        "prefect-dask and the flows' dependencies, `dask-scheduler`/`dask-worker` on PATH; "
        "pinned by tag or digest.",
    )
    workers: int = Field(default=2, ge=1, le=100, description="Worker pods.")
    threads_per_worker: int = Field(default=1, ge=1, le=64, description="Threads per worker.")
    worker_cpu: str = Field(default="1", pattern=_QUANTITY, description="CPU of a worker pod.")
    worker_memory: str = Field(
        default="2Gi", pattern=_QUANTITY, description="Memory of a worker pod."
    )

    @model_validator(mode="after")
    def _image_when_enabled(self) -> DaskConfig:
        if self.enabled:
            split_image(self.image)
        return self


def split_image(image: str) -> tuple[str, str]:
    """`(repository, tag)` of a pinned image reference (a digest becomes `tag@digest`)."""
    match = _IMAGE.fullmatch(image)
    if not image or match is None:
        raise ValueError(f"dask.image {image!r} is not an image reference (registry/path:tag)")
    if match["tag"] in (None, "latest") and match["digest"] is None:
        raise ValueError(f"dask.image {image!r} is not pinned: give a version tag or a digest")
    tag = match["tag"] or ""
    if match["digest"]:
        tag = f"{tag}@{match['digest']}" if tag else match["digest"]
    return match["repository"], tag


@dataclass(frozen=True)
class DaskClusterArgs:
    """Inputs of `DaskCluster`."""

    namespace: str
    """The platform's namespace (the API and its auth Secret live there)."""
    image: str
    """Scheduler and worker image (see `DaskConfig.image`)."""
    api_url: pulumi.Input[str]
    """In-cluster API URL the workers report task runs to."""
    auth_secret_name: pulumi.Input[str]
    """Secret holding the API's auth string under `auth-string`."""
    workers: int = 2
    """Worker pods."""
    threads_per_worker: int = 1
    """Threads per worker."""
    worker_cpu: str = "1"
    """CPU request and limit of a worker pod."""
    worker_memory: str = "2Gi"
    """Memory request and limit of a worker pod (also Dask's `--memory-limit`)."""
    chart_version: str = DASK_CHART_VERSION
    """Pinned `dask` chart version."""
    extra_values: dict[str, Any] = field(default_factory=dict)
    """Values merged last (tests, overlays); never secrets."""


class DaskCluster(pulumi.ComponentResource):
    """A Dask scheduler and workers (official chart) that flow runs reach by address."""

    scheduler_address: pulumi.Output[str]
    release_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: DaskClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        split_image(args.image)
        if args.workers < 1 or args.threads_per_worker < 1:
            raise ValueError(f"{name}: workers and threads_per_worker must be at least 1")
        super().__init__("prefect-platform:kubernetes:DaskCluster", name, None, opts)
        policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-from-namespace",
            metadata={"name": RELEASE_NAME, "namespace": args.namespace},
            spec=cast(k8s.networking.v1.NetworkPolicySpecArgsDict, network_policy_spec()),
            opts=pulumi.ResourceOptions(parent=self),
        )
        release = k8s.helm.v3.Release(
            f"{name}-release",
            k8s.helm.v3.ReleaseArgs(
                name=RELEASE_NAME,
                chart="dask",
                version=args.chart_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=DASK_HELM_REPOSITORY),
                namespace=args.namespace,
                values=pulumi.Output.all(args.api_url, args.auth_secret_name).apply(
                    lambda pair: dask_values(args, pair[0], pair[1])
                ),
                timeout=600,
                max_history=5,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.scheduler_address = pulumi.Output.from_input(scheduler_address(args.namespace))
        self.release_name = release.name.apply(lambda n: n or RELEASE_NAME)
        self.register_outputs(
            {"scheduler_address": self.scheduler_address, "release_name": self.release_name}
        )


def network_policy_spec() -> dict[str, Any]:
    """Admit every pod of the namespace to the release's pods, on any port (policies add up)."""
    return {
        "podSelector": {"matchLabels": {"app": "dask", "release": RELEASE_NAME}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {}}]}],
    }


def dask_values(args: DaskClusterArgs, api_url: str, auth_secret_name: str) -> dict[str, Any]:
    """The chart values: the stack's image, sized workers that can report to the API."""
    repository, tag = split_image(args.image)
    image = {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}
    size = {"cpu": args.worker_cpu, "memory": args.worker_memory}
    worker_env = [
        {"name": "PREFECT_API_URL", "value": api_url},
        {
            "name": "PREFECT_API_AUTH_STRING",
            "valueFrom": {"secretKeyRef": {"name": auth_secret_name, "key": "auth-string"}},
        },
    ]
    values: dict[str, Any] = {
        "fullnameOverride": RELEASE_NAME,
        "scheduler": {
            "image": image,
            "serviceType": "ClusterIP",
            "servicePort": SCHEDULER_PORT,
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
        },
        "worker": {
            "image": {**image, "dask_worker": "dask-worker"},
            "replicas": args.workers,
            "threads_per_worker": args.threads_per_worker,
            "resources": {"requests": size, "limits": size},
            "env": worker_env,
        },
        "jupyter": {"enabled": False},
    }
    merged: dict[str, Any] = deep_merge(values, args.extra_values)
    return merged
