"""The platform program: the stack config in, the platform's resources and outputs out.

`build_platform(config, stack, pools)` declares the platform for `config.target` and returns a
`Platform` with what the Prefect-objects step needs: the API URL the Pulumi process reaches the
server on, the auth string (secret), the object store as seen from flow runs, and the pools that
have a worker. `main()` is what `infra/__main__.py` runs under `pulumi up`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pulumi

from infra.components.task_worker import TaskSource
from infra.components.values import REPO_ROOT
from infra.config import NAMESPACE, ConfigError, PlatformConfig
from infra.config_loader import load_config
from infra.declarations import PLATFORM_BLOCKS, Declarations, load_declarations
from infra.declarations.deployments import unresolved_environment
from infra.declared_secrets import block_specs, gateway_spec
from infra.flows_image import use_flows_image
from infra.platform_types import GatewaySpec, Platform, PoolSpec
from infra.prefect_objects import PrefectObjects, PrefectObjectsArgs, platform_blocks
from infra.providers import Connection
from infra.targets import docker, external, kubernetes


def build_platform(
    config: PlatformConfig,
    stack: str,
    pools: Sequence[PoolSpec] | None = None,
    pool_owners: kubernetes.PoolOwners | None = None,
    gateway: GatewaySpec | None = None,
    tasks: TaskSource | None = None,
) -> Platform:
    """Declare the platform of one stack.

    Args:
        config: The validated stack configuration (`infra.config.load_config()`).
        stack: The stack name; picks the `helm-values/<chart>/<stack>.yaml` overlay unless the
            config names one with `helmValuesOverlay`.
        pools: The pools declared in `pools/`. When given, every configured worker must name one
            of them with the same type; Kubernetes workers get its base job template.
        pool_owners: Declares the Prefect objects once the server is up (see the target).
        gateway: The webhook endpoints of `webhooks/`, for the gateway (Kubernetes, Docker).
        tasks: Where the `taskWorkers` clone their code (`task_source`).

    Raises:
        ConfigError: a worker names a pool that is not declared or has another type.
    """
    declared = _check_pools(config, pools)
    if config.target == "kubernetes":
        overlay = config.helm_values_overlay or stack
        return kubernetes.build(config, overlay, declared, pool_owners, gateway, tasks)
    if config.target == "external":
        if gateway is not None or tasks is not None:
            pulumi.log.warn(
                "the external target deploys no webhook gateway and no task worker: run "
                "`python -m infra.gateway` and `prefect task serve` next to your server"
            )
        platform = external.build(config)
    else:
        platform = docker.build(config, gateway, tasks)
    if pool_owners is not None:
        pool_owners(platform)
    return platform


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
        job_namespace = pool.job_default("namespace")
        if config.target == "kubernetes" and job_namespace not in (None, config.namespace):
            raise ConfigError(
                f"{NAMESPACE}:namespace: {config.namespace!r}, but pool {worker.pool!r} runs its "
                f"jobs in namespace {job_namespace!r} (pools/ job_variables.namespace)"
            )
    return declared


def task_source(config: PlatformConfig, settings: pulumi.Config) -> TaskSource | None:
    """Where the stack's task workers clone their code: the repository the pull steps clone.

    Raises:
        ConfigError: `taskWorkers` is set, but the environment does not name the repository and
            branch (as `make up` and the workflows do), or the stack has no object store.
    """
    if not config.task_workers:
        return None
    names = [worker.name for worker in config.task_workers]
    if len(set(names)) < len(names):
        raise ConfigError(f"{NAMESPACE}:taskWorkers: two task workers have one name: {names}")
    if config.target == "external" and config.external_object_store is None:
        raise ConfigError(
            f"{NAMESPACE}:taskWorkers: task workers keep parameters and results in the "
            f"object store; set {NAMESPACE}:externalObjectStore"
        )
    variables = ("PREFECT_PLATFORM_REPO_URL", "PREFECT_PLATFORM_BRANCH")
    missing = [name for name in variables if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            f"{NAMESPACE}:taskWorkers: task workers clone the repository named by "
            f"{' and '.join(variables)}; export {', '.join(missing)} before `pulumi up`"
        )
    return TaskSource(
        os.environ[variables[0]], os.environ[variables[1]], settings.get_secret("githubToken")
    )


def _require_pull_step_environment(declarations: Declarations) -> None:
    """Fail before any change when a pull step names an environment variable that is unset.

    `prefect.yaml` takes the repository URL and branch from the environment of whoever
    applies it (`{{ $PREFECT_PLATFORM_REPO_URL }}`); left unresolved, every run would fail
    at clone time instead.
    """
    for deployment in declarations.deployments:
        missing = unresolved_environment(deployment.pull_steps)
        if missing:
            raise ConfigError(
                f"prefect.yaml: deployment {deployment.reference!r}: pull steps use unset "
                f"environment variable(s) {', '.join(sorted(missing))}; export them before "
                "`pulumi up` (docs/gitops.md)"
            )


STORAGE_SETTINGS = (
    "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK",
    "PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK",
)
"""Environment settings that name a block every run loads at start (a missing one fails it)."""


def _require_storage_blocks(declarations: Declarations, config: PlatformConfig) -> None:
    """Fail before any change when runs would load an object-store block the stack lacks.

    The pools keep results in `s3-bucket/results` (their `env`), which the stack provisions
    only with an object store: an `external` target without `externalObjectStore` has none,
    and every run would fail at start instead.
    """
    if config.target != "external" or config.external_object_store is not None:
        return
    missing = PLATFORM_BLOCKS - {"secret/github-token"}
    owners = [(f"pools/ {pool.name!r}", pool.job_variables) for pool in declarations.work_pools]
    owners += [
        (f"prefect.yaml: deployment {item.reference!r}", item.entry.work_pool.job_variables)
        for item in declarations.deployments
    ]
    for where, job_variables in owners:
        env = job_variables.get("env") or {}
        for setting in STORAGE_SETTINGS:
            if env.get(setting) in missing:
                raise ConfigError(
                    f"{where}: job_variables.env.{setting} names {env[setting]!r}, which this "
                    f"stack does not provision (target 'external' without "
                    f"{NAMESPACE}:externalObjectStore); set that, or override the env"
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
    if platform.webhook_urls is not None:
        pulumi.export("webhookUrls", platform.webhook_urls)


def main(root: Path = REPO_ROOT) -> Platform:
    """Run the program for the current stack (what `pulumi up` executes).

    Reads and validates every declaration under `root` first (pools/, automations/,
    concurrency-limits.yaml, variables.yaml, prefect.yaml, with the stack's
    `prefect-platform:overrides`), so a bad file stops the run before any resource is declared;
    then declares the platform and applies the declarations to its server.
    """
    settings = pulumi.Config(NAMESPACE)
    declared = load_declarations(root, settings.get_object("overrides"))
    config = load_config(declared.secret_keys())
    declarations = use_flows_image(declared, config.flows_image)
    pools = [
        PoolSpec(pool.name, pool.type, pool.merged_base_job_template())
        for pool in declarations.work_pools
    ]
    _require_pull_step_environment(declarations)
    _require_storage_blocks(declarations, config)
    blocks = block_specs(declarations, settings)
    gateway = gateway_spec(declarations, settings)
    tasks = task_source(config, settings)

    def apply_objects(platform: Platform) -> Mapping[str, pulumi.Resource]:
        # Prefect objects: declarations applied to this server, before its workers start
        provisioned = platform_blocks(platform.s3, settings.get_secret("githubToken"))
        connection: pulumi.Output[Connection] = pulumi.Output.all(
            platform.api_url, platform.auth_string
        ).apply(lambda values: Connection(api_url=values[0], auth_string=values[1]))
        objects = PrefectObjects(
            "prefect-objects",
            PrefectObjectsArgs(declarations, connection, [*provisioned, *blocks]),
            pulumi.ResourceOptions(depends_on=platform.ready),
        )
        return objects.work_pools

    platform = build_platform(config, pulumi.get_stack(), pools, apply_objects, gateway, tasks)
    export_outputs(platform)
    return platform
