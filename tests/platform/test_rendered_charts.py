"""The Kubernetes objects each stack really installs: the charts' own templates, rendered.

Each stack's program runs under Pulumi's mocks; every `helm.v3.Release` it declares is rendered
from the released archive of the pinned chart version with exactly the inputs the release gets
(values, release name, namespace), by Helm's own engine (`tests/harness/helm_render.py`). The
assertions read the rendered objects: what a cluster would run, not the values we pass.

Without `../shared/reference/prefect-helm/charts/` these tests skip, saying so; under `CI=true`
they fail instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.components.server_values import DOCKET_URL_KEY, REDIS_SECRET_NAME
from infra.components.worker import NO_CREATE_POOL
from infra.config import ConfigError
from infra.config_loader import load_config, parse_config
from infra.platform_types import Platform, PoolSpec
from infra.targets import kubernetes
from tests.harness.helm_render import (
    RenderedObject,
    container_env,
    named,
    of_kind,
    pod_spec,
    render_stack,
)
from tests.harness.mockstack import (
    SECRET_PREFIX,
    StackRun,
    declared_secrets,
    run_stack,
    stack_config,
)
from tests.platform.conftest import STACK_SECRETS, example_pools, kubernetes_pool_template
from tests.platform.test_manifests import kubernetes_validate, write

TWO_POOLS = "two-pools"
"""The `local` stack with a second Kubernetes pool (`batch-pool`) in the same namespace."""

RENDERED_STACKS = ("local", "pr", "prod", TWO_POOLS)
"""Every Kubernetes stack of the repository, plus the two-pool variant."""

RENDER_SECONDS: dict[str, float] = {}
"""Seconds each stack's releases took to render (printed with `-s`)."""


def two_pool_stack() -> tuple[dict[str, Any], list[PoolSpec]]:
    """The `local` config and pools with a second Kubernetes pool and its worker."""
    config = stack_config("local")
    config["workers"] = [*config["workers"], {"pool": "batch-pool", "type": "kubernetes"}]
    pools = [*example_pools(), PoolSpec("batch-pool", "kubernetes", kubernetes_pool_template())]
    return config, pools


def run_named_stack(stack: str) -> StackRun:
    """One stack's program under mocks (the two-pool variant is built from `local`)."""
    if stack == TWO_POOLS:
        config, pools = two_pool_stack()
        return run_stack("local", config, None, pools)
    return run_stack(stack, stack_config(stack), STACK_SECRETS.get(stack), example_pools())


@pytest.fixture(scope="module")
def rendered(chart_reference: Path) -> dict[str, list[RenderedObject]]:
    """Every Kubernetes object of each stack: rendered releases plus the program's own."""
    result = {}
    for stack in RENDERED_STACKS:
        run = run_named_stack(stack)
        started = time.perf_counter()
        result[stack] = render_stack(run, chart_reference)
        RENDER_SECONDS[stack] = time.perf_counter() - started
    print("render seconds:", {k: round(v, 3) for k, v in RENDER_SECONDS.items()})
    return result


def worker_deployments(objects: list[RenderedObject]) -> list[RenderedObject]:
    """The rendered prefect-worker Deployments."""
    return [
        o
        for o in of_kind(objects, "Deployment")
        if "templates/deployment.yaml" in o.source
        and o.source.split(":")[1].startswith("prefect-worker/")
    ]


# --- 0. every rendered stack is valid Kubernetes -----------------------------------------------


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_every_rendered_object_passes_kubernetes_validate_strict(
    rendered: dict[str, list[RenderedObject]], tmp_path: Path, stack: str
) -> None:
    objects = rendered[stack]
    named(objects, "Deployment", "prefect-server")
    assert worker_deployments(objects)
    result = kubernetes_validate([write(tmp_path, stack, [o.manifest for o in objects])])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_render_check_bites(rendered: dict[str, list[RenderedObject]], tmp_path: Path) -> None:
    """A rendered object with a misplaced field fails the strict check."""
    deployment = dict(named(rendered["local"], "Deployment", "prefect-server").manifest)
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    result = kubernetes_validate([write(tmp_path, "wrong", [deployment])])
    assert result.returncode != 0
    assert "'replica' was unexpected" in result.stdout + result.stderr


