"""The Kubernetes Job each Kubernetes deployment of prefect.yaml gets, as the worker builds it.

No cluster runs here, so everything up to the API call is the real thing: the pool's
merged base job template (`pools/*.yaml` through the declarations loader), the
deployment's ``job_variables``, prefect-kubernetes' own
``KubernetesWorkerJobConfiguration.from_template_and_values`` and
``prepare_for_flow_run`` (as ``BaseJobConfiguration`` does it for a flow run), then
``KubernetesWorker._create_job``, which swaps secrets in and posts the Job. The post
goes to a loopback HTTP endpoint that records the body and answers as the API
server does (201 with the object), so what is checked is the exact Job a cluster
would receive.

The worker runs with the environment the prefect-worker chart gives it for this
platform's values (``basicAuth.existingSecret``): ``PREFECT_API_AUTH_STRING`` from
that Secret, and ``PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME``
/ ``_KEY`` naming it (prefect-worker ``templates/deployment.yaml``), with the API URL
and Secret name taken from the stack program's worker release.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from infra.declarations.deployments import DeploymentDeclaration
from infra.declarations.loader import load_declarations
from infra.declarations.pools import WorkPoolDeclaration
from infra.platform_types import PoolSpec
from tests.harness.mockstack import REPO, StackRun
from tests.platform.test_manifests import drop_nulls, kubernetes_validate, write

AUTH_KEY = "auth-string"
"""The key the prefect-worker chart reads from ``basicAuth.existingSecret``."""


@dataclass(frozen=True)
class WorkerAuth:
    """How the stack's Kubernetes worker reaches the API, from its Helm release values."""

    api_url: str
    secret_name: str
    namespace: str
    auth_string: str

    def chart_environment(self, with_secret_settings: bool = True) -> dict[str, str]:
        """The worker container's environment as the chart renders it for these values."""
        env = {"PREFECT_API_URL": self.api_url, "PREFECT_API_AUTH_STRING": self.auth_string}
        if with_secret_settings:
            env["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME"] = (
                self.secret_name
            )
            env["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_KEY"] = AUTH_KEY
        return env


class RecordingKubernetesApi:
    """A loopback endpoint standing in for the API server's ``create`` calls: records, echoes."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, dict[str, Any]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorder.posted.append((self.path, body))
                echo = json.loads(json.dumps(body))
                metadata = echo.setdefault("metadata", {})
                metadata.setdefault("name", f"{metadata.get('generateName', 'job-')}x7k2p")
                metadata["uid"] = str(uuid.uuid4())
                answer = json.dumps(echo).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Where a Kubernetes client should send its requests."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


@dataclass
class SubmittedJob:
    """A deployment, its pool, and the Job the worker posted for one of its flow runs."""

    deployment: DeploymentDeclaration
    pool: WorkPoolDeclaration
    path: str
    job: dict[str, Any]

    @property
    def container(self) -> dict[str, Any]:
        """The flow-run container."""
        containers: list[dict[str, Any]] = self.job["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1
        return containers[0]

    def env(self) -> dict[str, dict[str, Any]]:
        """The container's env entries by name."""
        return {entry["name"]: entry for entry in self.container.get("env", [])}


async def _submit(
    deployment: DeploymentDeclaration,
    pool: WorkPoolDeclaration,
    api_url: str,
    run_job_variables: dict[str, Any],
) -> None:
    """What the worker does for one flow run of `deployment`, up to the API call.

    `run_job_variables` are the run's own (`run_deployment(..., job_variables=...)`), merged
    over the deployment's as the worker merges them.
    """
    from kubernetes_asyncio.client import ApiClient, Configuration
    from prefect.client.schemas.objects import Flow, FlowRun, WorkPool
    from prefect.client.schemas.responses import DeploymentResponse
    from prefect_kubernetes.worker import (  # type: ignore[import-untyped]
        KubernetesWorker,
        KubernetesWorkerJobConfiguration,
    )

    template = pool.merged_base_job_template()
    job_variables = {**deployment.entry.work_pool.job_variables, **run_job_variables}
    flow = Flow(id=uuid.uuid4(), name=deployment.flow_name, labels={})
    api_deployment = DeploymentResponse(
        id=uuid.uuid4(),
        name=deployment.entry.name,
        flow_id=flow.id,
        work_pool_name=pool.name,
        work_queue_name=deployment.entry.work_pool.work_queue_name,
        job_variables=job_variables,
        labels={},
    )
    flow_run = FlowRun(
        id=uuid.uuid4(),
        name="validate-me",
        flow_id=flow.id,
        deployment_id=api_deployment.id,
        work_pool_name=pool.name,
    )
    work_pool = WorkPool(
        name=pool.name,
        type=pool.type,
        base_job_template=template,
        default_queue_id=uuid.uuid4(),
    )

    configuration = await KubernetesWorkerJobConfiguration.from_template_and_values(
        base_job_template=template, values=job_variables
    )
    configuration.prepare_for_flow_run(
        flow_run=flow_run,
        deployment=api_deployment,
        flow=flow,
        work_pool=work_pool,
        worker_name="kubernetes-worker",
    )
    worker = KubernetesWorker(work_pool_name=pool.name, name="kubernetes-worker")
    async with ApiClient(Configuration(host=api_url)) as client:
        await worker._create_job(configuration, client)


