"""The `kubernetes` target: server, object store and a worker per pool, by Helm, in a namespace."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pulumi
import pulumi_kubernetes as k8s

from infra.components.dask_cluster import DaskCluster, DaskClusterArgs
from infra.components.database_backup import DatabaseBackup, DatabaseBackupArgs
from infra.components.network_policies import NetworkPolicies, NetworkPoliciesArgs
from infra.components.object_store import ObjectStore, ObjectStoreArgs
from infra.components.prefect_server import PrefectServer, PrefectServerArgs
from infra.components.task_worker import TaskSource, TaskWorkers, TaskWorkersArgs
from infra.components.values import load_values
from infra.components.webhook_gateway import WebhookGateway, WebhookGatewayArgs
from infra.components.worker import Worker, WorkerArgs, release_name
from infra.config import NAMESPACE, PlatformConfig
from infra.platform_types import GatewaySpec, Platform, PoolSpec, S3Access
from infra.targets.args import component_args

PoolOwners = Callable[[Platform], Mapping[str, pulumi.Resource]]
"""Declares the Prefect objects on a platform; returns the resource owning each work pool."""


def build(
    config: PlatformConfig,
    overlay: str,
    declared: Mapping[str, PoolSpec],
    pool_owners: PoolOwners | None = None,
    gateway: GatewaySpec | None = None,
    tasks: TaskSource | None = None,
) -> Platform:
    """Declare the platform on a Kubernetes cluster.

    Args:
        config: The validated stack configuration.
        overlay: The `helm-values/<chart>/<overlay>.yaml` files to layer over the base values.
        declared: The pools of `pools/` by name (their base job templates are checked here and
            applied by the pool resources, never by the worker chart).
        pool_owners: Called with the platform (server and object store declared) before the
            workers; each worker's release then waits for the resource that owns its pool, so
            the worker never meets a missing pool. None (the platform alone, in tests): no
            such dependency.
        gateway: The webhook endpoints of `webhooks/`; None: no gateway.
        tasks: Where the `taskWorkers` clone their code; None: no task workers.
    """
    server_config = config.server
    namespace = k8s.core.v1.Namespace(
        "namespace",
        metadata={
            "name": config.namespace,
            "labels": {
                "app.kubernetes.io/part-of": "prefect-platform",
                "pod-security.kubernetes.io/enforce": "baseline",
            },
        },
        # Deleting a namespace deletes every volume claim in it (the object store's, the
        # bundled PostgreSQL's): with protectData the namespace outlives `pulumi destroy`.
        opts=pulumi.ResourceOptions(retain_on_delete=config.protect_data),
    )
    in_namespace = pulumi.ResourceOptions(depends_on=[namespace])
    database_url = (
        pulumi.Config(NAMESPACE).require_secret("databaseUrl")
        if server_config.database == "external"
        else None
    )
    server = PrefectServer(
        "prefect",
        component_args(
            PrefectServerArgs,
            server_config,
            config,
            image_tag=config.prefect_image_tag,
            values=load_values("prefect-server", overlay),
            database_url=database_url,
        ),
        opts=in_namespace,
    )
    NetworkPolicies(
        "network-policies",
        NetworkPoliciesArgs(
            namespace=config.namespace,
            bundled_database=server_config.database == "bundled",
            redis=server_config.redis,
        ),
        opts=in_namespace,
    )
    store_config = config.object_store
    store = ObjectStore(
        "object-store",
        component_args(
            ObjectStoreArgs,
            store_config,
            config,
            buckets=tuple(store_config.buckets),
            protect=config.protect_data,
        ),
        opts=in_namespace,
    )
    # The scheduled database backup (docs/operations.md#backups): the bundled PostgreSQL only;
    # an external database is backed up by its provider or `prefect-platform backup`.
    if config.backup.enabled and server_config.database == "bundled":
        DatabaseBackup(
            "database-backup",
            DatabaseBackupArgs(
                namespace=config.namespace,
                bucket=store_config.buckets[0],
                schedule=config.backup.schedule,
                retention_days=config.backup.retention_days,
                prefix=config.backup.prefix,
            ),
            opts=pulumi.ResourceOptions(depends_on=[namespace, server, store]),
        )
    if config.dask.enabled:  # docs/integrations.md: flows reach it by PLATFORM_DASK_ADDRESS
        DaskCluster(
            "dask",
            component_args(
                DaskClusterArgs,
                config.dask,
                namespace=config.namespace,
                api_url=server.internal_api_url,
                auth_secret_name=server.auth_secret_name,
            ),
            opts=pulumi.ResourceOptions(depends_on=[namespace, server]),
        )
    for account in flow_run_service_accounts(config, declared):
        # Flow-run pods run as the account their pool names; it gets no RBAC (no API access).
        k8s.core.v1.ServiceAccount(
            f"flow-runs-{account}",
            metadata={"name": account, "namespace": config.namespace},
            automount_service_account_token=False,
            opts=in_namespace,
        )
    if server_config.node_port or server_config.ingress_host:
        open_ui = f"python3 -m webbrowser {server_config.public_url}"
    else:
        open_ui = (
            f"kubectl -n {config.namespace} port-forward svc/prefect-server 4200:4200 & "
            "python3 -m webbrowser http://127.0.0.1:4200"
        )
    if tasks is not None and config.task_workers:
        TaskWorkers(
            "task-workers",
            TaskWorkersArgs(
                namespace=config.namespace,
                image=config.flows_image,
                workers=list(config.task_workers),
                source=tasks,
                api_url=server.internal_api_url,
                auth_secret_name=server.auth_secret_name,
                auth_rotation=config.auth_rotation,
            ),
            opts=pulumi.ResourceOptions(depends_on=[namespace, server, store]),
        )
    webhook_urls = None
    if gateway is not None:
        webhook_urls = WebhookGateway(
            "webhook-gateway",
            WebhookGatewayArgs(
                namespace=config.namespace,
                image=config.flows_image,
                spec=gateway,
                api_url=server.internal_api_url,
                auth_secret_name=server.auth_secret_name,
                auth_rotation=config.auth_rotation,
                ingress_host=server_config.ingress_host,
                ingress_class_name=server_config.ingress_class_name,
                ingress_tls_secret=server_config.ingress_tls_secret
                or (
                    f"{server_config.ingress_host}-tls"
                    if server_config.ingress_cluster_issuer
                    else None
                ),
                public_url=server_config.public_url if server_config.ingress_host else None,
            ),
            opts=pulumi.ResourceOptions(depends_on=[namespace, server]),
        ).urls
    platform = Platform(
        api_url=server.api_url,
        ui_url=server.ui_url,
        auth_string=server.auth_string,
        s3=S3Access(
            store.endpoint_url,
            store.access_key,
            store.secret_key,
            store_config.buckets,
            store.flows_access_key,
            store.flows_secret_key,
        ),
        worker_pools=[worker.pool for worker in config.workers],
        open_ui_command=open_ui,
        ready=[server, store],
        webhook_urls=webhook_urls,
    )
    owners = pool_owners(platform) if pool_owners is not None else {}
    worker_values = load_values("prefect-worker", overlay)
    for worker in config.workers:
        spec = declared.get(worker.pool)
        Worker(
            f"worker-{worker.pool}",
            component_args(
                WorkerArgs,
                worker,
                config,
                pool_name=worker.pool,
                pool_type=worker.type,
                api_url=server.internal_api_url,
                auth_secret_name=server.auth_secret_name,
                image_tag=config.prefect_image_tag,
                base_job_template=spec.base_job_template if spec else None,
                pool_resource=owners.get(worker.pool),
                values=worker_values,
            ),
            opts=in_namespace,
        )
    return platform


def flow_run_service_accounts(
    config: PlatformConfig, declared: Mapping[str, PoolSpec]
) -> list[str]:
    """Service accounts the stack's Kubernetes pools run their jobs as (declared in pools/)."""
    names = set()
    worker_accounts = {release_name(worker.pool) for worker in config.workers}
    for worker in config.workers:
        spec = declared.get(worker.pool)
        account = spec.service_account_name() if spec else None
        if worker.type == "kubernetes" and account:
            names.add(account)
    names -= worker_accounts
    return sorted(names)