# --- 1. two Kubernetes pools in one namespace ---------------------------------------------------


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_no_two_objects_share_kind_namespace_and_name(
    rendered: dict[str, list[RenderedObject]], stack: str
) -> None:
    counts = Counter(o.identity for o in rendered[stack])
    duplicates = {
        identity: [o.source for o in rendered[stack] if o.identity == identity]
        for identity, count in counts.items()
        if count > 1
    }
    assert duplicates == {}


def test_two_pools_get_two_workers(rendered: dict[str, list[RenderedObject]]) -> None:
    workers = worker_deployments(rendered[TWO_POOLS])
    assert sorted(w.name for w in workers) == ["worker-batch-pool", "worker-kubernetes-pool"]
    pools = sorted(worker_args(w)[worker_args(w).index("--pool") + 1] for w in workers)
    assert pools == ["batch-pool", "kubernetes-pool"]


# --- 2. the work-pool resource is the pool's only owner -----------------------------------------


def worker_args(worker: RenderedObject) -> list[str]:
    """The worker container's arguments."""
    (container,) = [c for c in pod_spec(worker)["containers"] if c["name"] == "prefect-worker"]
    return [str(arg) for arg in container["args"]]


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_workers_never_create_or_rewrite_their_pool(
    rendered: dict[str, list[RenderedObject]], stack: str
) -> None:
    objects = rendered[stack]
    workers = worker_deployments(objects)
    assert workers
    for worker in workers:
        args = worker_args(worker)
        assert args[:3] == ["prefect", "worker", "start"], args
        assert NO_CREATE_POOL in args, f"{worker.name} creates a missing pool: {args}"
        assert "--base-job-template" not in args, f"{worker.name} writes the template: {args}"
        init = [c["name"] for c in pod_spec(worker).get("initContainers", [])]
        assert "sync-base-job-template" not in init, worker.name
    from_worker_chart = [o for o in objects if o.source.split(":")[1].startswith("prefect-worker/")]
    assert of_kind(from_worker_chart, "ConfigMap") == []


def test_docker_target_workers_never_create_their_pool() -> None:
    """The Docker target's worker containers run with the same flag."""
    run = run_stack("docker", stack_config("docker"), None, example_pools())
    workers = [
        r
        for r in run.of_type("docker:index/container:Container")
        if r.inputs["name"].startswith("prefect-worker-")
    ]
    assert len(workers) == 2
    for worker in workers:
        assert worker.inputs["command"][:3] == ["prefect", "worker", "start"]
        assert NO_CREATE_POOL in worker.inputs["command"], worker.inputs["name"]


