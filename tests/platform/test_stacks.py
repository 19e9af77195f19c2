"""What each stack declares: resources and their key properties, read from the mocked engine."""

from __future__ import annotations

from typing import Any

import pytest

from infra.components.versions import (
    FLOWS_IMAGE,
    MINIO_TAG,
    PREFECT_SERVER_CHART_VERSION,
    PREFECT_WORKER_CHART_VERSION,
    SEAWEEDFS_TAG,
)
from infra.declarations.pools import WorkPoolDeclaration
from tests.harness.mockstack import SECRET_PREFIX, Registration, StackRun
from tests.platform.conftest import kubernetes_pool_template

RELEASE = "kubernetes:helm.sh/v3:Release"
CONTAINER = "docker:index/container:Container"


def release(run: StackRun, chart: str) -> list[dict[str, Any]]:
    """Inputs of the Helm releases of one chart."""
    return [r.inputs for r in run.helm_releases() if r.inputs["chart"] == chart]


def by_kind(run: StackRun, kind: str) -> list[dict[str, Any]]:
    """Raw Kubernetes manifests of one kind."""
    return [m for m in run.kubernetes_manifests() if m.get("kind") == kind]


def containers(run: StackRun) -> dict[str, Registration]:
    """Docker containers by container name."""
    return {r.inputs["name"]: r for r in run.of_type(CONTAINER)}


def env_of(container: Registration) -> dict[str, str]:
    """A container's environment as a dict."""
    return dict(item.split("=", 1) for item in container.inputs["envs"])


