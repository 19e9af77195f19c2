"""The platform program: the stack config in, the platform's resources and outputs out.

`build_platform(config, stack, pools)` declares the platform for `config.target` and returns a
`Platform` with what the Prefect-objects step needs: the API URL the Pulumi process reaches the
server on, the auth string (secret), the object store as seen from flow runs, and the pools that
have a worker. `main()` is what `infra/__main__.py` runs under `pulumi up`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.components.docker_host import DockerHost, DockerHostArgs, DockerWorkerPool
from infra.components.object_store import ObjectStore, ObjectStoreArgs
from infra.components.prefect_server import PrefectServer, PrefectServerArgs
from infra.components.values import REPO_ROOT, load_values
from infra.components.worker import Worker, WorkerArgs, release_name
from infra.config import NAMESPACE, ConfigError, PlatformConfig, load_config
from infra.declarations import Declarations, load_declarations
from infra.declarations.deployments import unresolved_environment
from infra.prefect_objects import PrefectObjects, PrefectObjectsArgs, platform_blocks
from infra.providers import Connection


@dataclass(frozen=True)
class PoolSpec:
    """A work pool as declared in `pools/` (name, type, full base job template)."""

    name: str
    """Work pool name."""
    type: str
    """Work pool type (`process`, `docker`, `kubernetes`)."""
    base_job_template: Mapping[str, Any] | None = None
    """The full, merged base job template; None: the worker type's default."""


@dataclass(frozen=True)
class S3Access:
    """The stack's object store, as flow runs see it."""

    endpoint_url: pulumi.Output[str]
    """S3 endpoint URL reachable from flow runs (in-cluster / on the Docker network)."""
    access_key: pulumi.Output[str]
    """Access key id (secret)."""
    secret_key: pulumi.Output[str]
    """Secret access key (secret)."""
    buckets: list[str]
    """Buckets; the first is the results bucket."""

    @property
    def results_bucket(self) -> str:
        """The bucket flow results go to."""
        return self.buckets[0]


@dataclass(frozen=True)
class Platform:
    """What a stack's platform offers the Prefect-objects step and the stack outputs."""

    api_url: pulumi.Output[str]
    """API URL the Pulumi process reaches the server on (`.../api`)."""
    ui_url: pulumi.Output[str]
    """URL of the UI in a browser."""
    auth_string: pulumi.Output[str] | None
    """`user:password` for basic auth (secret); None for an external server without auth."""
    s3: S3Access | None
    """The object store; None for an external target without `externalObjectStore`."""
    worker_pools: list[str] = field(default_factory=list)
    """Names of the work pools that have a worker in this stack."""
    open_ui_command: str = ""
    """A shell command that opens the UI."""
    ready: list[pulumi.Resource] = field(default_factory=list)
    """Resources the Prefect objects wait for (the server answering, buckets created)."""


def build_platform(
    config: PlatformConfig, stack: str, pools: Sequence[PoolSpec] | None = None
) -> Platform:
    """Declare the platform of one stack.

    Args:
        config: The validated stack configuration (`infra.config.load_config()`).
        stack: The stack name; picks the `helm-values/<chart>/<stack>.yaml` overlay unless the
            config names one with `helmValuesOverlay`.
        pools: The pools declared in `pools/`. When given, every configured worker must name one
            of them with the same type; Kubernetes workers get its base job template.

    Raises:
        ConfigError: a worker names a pool that is not declared or has another type.
    """
    declared = _check_pools(config, pools)
    if config.target == "external":
        return _external(config)
    if config.target == "docker":
        return _docker(config)
    return _kubernetes(config, config.helm_values_overlay or stack, declared)


def _check_pools(
    config: PlatformConfig, pools: Sequence[PoolSpec] | None
) -> Mapping[str, PoolSpec]:
    if pools is None:
        return {}
    declared = {pool.name: pool for pool in pools}
    for index, worker in enumerate(config.workers):
        pool = declared.get(worker.pool)
        if pool is None:
            raise ConfigError(
                f"{NAMESPACE}:workers[{index}].pool: no pool {worker.pool!r} in pools/ "
                f"(declared: {', '.join(sorted(declared)) or 'none'})"
            )
        if pool.type != worker.type:
            raise ConfigError(
                f"{NAMESPACE}:workers[{index}].type: {worker.type!r} but pools/ declares "
                f"{worker.pool!r} as {pool.type!r}"
            )
        job_namespace = _job_default(pool, "namespace")
        if config.target == "kubernetes" and job_namespace not in (None, config.namespace):
            raise ConfigError(
                f"{NAMESPACE}:namespace: {config.namespace!r}, but pool {worker.pool!r} runs its "
                f"jobs in namespace {job_namespace!r} (pools/ job_variables.namespace)"
            )
    return declared