def submit_jobs(
    worker_auth: WorkerAuth,
    with_secret_settings: bool = True,
    run_job_variables: dict[str, Any] | None = None,
) -> list[SubmittedJob]:
    """The Job posted for a flow run of each Kubernetes deployment in prefect.yaml.

    The worker's environment is set only while the Jobs are submitted.
    """
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    api = RecordingKubernetesApi()
    updates = {
        PREFECT_API_URL: worker_auth.api_url,
        PREFECT_API_AUTH_STRING: worker_auth.auth_string,
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PREFECT_PLATFORM_REPO_URL", "https://github.com/example/platform.git")
        env.setenv("PREFECT_PLATFORM_BRANCH", "main")
        declarations = load_declarations(REPO)
        pools = {pool.name: pool for pool in declarations.work_pools}
        kubernetes = [
            deployment
            for deployment in declarations.deployments
            if pools[deployment.entry.work_pool.name].type == "kubernetes"
        ]
        for suffix in ("SECRET_NAME", "SECRET_KEY"):
            env.delenv(f"PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_{suffix}", False)
        for name, value in worker_auth.chart_environment(with_secret_settings).items():
            env.setenv(name, value)
        try:
            with temporary_settings(updates=updates):
                for deployment in kubernetes:
                    pool = pools[deployment.entry.work_pool.name]
                    asyncio.run(_submit(deployment, pool, api.url, run_job_variables or {}))
        finally:
            api.close()
    assert len(api.posted) == len(kubernetes), api.posted
    return [
        SubmittedJob(deployment, pools[deployment.entry.work_pool.name], path, body)
        for deployment, (path, body) in zip(kubernetes, api.posted, strict=True)
    ]


@pytest.fixture(scope="module")
def worker_auth(stack_runs: dict[str, StackRun]) -> WorkerAuth:
    """The `local` stack's Kubernetes worker: API URL, auth Secret name and namespace."""
    run = stack_runs["local"]
    releases = [r for r in run.helm_releases() if "worker" in r.name]
    assert releases, "the local stack has no worker release"
    values = releases[0].inputs["values"]["worker"]["selfHostedServerApiConfig"]
    assert values["basicAuth"]["enabled"] is True
    assert values["basicAuth"]["authString"] == "", "the auth string is in the chart values"
    secret_name = values["basicAuth"]["existingSecret"]
    (secret,) = [
        r
        for r in run.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == secret_name
    ]
    return WorkerAuth(
        api_url=values["apiUrl"],
        secret_name=secret_name,
        namespace=secret.inputs["metadata"]["namespace"],
        auth_string=f"admin:sentinel-{secrets.token_hex(12)}",
    )


@pytest.fixture(scope="module")
def jobs(worker_auth: WorkerAuth) -> list[SubmittedJob]:
    """Every Kubernetes deployment's Job, submitted once for the module."""
    return submit_jobs(worker_auth)


def test_every_kubernetes_deployment_gets_a_job_in_its_pools_namespace(
    jobs: list[SubmittedJob],
) -> None:
    assert {job.deployment.entry.name for job in jobs} >= {"smoke-kubernetes"}
    for job in jobs:
        namespace = job.job["metadata"]["namespace"]
        assert job.path == f"/apis/batch/v1/namespaces/{namespace}/jobs"
        assert job.job["kind"] == "Job" and job.job["apiVersion"] == "batch/v1"
        expected = job.deployment.entry.work_pool.job_variables.get(
            "namespace", job.pool.job_variables.get("namespace")
        )
        assert namespace == expected, job.deployment.entry.name


def test_the_jobs_pass_kubernetes_validate_strict(jobs: list[SubmittedJob], tmp_path: Path) -> None:
    manifests = []
    for job in jobs:
        manifest = drop_nulls(job.job)  # the API server drops nulls as well
        metadata = manifest["metadata"]
        metadata.setdefault("name", metadata.pop("generateName", "job-") + "x7k2p")
        manifests.append(manifest)

    result = kubernetes_validate([write(tmp_path, "deployment-jobs", manifests)])

    assert result.returncode == 0, result.stdout + result.stderr


def test_each_job_runs_the_flows_image_its_pool_names(jobs: list[SubmittedJob]) -> None:
    for job in jobs:
        pool_image = job.pool.job_variables.get("image")
        assert pool_image, f"pool {job.pool.name} names no image"
        image = job.deployment.entry.work_pool.job_variables.get("image", pool_image)
        assert job.container["image"] == image, job.deployment.entry.name
        assert job.container["image"] == pool_image, (
            f"{job.deployment.entry.name} runs {job.container['image']}, "
            f"not the image of pool {job.pool.name}"
        )


def _carried(job: SubmittedJob, variable: str, value: Any) -> Any:
    """Where job variable `variable` lands in the Job, for comparison with `value`."""
    container, spec = job.container, job.job["spec"]
    resources = container.get("resources", {})
    places: dict[str, Any] = {
        "image": container.get("image"),
        "image_pull_policy": container.get("imagePullPolicy"),
        "cpu_request": resources.get("requests", {}).get("cpu"),
        "memory_request": resources.get("requests", {}).get("memory"),
        "cpu_limit": resources.get("limits", {}).get("cpu"),
        "memory_limit": resources.get("limits", {}).get("memory"),
        "finished_job_ttl": spec.get("ttlSecondsAfterFinished"),
        "backoff_limit": spec.get("backoffLimit"),
        "namespace": job.job["metadata"].get("namespace"),
        "service_account_name": spec["template"]["spec"].get("serviceAccountName"),
        "command": " ".join(container.get("args") or []),
    }
    if variable in places:
        return places[variable]
    if variable in ("labels", "annotations"):
        found = job.job["metadata"].get(variable) or {}
        return {key: found.get(key) for key in value}
    if variable == "env":
        env = job.env()
        return {key: env.get(key, {}).get("value") for key in value}
    if variable == "name":
        prefix = str(job.job["metadata"].get("generateName", ""))
        return value if prefix.startswith(f"{value}-") else prefix
    raise AssertionError(f"no check for job variable {variable!r}: add one to _carried")


def test_each_job_carries_its_deployments_job_variables(jobs: list[SubmittedJob]) -> None:
    for job in jobs:
        overrides = job.deployment.entry.work_pool.job_variables
        assert overrides, f"{job.deployment.entry.name} overrides nothing"
        carried = {name: _carried(job, name, value) for name, value in overrides.items()}
        assert carried == overrides, job.deployment.entry.name


def test_the_auth_string_reaches_the_job_only_by_secret_reference(
    jobs: list[SubmittedJob], worker_auth: WorkerAuth
) -> None:
    for job in jobs:
        assert worker_auth.auth_string not in json.dumps(job.job), job.deployment.entry.name
        auth = job.env()["PREFECT_API_AUTH_STRING"]
        assert auth == {
            "name": "PREFECT_API_AUTH_STRING",
            "valueFrom": {"secretKeyRef": {"name": worker_auth.secret_name, "key": AUTH_KEY}},
        }
        # A secretKeyRef resolves in the pod's own namespace: the Secret must live there.
        assert job.job["metadata"]["namespace"] == worker_auth.namespace
        assert job.env()["PREFECT_API_URL"]["value"] == worker_auth.api_url


def test_without_the_charts_secret_settings_the_worker_would_inline_it(
    worker_auth: WorkerAuth,
) -> None:
    """The check above bites: the chart's two settings are what keep the string out."""
    jobs = submit_jobs(worker_auth, with_secret_settings=False)

    for job in jobs:
        assert job.env()["PREFECT_API_AUTH_STRING"].get("value") == worker_auth.auth_string


def test_no_deployment_or_run_chooses_the_pods_service_account(
    jobs: list[SubmittedJob], worker_auth: WorkerAuth
) -> None:
    """A run asking for another account still runs as the one its pool fixes."""
    asked = submit_jobs(worker_auth, run_job_variables={"service_account_name": "cluster-admin"})

    for plain, job in zip(jobs, asked, strict=True):
        account = job.job["spec"]["template"]["spec"].get("serviceAccountName")
        assert account == plain.job["spec"]["template"]["spec"].get("serviceAccountName")
        assert (
            account
            == "prefect-worker"
            == PoolSpec(
                job.pool.name, job.pool.type, job.pool.merged_base_job_template()
            ).service_account_name()
        )
