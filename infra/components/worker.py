"""Worker: the prefect-worker Helm chart for one Kubernetes work pool.

The pool belongs to the program's work-pool resource alone (`PrefectObjects`): the worker never
creates it (`--no-create-pool-if-not-found`) and the chart gets no `baseJobTemplate`, so neither
its `sync-base-job-template` init container nor `prefect worker start --base-job-template` writes
the pool's template, and no per-chart ConfigMap (named `prefect-worker-base-job-template` whatever
the release, templates/_helpers.tpl `worker.baseJobTemplateName`) collides between two pools.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.server_values import ROTATION_ANNOTATION
from infra.components.versions import HELM_REPOSITORY, PREFECT_IMAGE, PREFECT_WORKER_CHART_VERSION
from infra.merging import deep_merge

NO_CREATE_POOL = "--no-create-pool-if-not-found"
"""`prefect worker start` flag: a missing pool is waited for (with a warning), never created."""


def release_name(pool_name: str) -> str:
    """A stable Helm release name for a pool: `worker-<pool as a DNS label>`."""
    label = re.sub(r"[^a-z0-9-]+", "-", pool_name.lower()).strip("-")
    return f"worker-{label}"[:53].rstrip("-")


@dataclass(frozen=True)
class WorkerArgs:
    """Inputs of `Worker`; plain values so they can be validated before anything is declared."""

    pool_name: str
    """Work pool the worker polls (declared in `pools/`)."""
    pool_type: str
    """Work pool type; only `kubernetes` runs through this chart."""
    namespace: str
    """Namespace of the worker and of the flow-run jobs."""
    api_url: pulumi.Input[str]
    """In-cluster API URL of the server (`http://prefect-server.<ns>.svc.cluster.local:4200/api`)."""
    auth_secret_name: pulumi.Input[str]
    """Kubernetes Secret with key `auth-string` (the server's)."""
    image_tag: str
    """Tag of `prefecthq/prefect`; the worker runs `<tag>-kubernetes`."""
    base_job_template: Mapping[str, Any] | None = None
    """The pool's base job template (from `pools/`): checked here, applied by the pool resource."""
    pool_resource: pulumi.Resource | None = None
    """The Pulumi resource that owns the pool; the release is installed after it."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """Base values merged with the stack overlay (no secrets)."""
    replicas: int = 1
    """Worker replicas."""
    auth_rotation: str = "1"
    """The server's `authRotation`; a new value restarts the worker on the new password."""
    chart_version: str = PREFECT_WORKER_CHART_VERSION
    """Pinned prefect-worker chart version."""


class Worker(pulumi.ComponentResource):
    """One prefect-worker release polling one Kubernetes work pool, authenticated by secret."""

    pool_name: pulumi.Output[str]
    release_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: WorkerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if args.pool_type != "kubernetes":
            raise ValueError(
                f"{name}: pool {args.pool_name!r} has type {args.pool_type!r}; "
                "the prefect-worker chart here runs Kubernetes pools only"
            )
        if args.base_job_template is not None and "job_configuration" not in args.base_job_template:
            raise ValueError(f"{name}: base_job_template has no 'job_configuration'")
        super().__init__("prefect-platform:kubernetes:Worker", name, None, opts)
        release = k8s.helm.v3.Release(
            f"{name}-release",
            k8s.helm.v3.ReleaseArgs(
                name=release_name(args.pool_name),
                chart="prefect-worker",
                version=args.chart_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=HELM_REPOSITORY),
                namespace=args.namespace,
                values=pulumi.Output.all(args.api_url, args.auth_secret_name).apply(
                    lambda pair: worker_values(args, pair[0], pair[1])
                ),
                timeout=600,
                max_history=5,
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[args.pool_resource] if args.pool_resource is not None else None,
            ),
        )
        self.pool_name = pulumi.Output.from_input(args.pool_name)
        self.release_name = release.name.apply(lambda n: n or release_name(args.pool_name))
        self.register_outputs({"pool_name": self.pool_name, "release_name": self.release_name})


def worker_values(args: WorkerArgs, api_url: str, auth_secret_name: str) -> dict[str, Any]:
    """The chart values for one pool (the auth string is referenced by Secret name only)."""
    config: dict[str, Any] = {"workPool": args.pool_name, "type": "kubernetes"}
    owned: dict[str, Any] = {
        "fullnameOverride": release_name(args.pool_name),
        "worker": {
            "replicaCount": args.replicas,
            "podAnnotations": {ROTATION_ANNOTATION: args.auth_rotation},
            "image": {"repository": PREFECT_IMAGE, "prefectTag": f"{args.image_tag}-kubernetes"},
            "config": config,
            # Appended to `prefect worker start` (templates/deployment.yaml, `worker.extraArgs`).
            "extraArgs": [NO_CREATE_POOL],
            "apiConfig": "selfHostedServer",
            "selfHostedServerApiConfig": {
                "apiUrl": api_url,
                "basicAuth": {
                    "enabled": True,
                    "authString": "",
                    "existingSecret": auth_secret_name,
                },
            },
        },
    }
    merged: dict[str, Any] = deep_merge(args.values, owned)
    return merged