def _job_default(pool: PoolSpec, variable: str) -> Any:
    """The default of one job variable in a pool's base job template (None when unset)."""
    template = pool.base_job_template or {}
    spec = template.get("variables", {}).get("properties", {}).get(variable, {})
    return spec.get("default") if isinstance(spec, Mapping) else None


def flow_run_service_accounts(
    config: PlatformConfig, declared: Mapping[str, PoolSpec]
) -> list[str]:
    """Service accounts the stack's Kubernetes pools run their jobs as (declared in pools/)."""
    names = set()
    worker_accounts = {release_name(worker.pool) for worker in config.workers}
    for worker in config.workers:
        spec = declared.get(worker.pool)
        account = _job_default(spec, "service_account_name") if spec else None
        if worker.type == "kubernetes" and isinstance(account, str) and account:
            names.add(account)
    names -= worker_accounts
    return sorted(names)


def _kubernetes(config: PlatformConfig, overlay: str, declared: Mapping[str, PoolSpec]) -> Platform:
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
    )
    in_namespace = pulumi.ResourceOptions(depends_on=[namespace])
    database_url = (
        pulumi.Config(NAMESPACE).require_secret("databaseUrl")
        if server_config.database == "external"
        else None
    )
    server = PrefectServer(
        "prefect",
        PrefectServerArgs(
            namespace=config.namespace,
            image_tag=config.prefect_image_tag,
            public_url=server_config.public_url,
            values=load_values("prefect-server", overlay),
            database=server_config.database,
            database_url=database_url,
            replicas=server_config.replicas,
            separate_background_services=server_config.separate_background_services,
            redis=server_config.redis,
            node_port=server_config.node_port,
            ingress_host=server_config.ingress_host,
            ingress_class_name=server_config.ingress_class_name,
            auth_rotation=config.auth_rotation,
        ),
        opts=in_namespace,
    )
    store_config = config.object_store
    store = ObjectStore(
        "object-store",
        ObjectStoreArgs(
            namespace=config.namespace,
            buckets=tuple(store_config.buckets),
            kind=store_config.kind,
            image_tag=store_config.image_tag,
            storage_size=store_config.storage_size,
            node_port=store_config.node_port,
            protect=config.protect_data,
        ),
        opts=in_namespace,
    )
    for account in flow_run_service_accounts(config, declared):
        # Flow-run pods run as the account their pool names; it gets no RBAC (no API access).
        k8s.core.v1.ServiceAccount(
            f"flow-runs-{account}",
            metadata={"name": account, "namespace": config.namespace},
            automount_service_account_token=False,
            opts=in_namespace,
        )
    worker_values = load_values("prefect-worker", overlay)
    for worker in config.workers:
        spec = declared.get(worker.pool)
        Worker(
            f"worker-{worker.pool}",
            WorkerArgs(
                pool_name=worker.pool,
                pool_type=worker.type,
                namespace=config.namespace,
                api_url=server.internal_api_url,
                auth_secret_name=server.auth_secret_name,
                image_tag=config.prefect_image_tag,
                base_job_template=spec.base_job_template if spec else None,
                values=worker_values,
                replicas=worker.replicas,
                auth_rotation=config.auth_rotation,
            ),
            opts=in_namespace,
        )
    if server_config.node_port or server_config.ingress_host:
        open_ui = f"python3 -m webbrowser {server_config.public_url}"
    else:
        open_ui = (
            f"kubectl -n {config.namespace} port-forward svc/prefect-server 4200:4200 & "
            "python3 -m webbrowser http://127.0.0.1:4200"
        )
    return Platform(
        api_url=server.api_url,
        ui_url=server.ui_url,
        auth_string=server.auth_string,
        s3=S3Access(store.endpoint_url, store.access_key, store.secret_key, store_config.buckets),
        worker_pools=[worker.pool for worker in config.workers],
        open_ui_command=open_ui,
        ready=[server, store],
    )


