"""The webhook gateway as the program declares it (mocked engine): Kubernetes and Docker.

The whole program runs over the repository (its `webhooks/` declares `github-push`), with the
webhook's secret set as a stack secret. The live path (a signed request through the gateway to
a flow run) is tests/webhooks/; the gateway's code running in the flows image is
tests/containers/test_webhook_gateway_container.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import program
from infra.components.versions import FLOWS_IMAGE
from infra.components.webhook_gateway import CODE_DIR, NAME, gateway_code
from infra.gateway.config import ENDPOINTS_ENV, secret_env_name
from tests.harness.mockstack import (
    StackRun,
    declared_secrets,
    run_stack,
    stack_config,
    strings_outside_secrets,
)
from tests.platform.conftest import STACK_SECRETS
from tests.platform.test_manifests import kubernetes_validate, write

SECRET_ENV = secret_env_name("github-push")


def _run(stack: str) -> StackRun:
    secrets = {**STACK_SECRETS.get(stack, {}), **declared_secrets()}
    return run_stack(stack, stack_config(stack), secrets, program_main=program.main)


def _gateway_manifests(run: StackRun) -> dict[str, dict[str, Any]]:
    return {
        manifest["kind"]: manifest
        for manifest in run.kubernetes_manifests()
        if manifest["metadata"]["name"].startswith(NAME)
    }


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, StackRun]]:
    """The whole program for the kind stack, the prod stack and the Docker stack."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PREFECT_PLATFORM_REPO_URL", "https://github.com/acme/platform.git")
        env.setenv("PREFECT_PLATFORM_BRANCH", "main")
        yield {stack: _run(stack) for stack in ("local", "prod", "docker")}


def test_kubernetes_gets_a_deployment_of_the_flows_image_with_its_code_and_secret_references(
    runs: dict[str, StackRun], tmp_path: Path
) -> None:
    run = runs["local"]
    objects = _gateway_manifests(run)
    assert set(objects) == {"ConfigMap", "Secret", "Deployment", "Service", "NetworkPolicy"}
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    (gateway,) = pod["containers"]
    assert gateway["image"] == FLOWS_IMAGE  # the stack sets no flowsImage: the pinned default
    env = {item["name"]: item for item in gateway["env"]}
    assert env[SECRET_ENV]["valueFrom"]["secretKeyRef"] == {"name": NAME, "key": SECRET_ENV}
    assert env["PREFECT_API_AUTH_STRING"]["valueFrom"]["secretKeyRef"]["key"] == "auth-string"
    assert [e["slug"] for e in json.loads(env[ENDPOINTS_ENV]["value"])] == ["github-push"]
    assert gateway["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False
    code = objects["ConfigMap"]["data"]
    assert {key.replace(".", "/", key.count(".") - 1) for key in code} == set(gateway_code())
    assert gateway["volumeMounts"][0]["mountPath"] == CODE_DIR

    result = kubernetes_validate([write(tmp_path, "gateway", list(objects.values()))])
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = run.stack_outputs_raw["webhookUrls"]
    assert outputs == {"github-push": f"http://{NAME}.prefect.svc:8080/hooks/github-push"}


def test_prod_routes_hooks_on_the_servers_ingress_host_with_its_certificate(
    runs: dict[str, StackRun],
) -> None:
    ingress = _gateway_manifests(runs["prod"])["Ingress"]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "prefect.example.com"
    assert rule["http"]["paths"][0]["path"] == "/hooks"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["prefect.example.com"], "secretName": "prefect-example-com-tls"}
    ]
    urls = runs["prod"].stack_outputs_raw["webhookUrls"]
    assert urls == {"github-push": "https://prefect.example.com/hooks/github-push"}


def test_docker_runs_the_gateway_container_with_its_code_uploaded_and_port_on_loopback(
    runs: dict[str, StackRun],
) -> None:
    run = runs["docker"]
    (gateway,) = [c for c in run.of_type("docker:index/container:Container") if NAME in c.name]
    uploads = {upload["file"] for upload in gateway.inputs["uploads"]}
    assert uploads == {f"{CODE_DIR}/{path}" for path in gateway_code()}
    assert gateway.inputs["ports"] == [{"internal": 8080, "external": 8480, "ip": "127.0.0.1"}]
    assert "envs" in gateway.additional_secret_outputs
    urls = run.stack_outputs_raw["webhookUrls"]
    assert urls == {"github-push": "http://127.0.0.1:8480/hooks/github-push"}


@pytest.mark.parametrize("stack", ["local", "prod", "docker"])
def test_the_webhook_secret_is_never_in_plain_text(runs: dict[str, StackRun], stack: str) -> None:
    run = runs[stack]
    secret = declared_secrets()["githubWebhookSecret"]
    assert secret in run.secret_values
    for resource in run.resources:
        plain = " ".join(strings_outside_secrets(resource.raw))
        assert secret not in plain, f"{resource.type} {resource.name} holds the webhook secret"
    assert secret not in " ".join(strings_outside_secrets(run.stack_outputs_raw))


def test_a_stack_without_the_webhook_secret_stops_before_anything_is_declared(
    runs: dict[str, StackRun],
) -> None:
    run = StackRun(stack="local")
    with pytest.raises(Exception, match="secret: the stack has no config secret") as raised:
        run_stack("local", stack_config("local"), None, run=run, program_main=program.main)
    assert "prefect-platform:githubWebhookSecret" in str(raised.value)
    assert run.resources == []