@pytest.mark.parametrize("stack", ["local", "pr", "prod"])
def test_kubernetes_stacks_pin_charts_in_the_namespace(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    (namespace,) = by_kind(run, "Namespace")
    assert namespace["metadata"]["name"] == "prefect"
    (server,) = release(run, "prefect-server")
    assert server["version"] == PREFECT_SERVER_CHART_VERSION
    assert server["repositoryOpts"]["repo"] == "https://prefecthq.github.io/prefect-helm"
    assert server["namespace"] == "prefect"
    for worker in release(run, "prefect-worker"):
        assert worker["version"] == PREFECT_WORKER_CHART_VERSION
        assert worker["namespace"] == "prefect"
    for manifest in run.kubernetes_manifests():
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == "prefect", manifest["metadata"]


@pytest.mark.parametrize("stack", ["local", "pr", "prod"])
def test_server_auth_is_on_and_read_from_a_secret(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    values = release(run, "prefect-server")[0]["values"]
    assert values["server"]["basicAuth"] == {
        "enabled": True,
        "authString": "",
        "existingSecret": "prefect-server-auth",
    }
    auth = [s for s in by_kind(run, "Secret") if s["metadata"]["name"] == "prefect-server-auth"]
    assert len(auth) == 1
    assert auth[0]["stringData"]["auth-string"].startswith(f"admin:{SECRET_PREFIX}")
    outputs = run.stack_outputs_raw
    assert outputs["authString"]["value"] == auth[0]["stringData"]["auth-string"]


@pytest.mark.parametrize("stack", ["local", "pr", "prod"])
def test_one_worker_per_kubernetes_pool_with_the_auth_secret_and_no_template(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    """The pool's template belongs to the work-pool resource, never to the worker chart."""
    run = stack_runs[stack]
    workers = release(run, "prefect-worker")
    assert [w["name"] for w in workers] == ["worker-kubernetes-pool"]
    worker = workers[0]["values"]["worker"]
    assert worker["config"]["workPool"] == "kubernetes-pool"
    assert worker["config"]["type"] == "kubernetes"
    assert "baseJobTemplate" not in worker["config"]
    assert worker["extraArgs"] == ["--no-create-pool-if-not-found"]
    assert worker["apiConfig"] == "selfHostedServer"
    api = worker["selfHostedServerApiConfig"]
    assert api["apiUrl"] == "http://prefect-server.prefect.svc.cluster.local:4200/api"
    assert api["basicAuth"] == {
        "enabled": True,
        "authString": "",
        "existingSecret": "prefect-server-auth",
    }
    assert worker["image"]["prefectTag"] == "3.9.1-python3.11-kubernetes"
    assert workers[0]["values"]["fullnameOverride"] == "worker-kubernetes-pool"


@pytest.mark.parametrize(
    ("stack", "database"), [("local", "bundled"), ("pr", "bundled"), ("prod", "external")]
)
def test_database_choice_per_stack(
    stack_runs: dict[str, StackRun], stack: str, database: str
) -> None:
    run = stack_runs[stack]
    values = release(run, "prefect-server")[0]["values"]
    assert values["secret"] == {"create": False, "name": "prefect-server-database"}
    (db_secret,) = [
        s for s in by_kind(run, "Secret") if s["metadata"]["name"] == "prefect-server-database"
    ]
    url = db_secret["stringData"]["connection-string"]
    if database == "bundled":
        assert values["postgresql"]["enabled"] is True
        assert values["postgresql"]["auth"]["existingSecret"] == "prefect-server-database"
        assert values["postgresql"]["primary"]["persistence"]["enabled"] is True
        password = db_secret["stringData"]["password"]
        assert password.startswith(SECRET_PREFIX)
        assert url == (
            f"postgresql+asyncpg://prefect:{password}"
            "@prefect-server-postgresql.prefect.svc.cluster.local:5432/server"
        )
    else:
        assert values["postgresql"]["enabled"] is False
        assert url == f"postgresql+asyncpg://prefect:{SECRET_PREFIX}db@db.internal:5432/prefect"
        assert "password" not in db_secret["stringData"]


def test_prod_is_highly_available_behind_an_ingress(stack_runs: dict[str, StackRun]) -> None:
    values = release(stack_runs["prod"], "prefect-server")[0]["values"]
    assert values["server"]["replicaCount"] == 3
    assert values["backgroundServices"]["runAsSeparateDeployment"] is True
    assert values["redis"]["enabled"] is True
    assert values["redis"]["auth"]["existingSecret"] == "prefect-server-redis"
    messaging = values["backgroundServices"]["messaging"]
    assert messaging["broker"] == "prefect_redis.messaging"
    assert messaging["redis"]["existingSecret"] == "prefect-server-redis"
    assert values["ingress"]["enabled"] is True
    assert values["ingress"]["host"]["hostname"] == "prefect.example.com"
    assert values["server"]["uiConfig"]["prefectUiApiUrl"] == "https://prefect.example.com/api"
    assert stack_runs["prod"].stack_outputs_raw["apiUrl"] == "https://prefect.example.com/api"
    worker = release(stack_runs["prod"], "prefect-worker")[0]["values"]["worker"]
    assert worker["replicaCount"] == 2


@pytest.mark.parametrize("stack", ["local", "pr"])
def test_throwaway_stacks_run_one_server_without_redis(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    values = release(stack_runs[stack], "prefect-server")[0]["values"]
    assert values["server"]["replicaCount"] == 1
    assert values["redis"]["enabled"] is False
    assert values["backgroundServices"]["runAsSeparateDeployment"] is False
    assert values["ingress"]["enabled"] is False


@pytest.mark.parametrize(
    ("stack", "image", "buckets"),
    [
        ("local", f"quay.io/minio/minio:{MINIO_TAG}", ["prefect-results", "prefect-flows"]),
        ("pr", f"chrislusf/seaweedfs:{SEAWEEDFS_TAG}", ["prefect-results"]),
        ("prod", f"quay.io/minio/minio:{MINIO_TAG}", ["prefect-results", "prefect-flows"]),
    ],
)
def test_object_store_and_its_buckets(
    stack_runs: dict[str, StackRun], stack: str, image: str, buckets: list[str]
) -> None:
    run = stack_runs[stack]
    (deployment,) = by_kind(run, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image
    env_sources = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]}
    assert set(env_sources.values()) == {"object-store-credentials"}
    jobs = {job["metadata"]["name"]: job for job in by_kind(run, "Job")}
    job = jobs.pop("object-store-buckets")
    # MinIO's flows user is made by a second Job (tests/platform/test_store_access.py).
    assert set(jobs) == ({"object-store-flows-user"} if "minio" in image else set())
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    for bucket in buckets:
        assert f"create-bucket --bucket {bucket}\n" in script
    assert script.count("create-bucket ") == len(buckets)
    assert run.platform.s3.buckets == buckets
    assert run.stack_outputs_raw["s3Endpoint"] == (
        "http://object-store.prefect.svc.cluster.local:9000"
    )


def test_docker_stack_runs_the_whole_platform_with_health_checks(
    stack_runs: dict[str, StackRun],
) -> None:
    run = stack_runs["docker"]
    found = containers(run)
    assert set(found) == {
        "prefect-postgres",
        "prefect-server",
        "prefect-object-store",
        "prefect-create-buckets",
        "prefect-flows-user",
        "prefect-worker-process-pool",
        "prefect-worker-docker-pool",
        "prefect-backup-dump",  # tests/platform/test_docker_backup.py
        "prefect-backup",
    }
    images = {r.inputs["name"] for r in run.of_type("docker:index/remoteImage:RemoteImage")}
    assert "postgres:16.10" in images
    assert f"quay.io/minio/minio:{MINIO_TAG}" in images
    assert "prefecthq/prefect:3.9.1-python3.11" in images
    for name, container in found.items():
        # Fixed names and host ports: a replacement must delete the old container first.
        assert container.delete_before_replace, name
        if name not in ("prefect-create-buckets", "prefect-flows-user"):  # one-shot jobs
            assert container.inputs["healthcheck"]["tests"][0] in ("CMD", "CMD-SHELL"), name
            assert container.inputs["wait"] is True, name
    server_env = env_of(found["prefect-server"])
    assert server_env["PREFECT_SERVER_API_AUTH_STRING"].startswith(f"admin:{SECRET_PREFIX}")
    assert server_env["PREFECT_API_DATABASE_CONNECTION_URL"].endswith(
        "@prefect-postgres:5432/prefect"
    )
    docker_worker = found["prefect-worker-docker-pool"]
    assert docker_worker.inputs["command"][:6] == [
        "prefect",
        "worker",
        "start",
        "--pool",
        "docker-pool",
        "--type",
    ]
    # Workers run the flows image: nothing is installed at start.
    for pool in ("docker-pool", "process-pool"):
        assert run.named(f"prefect-worker-{pool}-image").inputs["name"] == FLOWS_IMAGE
        assert "EXTRA_PIP_PACKAGES" not in env_of(found[f"prefect-worker-{pool}"])
    assert docker_worker.inputs["mounts"][0]["target"] == "/var/run/docker.sock"
    assert (
        env_of(docker_worker)["PREFECT_API_AUTH_STRING"]
        == server_env["PREFECT_SERVER_API_AUTH_STRING"]
    )
    process_worker = found["prefect-worker-process-pool"]
    assert "--type" in process_worker.inputs["command"]
    assert "process" in process_worker.inputs["command"]
    networks = {n["name"] for c in found.values() for n in c.inputs["networksAdvanced"]}
    assert networks == {"prefect-net"}
    assert run.stack_outputs_raw["s3Endpoint"] == "http://object-store:9000"
    assert run.platform.worker_pools == ["process-pool", "docker-pool"]


@pytest.mark.parametrize("stack", ["local", "pr", "prod", "docker"])
def test_stack_outputs(stack_runs: dict[str, StackRun], stack: str) -> None:
    outputs = stack_runs[stack].stack_outputs_raw
    assert {"uiUrl", "apiUrl", "s3Endpoint", "authString", "openUiCommand"} <= set(outputs)
    assert outputs["apiUrl"] == outputs["uiUrl"] + "/api"
    assert outputs["uiUrl"] in outputs["openUiCommand"]
    assert outputs["authString"]["4dabf18193072939515e22adb298388d"] == (
        "1b47061264138c4ac30d75fd1eb44270"
    ), "authString must be a secret output"


@pytest.mark.parametrize("stack", ["local", "pr", "prod"])
def test_flow_run_pods_get_the_service_account_their_pool_names(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    accounts = by_kind(stack_runs[stack], "ServiceAccount")
    assert [a["metadata"]["name"] for a in accounts] == ["prefect-flow-runs"]
    assert accounts[0]["metadata"]["namespace"] == "prefect"
    assert accounts[0]["automountServiceAccountToken"] is False


def test_a_pool_running_jobs_in_another_namespace_fails_before_any_resource() -> None:
    from infra.config import ConfigError
    from infra.platform_types import PoolSpec
    from tests.harness.mockstack import run_stack, stack_config

    template = kubernetes_pool_template()
    template["variables"]["properties"]["namespace"]["default"] = "default"
    run = StackRun(stack="local")
    with pytest.raises(ConfigError, match="runs its jobs in namespace 'default'"):
        run_stack(
            "local",
            stack_config("local"),
            None,
            [PoolSpec("kubernetes-pool", "kubernetes", template)],
            run=run,
        )
    assert run.resources == []


def test_local_stack_with_the_repository_pools(declared_pools: list[WorkPoolDeclaration]) -> None:
    """The local stack built from the real `pools/*.yaml` (the declarations loader's merge)."""
    from infra.platform_types import PoolSpec
    from tests.harness.mockstack import run_stack, stack_config

    pools = [PoolSpec(p.name, p.type, p.merged_base_job_template()) for p in declared_pools]
    run = run_stack("local", stack_config("local"), None, pools)
    assert len(release(run, "prefect-worker")) == 1
    (pool,) = [p for p in pools if p.type == "kubernetes"]
    account = pool.service_account_name()
    assert [a["metadata"]["name"] for a in by_kind(run, "ServiceAccount")] == [account]


def test_auth_rotation_regenerates_the_password_and_rolls_the_pods() -> None:
    """`authRotation` is the password's keeper and a pod annotation of server and workers."""
    from tests.harness.mockstack import run_stack, stack_config
    from tests.platform.conftest import example_pools

    run = run_stack(
        "local", {**stack_config("local"), "authRotation": "2026-11"}, None, example_pools()
    )
    assert run.named("prefect-admin-password").inputs["keepers"] == {"rotation": "2026-11"}
    server = release(run, "prefect-server")[0]["values"]
    annotation = {"prefect-platform/auth-rotation": "2026-11"}
    assert server["server"]["podAnnotations"] == annotation
    assert server["backgroundServices"]["podAnnotations"] == annotation
    worker = release(run, "prefect-worker")[0]["values"]
    assert worker["worker"]["podAnnotations"] == annotation
    docker = run_stack("docker", {**stack_config("docker"), "authRotation": "2026-11"}, None, None)
    assert docker.named("prefect-admin-password").inputs["keepers"] == {"rotation": "2026-11"}


def test_s3_keys_are_secret_stack_outputs(stack_runs: dict[str, StackRun]) -> None:
    for run in stack_runs.values():
        for key in ("s3AccessKey", "s3SecretKey"):
            output = run.stack_outputs_raw[key]
            assert output["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"
            assert output["value"].startswith(SECRET_PREFIX)


def test_docker_pools_send_flow_runs_to_the_platform_network(
    stack_runs: dict[str, StackRun], declared_pools: list[WorkPoolDeclaration]
) -> None:
    """Flow-run containers reach `prefect-server` and `object-store` only on `prefect-net`."""

    (network,) = stack_runs["docker"].of_type("docker:index/network:Network")
    docker_workers = {w["pool"] for w in stack_config_workers("docker") if w["type"] == "docker"}
    for pool in declared_pools:
        if pool.name in docker_workers:
            # Fixed by the pool for every run (POOL_FIXED_VARIABLES).
            networks = pool.merged_base_job_template()["job_configuration"]["networks"]
            assert networks == [network.inputs["name"]], f"{pool.name}: job_variables.networks"


def stack_config_workers(stack: str) -> list[dict[str, Any]]:
    """The `workers` setting of a stack file."""
    from tests.harness.mockstack import stack_config

    workers: list[dict[str, Any]] = stack_config(stack).get("workers", [])
    return workers