def test_the_worker_flag_is_one_prefect_knows() -> None:
    """`--no-create-pool-if-not-found` is an option of the installed `prefect worker start`."""
    result = subprocess.run(
        [sys.executable, "-m", "prefect", "worker", "start", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250", "NO_COLOR": "1"},
        check=True,
        timeout=120,
    )
    assert NO_CREATE_POOL in result.stdout, result.stdout


def test_worker_releases_wait_for_the_resource_that_owns_their_pool() -> None:
    """The kubernetes target declares workers after the pool owners and depends on them."""
    owners: dict[str, pulumi.Resource] = {}

    def declare_pools(platform: Platform) -> dict[str, pulumi.Resource]:
        for pool in ("kubernetes-pool", "batch-pool"):
            owners[pool] = pulumi.CustomResource("test:index:WorkPool", f"pool-{pool}", {})
        return owners

    config, pools = two_pool_stack()
    run = run_stack(
        "local",
        config,
        None,
        program_main=lambda: kubernetes.build(
            load_config(), "local", {p.name: p for p in pools}, declare_pools
        ),
    )
    for pool in ("kubernetes-pool", "batch-pool"):
        needs = run.named(f"worker-{pool}-release").dependencies
        assert any(urn.endswith(f"::pool-{pool}") for urn in needs), (pool, needs)


def test_the_program_installs_each_worker_after_its_work_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole program (`program.main`): the worker release depends on `pool-<name>`."""
    from infra import program

    monkeypatch.setenv("PREFECT_PLATFORM_REPO_URL", "https://example.invalid/flows.git")
    monkeypatch.setenv("PREFECT_PLATFORM_BRANCH", "main")
    run = run_stack("local", stack_config("local"), declared_secrets(), program_main=program.main)
    pools = [r for r in run.resources if r.type.endswith(":WorkPool")]
    assert any(r.name == "pool-kubernetes-pool" for r in pools)
    needs = run.named("worker-kubernetes-pool-release").dependencies
    assert any(urn.endswith("::pool-kubernetes-pool") for urn in needs), needs


# --- 5. HA: messaging and Docket through Redis --------------------------------------------------


def test_ha_server_coordinates_through_redis(rendered: dict[str, list[RenderedObject]]) -> None:
    """prod: API and background-services pods share Redis for messaging and Docket."""
    objects = rendered["prod"]
    secret = named(objects, "Secret", REDIS_SECRET_NAME)
    assert set(secret.manifest["stringData"]) == {"redis-password", DOCKET_URL_KEY}
    redis = named(objects, "StatefulSet", "prefect-server-redis-master")
    redis_env = container_env(redis, "redis")
    assert redis_env["REDIS_PASSWORD_FILE"] == "/opt/bitnami/redis/secrets/redis-password"
    (volume,) = [v for v in pod_spec(redis)["volumes"] if v["name"] == "redis-password"]
    assert volume["secret"]["secretName"] == REDIS_SECRET_NAME
    service = named(objects, "Service", "prefect-server-redis-master")
    host = f"{service.name}.{service.namespace}.svc.cluster.local"
    for name, container in [
        ("prefect-server", "prefect-server"),
        ("prefect-server-background-services", "prefect-background-services"),
    ]:
        env = container_env(named(objects, "Deployment", name), container)
        assert env["PREFECT_MESSAGING_BROKER"] == "prefect_redis.messaging", name
        assert env["PREFECT_REDIS_MESSAGING_HOST"] == host, name
        assert env["PREFECT_REDIS_MESSAGING_PASSWORD"] == {
            "secretKeyRef": {"name": REDIS_SECRET_NAME, "key": "redis-password"}
        }, name
        assert env["PREFECT_SERVER_DOCKET_URL"] == {
            "secretKeyRef": {"name": REDIS_SECRET_NAME, "key": DOCKET_URL_KEY}
        }, name


def test_the_docket_url_points_at_the_rendered_redis() -> None:
    """The Docket URL in the Secret names the Redis Service the chart renders, with the password."""
    run = run_named_stack("prod")
    (secret,) = [
        r
        for r in run.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == REDIS_SECRET_NAME
    ]
    data = secret.inputs["stringData"]
    assert data[DOCKET_URL_KEY] == (
        f"redis://:{data['redis-password']}@prefect-server-redis-master.prefect.svc.cluster.local"
        ":6379/0"
    )
    assert data["redis-password"].startswith(SECRET_PREFIX)  # generated, a secret output


@pytest.mark.parametrize("stack", ["local", "pr"])
def test_single_server_stacks_render_no_redis(
    rendered: dict[str, list[RenderedObject]], stack: str
) -> None:
    objects = rendered[stack]
    assert [o.name for o in objects if "redis" in o.name] == []
    env = container_env(named(objects, "Deployment", "prefect-server"), "prefect-server")
    assert "PREFECT_SERVER_DOCKET_URL" not in env


INCOHERENT_SERVERS: list[tuple[dict[str, Any], str]] = [
    (
        {"replicas": 3, "redis": True},
        "prefect-platform:server.replicas: 3 replicas need server.separateBackgroundServices",
    ),
    ({"replicas": 2}, "prefect-platform:server.replicas:"),
    ({"redis": True}, "prefect-platform:server.redis: nothing would use Redis"),
    (
        {"separateBackgroundServices": True},
        "prefect-platform:server.separateBackgroundServices: needs server.redis: true",
    ),
]


@pytest.mark.parametrize(("server", "message"), INCOHERENT_SERVERS)
def test_incoherent_ha_settings_fail_naming_the_key(server: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"target": "kubernetes", "server": server})
    assert message in str(error.value)


# --- 6. what `pulumi destroy` keeps -------------------------------------------------------------


@pytest.mark.parametrize(("stack", "kept"), [("local", False), ("pr", False), ("prod", True)])
def test_destroy_keeps_the_data_of_protected_stacks_only(stack: str, kept: bool) -> None:
    """Deleting the namespace deletes its volume claims: prod retains the namespace and its
    data volume; the throwaway stacks delete everything."""
    run = run_named_stack(stack)
    (namespace,) = run.of_type("kubernetes:core/v1:Namespace")
    assert namespace.retain_on_delete is kept
    volumes = run.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    assert volumes
    for volume in volumes:
        assert volume.retain_on_delete is kept, volume.name
        assert volume.protect is kept, volume.name
    config = parse_config(stack_config(stack), set(STACK_SECRETS.get(stack, {})))
    assert config.protect_data is kept


@pytest.mark.parametrize("stack", ["local", "pr", "prod"])
def test_every_rendered_volume_lives_in_the_stack_namespace(
    rendered: dict[str, list[RenderedObject]], stack: str
) -> None:
    """So the namespace decides their fate (StatefulSet claims included)."""
    (namespace,) = of_kind(rendered[stack], "Namespace")
    for workload in of_kind(rendered[stack], "StatefulSet"):
        assert workload.namespace == namespace.name, workload.source
    for claim in of_kind(rendered[stack], "PersistentVolumeClaim"):
        assert claim.namespace == namespace.name, claim.source


# --- 7. TLS on the Ingress ------------------------------------------------------------------------


def test_prod_ingress_serves_its_certificate(rendered: dict[str, list[RenderedObject]]) -> None:
    ingress = named(rendered["prod"], "Ingress", "prefect-server")
    assert ingress.manifest["spec"]["tls"] == [
        {"hosts": ["prefect.example.com"], "secretName": "prefect-example-com-tls"}
    ]
    assert ingress.manifest["spec"]["rules"][0]["host"] == "prefect.example.com"


def test_a_cert_manager_issuer_renders_tls_too(chart_reference: Path) -> None:
    config = stack_config("prod")
    server = dict(config["server"])
    server.pop("ingressTlsSecret", None)
    server["ingressClusterIssuer"] = "letsencrypt"
    run = run_stack("prod", {**config, "server": server}, STACK_SECRETS["prod"], example_pools())
    ingress = named(render_stack(run, chart_reference), "Ingress", "prefect-server")
    assert ingress.manifest["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == (
        "letsencrypt"
    )
    assert ingress.manifest["spec"]["tls"] == [
        {"hosts": ["prefect.example.com"], "secretName": "prefect.example.com-tls"}
    ]


def test_https_without_a_certificate_source_is_refused() -> None:
    config = stack_config("prod")
    server = {k: v for k, v in config["server"].items() if k != "ingressTlsSecret"}
    with pytest.raises(ConfigError) as error:
        parse_config({**config, "server": server}, {"databaseUrl"})
    assert "prefect-platform:server.publicUrl: 'https://prefect.example.com' is https" in str(
        error.value
    )
    assert "server.ingressTlsSecret" in str(error.value)


# --- worker and server hardening, read from the rendered pods -----------------------------------


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_workers_pass_the_auth_string_to_jobs_by_secret_reference(
    rendered: dict[str, list[RenderedObject]], stack: str
) -> None:
    for worker in worker_deployments(rendered[stack]):
        env = container_env(worker, "prefect-worker")
        assert env["PREFECT_API_AUTH_STRING"] == {
            "secretKeyRef": {"name": "prefect-server-auth", "key": "auth-string"}
        }
        prefix = "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_"
        assert env[f"{prefix}NAME"] == "prefect-server-auth"
        assert env[f"{prefix}KEY"] == "auth-string"


@pytest.mark.parametrize("stack", ["local", "pr", "prod"])
def test_server_pods_get_no_kubernetes_api_token(
    rendered: dict[str, list[RenderedObject]], stack: str
) -> None:
    for deployment in of_kind(rendered[stack], "Deployment"):
        if deployment.name.startswith("prefect-server"):
            assert pod_spec(deployment)["automountServiceAccountToken"] is False, deployment.name


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_no_rendered_object_but_a_secret_holds_a_secret_value(
    chart_reference: Path, stack: str
) -> None:
    """Every generated password and configured secret: only in Kubernetes Secrets.

    The charts get Secret names, never values; the program's own Deployments, Jobs and
    ConfigMaps read Secrets by reference.
    """
    run = run_named_stack(stack)
    assert run.secret_values, "the stack generated no secret: the check would prove nothing"
    holding = [
        item
        for item in render_stack(run, chart_reference)
        if any(secret in json.dumps(item.manifest) for secret in run.secret_values)
    ]
    # The search finds them where they belong, so an empty list below means something.
    assert any(item.kind == "Secret" for item in holding)
    assert [f"{item.source} ({item.kind})" for item in holding if item.kind != "Secret"] == []


FLOW_RUN_POD = {"batch.kubernetes.io/job-name": "quick-fox-x7k2p", "job-name": "quick-fox-x7k2p"}
"""The labels Kubernetes gives a flow-run Job's pod (prefect-kubernetes' template sets none)."""


def pod_labels(objects: list[RenderedObject]) -> dict[str, dict[str, str]]:
    """Each workload's pod labels, by `<kind>/<name>`, plus a flow-run pod."""
    pods = {"flow-run": FLOW_RUN_POD}
    for item in objects:
        if item.kind in ("Deployment", "StatefulSet", "Job"):
            metadata = item.manifest["spec"]["template"].get("metadata") or {}
            pods[f"{item.kind}/{item.name}"] = metadata.get("labels") or {}
    return pods


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"the evaluator knows matchLabels only: {selector}"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def admits(
    objects: list[RenderedObject], source: dict[str, str], target: dict[str, str], port: int
) -> bool:
    """Whether the namespace's NetworkPolicies let `source` open `port` on `target`."""
    selecting = [
        item.manifest["spec"]
        for item in of_kind(objects, "NetworkPolicy")
        if "Ingress" in item.manifest["spec"].get("policyTypes", ["Ingress"])
        and _selects(item.manifest["spec"]["podSelector"], target)
    ]
    if not selecting:
        return True
    for spec in selecting:
        for rule in spec.get("ingress", []):
            peers = rule.get("from")
            ports = [entry["port"] for entry in rule.get("ports", [])]
            if (not ports or port in ports) and (
                not peers or any(_selects(peer["podSelector"], source) for peer in peers)
            ):
                return True
    return False