def _docker(config: PlatformConfig) -> Platform:
    host = DockerHost(
        "prefect",
        DockerHostArgs(
            image_tag=config.prefect_image_tag,
            pools=[
                DockerWorkerPool(name=w.pool, type="docker" if w.type == "docker" else "process")
                for w in config.workers
            ],
            buckets=tuple(config.object_store.buckets),
            object_store=config.object_store.kind,
            object_store_tag=config.object_store.image_tag,
            bind_address=config.docker.bind_address,
            server_port=config.docker.server_port,
            s3_port=config.docker.s3_port,
            protect=config.protect_data,
            auth_rotation=config.auth_rotation,
        ),
    )
    return Platform(
        api_url=host.api_url,
        ui_url=host.ui_url,
        auth_string=host.auth_string,
        s3=S3Access(
            host.s3_endpoint_url, host.access_key, host.secret_key, config.object_store.buckets
        ),
        worker_pools=[worker.pool for worker in config.workers],
        open_ui_command=(
            f"python3 -m webbrowser http://{config.docker.bind_address}:{config.docker.server_port}"
        ),
        ready=[host],
    )


def _external(config: PlatformConfig) -> Platform:
    settings = pulumi.Config(NAMESPACE)
    api_url = (config.api_url or "").rstrip("/")
    ui_url = api_url.removesuffix("/api")
    s3 = None
    if config.external_object_store is not None:
        s3 = S3Access(
            endpoint_url=pulumi.Output.from_input(config.external_object_store.endpoint_url),
            access_key=settings.require_secret("s3AccessKey"),
            secret_key=settings.require_secret("s3SecretKey"),
            buckets=list(config.external_object_store.buckets),
        )
    return Platform(
        api_url=pulumi.Output.from_input(api_url),
        ui_url=pulumi.Output.from_input(ui_url),
        auth_string=settings.get_secret("authString"),
        s3=s3,
        worker_pools=[],
        open_ui_command=f"python3 -m webbrowser {ui_url}",
    )


def _require_pull_step_environment(declarations: Declarations) -> None:
    """Fail before any change when a pull step names an environment variable that is unset.

    `prefect.yaml` takes the repository URL and branch from the environment of whoever
    applies it (`{{ $PREFECT_PLATFORM_REPO_URL }}`); left unresolved, every run would fail
    at clone time instead.
    """
    for deployment in declarations.deployments:
        missing = unresolved_environment(deployment.provider_inputs()["pull_steps"])
        if missing:
            raise ConfigError(
                f"prefect.yaml: deployment {deployment.reference!r}: pull steps use unset "
                f"environment variable(s) {', '.join(sorted(missing))}; export them before "
                "`pulumi up` (docs/gitops.md)"
            )


def export_outputs(platform: Platform) -> None:
    """The stack outputs: UI URL, API URL, S3 endpoint and keys, auth string (secrets), open-UI."""
    pulumi.export("uiUrl", platform.ui_url)
    pulumi.export("apiUrl", platform.api_url)
    pulumi.export("s3Endpoint", platform.s3.endpoint_url if platform.s3 else None)
    if platform.s3 is not None:
        pulumi.export("s3AccessKey", pulumi.Output.secret(platform.s3.access_key))
        pulumi.export("s3SecretKey", pulumi.Output.secret(platform.s3.secret_key))
    if platform.auth_string is not None:
        pulumi.export("authString", pulumi.Output.secret(platform.auth_string))
    pulumi.export("openUiCommand", platform.open_ui_command)
    pulumi.export("workerPools", platform.worker_pools)


def main(root: Path = REPO_ROOT) -> Platform:
    """Run the program for the current stack (what `pulumi up` executes).

    Reads and validates every declaration under `root` first (pools/, automations/,
    concurrency-limits.yaml, variables.yaml, prefect.yaml, with the stack's
    `prefect-platform:overrides`), so a bad file stops the run before any resource is declared;
    then declares the platform and applies the declarations to its server.
    """
    config = load_config()
    settings = pulumi.Config(NAMESPACE)
    declarations = load_declarations(root, settings.get_object("overrides"))
    pools = [
        PoolSpec(pool.name, pool.type, pool.merged_base_job_template())
        for pool in declarations.work_pools
    ]
    platform = build_platform(config, pulumi.get_stack(), pools)
    # Prefect objects: declarations applied to this server
    _require_pull_step_environment(declarations)
    blocks = platform_blocks(platform.s3, settings.get_secret("githubToken"))
    connection: pulumi.Output[Connection] = pulumi.Output.all(
        platform.api_url, platform.auth_string
    ).apply(lambda values: Connection(api_url=values[0], auth_string=values[1]))
    PrefectObjects(
        "prefect-objects",
        PrefectObjectsArgs(declarations, connection, blocks),
        pulumi.ResourceOptions(depends_on=platform.ready),
    )
    export_outputs(platform)
    return platform