@pytest.mark.parametrize("stack", ["local", "prod"])
def test_flow_runs_reach_the_api_and_the_store_never_the_database_or_redis(
    rendered: dict[str, list[RenderedObject]], stack: str
) -> None:
    objects = rendered[stack]
    pods = pod_labels(objects)
    api = pods["Deployment/prefect-server"]
    worker = pods["Deployment/worker-kubernetes-pool"]
    store = pods["Deployment/object-store"]
    data = {
        name: labels
        for name, labels in pods.items()
        if labels.get("app.kubernetes.io/name") in ("postgresql", "redis")
    }
    assert data, "the stack runs neither PostgreSQL nor Redis: nothing to check"
    # Closed by default: every pod is selected by some policy.
    closed = {"podSelector": {}, "policyTypes": ["Ingress"]}
    assert closed in [item.manifest["spec"] for item in of_kind(objects, "NetworkPolicy")]

    for source in (pods["flow-run"], worker):
        assert admits(objects, source, api, 4200)
        assert admits(objects, source, store, 9000)
        for name, target in data.items():
            port = 5432 if target["app.kubernetes.io/name"] == "postgresql" else 6379
            assert not admits(objects, source, target, port), name
    server_pods = [
        labels
        for labels in pods.values()
        if labels.get("app.kubernetes.io/name") == "prefect-server"
    ]
    for target in data.values():
        port = 5432 if target["app.kubernetes.io/name"] == "postgresql" else 6379
        assert all(admits(objects, source, target, port) for source in server_pods)
    # Nothing else is open: the worker and flow-run pods take no connections.
    assert not admits(objects, pods["flow-run"], worker, 8080)
    assert not admits(objects, worker, api, 5432)
