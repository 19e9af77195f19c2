"""Security properties of every stack: secrets, retained data, loopback-only exposure."""

from __future__ import annotations

import json

import pytest
import yaml

from infra.config_loader import parse_config
from tests.harness.mockstack import (
    REPO,
    StackRun,
    run_stack,
    stack_config,
    strings_outside_secrets,
)
from tests.platform.conftest import STACKS, example_pools

CONTAINER = "docker:index/container:Container"


def leaks(run: StackRun, strings: list[str]) -> list[str]:
    """Generated or configured secret values that appear in these strings."""
    return sorted({s for s in strings for secret in run.secret_values if secret in s})


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_in_plain_text_in_any_input_or_output(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    assert run.secret_values, "the mocked run generated no password at all"
    for resource in run.resources:
        plain = list(strings_outside_secrets(resource.raw))
        assert leaks(run, plain) == [], f"{resource.type} {resource.name} holds a secret in clear"
    plain_outputs = list(strings_outside_secrets(run.stack_outputs_raw))
    assert leaks(run, plain_outputs) == [], "a stack output holds a secret in clear"


@pytest.mark.parametrize("stack", ["local", "pr", "prod"])
def test_helm_values_and_manifests_hold_no_secret_value(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    for release in run.helm_releases():
        text = json.dumps(release.inputs["values"])
        assert leaks(run, [text]) == [], release.name
        for default_password in ("admin:pass", "prefect-rocks"):
            assert default_password not in text
    for manifest in run.kubernetes_manifests():
        if manifest["kind"] != "Secret":
            assert leaks(run, [json.dumps(manifest)]) == [], manifest["metadata"]["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_secret_resources_mark_their_values_secret(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    for resource in run.of_type("kubernetes:core/v1:Secret"):
        assert set(resource.raw["stringData"]) == {"4dabf18193072939515e22adb298388d", "value"}
    for container in run.of_type(CONTAINER):
        assert "envs" in container.additional_secret_outputs, container.name


@pytest.mark.parametrize("stack", ["local", "pr", "prod", "docker"])
def test_stateful_resources_survive_delete_where_protected(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    """Docker volumes are always retained; Kubernetes volumes (and their namespace) only with
    protectData (tests/platform/test_rendered_charts.py checks the namespace)."""
    run = stack_runs[stack]
    secrets = {"databaseUrl"} if stack == "prod" else set()
    protect = parse_config(stack_config(stack), secrets).protect_data
    stateful = run.of_type("kubernetes:core/v1:PersistentVolumeClaim") + run.of_type(
        "docker:index/volume:Volume"
    )
    assert stateful
    for resource in stateful:
        retained = protect or resource.type == "docker:index/volume:Volume"
        assert resource.retain_on_delete is retained, resource.name
        assert resource.protect is protect, resource.name
    assert protect is (stack == "prod")


def test_bundled_database_keeps_its_volume(stack_runs: dict[str, StackRun]) -> None:
    """The chart's PostgreSQL runs with a PersistentVolumeClaim (Helm leaves StatefulSet PVCs)."""
    (server,) = [
        r for r in stack_runs["local"].helm_releases() if r.inputs["chart"] == "prefect-server"
    ]
    assert server.inputs["values"]["postgresql"]["primary"]["persistence"]["enabled"] is True


def kind_host_ports() -> dict[int, str]:
    """NodePort -> listen address of every port kind maps to the host."""
    config = yaml.safe_load((REPO / "scripts/kind-config.yaml").read_text())
    return {
        mapping["containerPort"]: mapping.get("listenAddress", "0.0.0.0")
        for node in config["nodes"]
        for mapping in node.get("extraPortMappings", [])
    }


@pytest.mark.parametrize("stack", ["local", "pr", "prod"])
def test_kubernetes_services_listen_on_no_public_address(
    stack_runs: dict[str, StackRun], stack: str
) -> None:
    run = stack_runs[stack]
    mapped = kind_host_ports()
    services = [m for m in run.kubernetes_manifests() if m["kind"] == "Service"]
    for release in run.helm_releases():
        service = release.inputs["values"].get("service")
        if service:
            services.append({"metadata": {"name": release.name}, "spec": service})
    for service in services:
        spec = service["spec"]
        assert spec.get("type", "ClusterIP") in ("ClusterIP", "NodePort"), service["metadata"]
        if spec.get("type") == "NodePort":
            assert stack in ("local", "pr"), "NodePorts are for kind stacks only"
            ports = [int(p["nodePort"]) for p in spec.get("ports", [])] or [int(spec["nodePort"])]
            for port in ports:
                assert mapped.get(port) == "127.0.0.1", f"NodePort {port} not loopback-only in kind"


def test_defaults_expose_nothing() -> None:
    """With no exposure settings, services are ClusterIP and there is no ingress."""
    config = {
        "target": "kubernetes",
        "workers": [{"pool": "kubernetes-pool", "type": "kubernetes"}],
    }
    run = run_stack("defaults", config, None, example_pools())
    (server,) = [r for r in run.helm_releases() if r.inputs["chart"] == "prefect-server"]
    assert server.inputs["values"]["service"]["type"] == "ClusterIP"
    assert server.inputs["values"]["ingress"]["enabled"] is False
    for manifest in run.kubernetes_manifests():
        if manifest["kind"] == "Service":
            assert manifest["spec"]["type"] == "ClusterIP"


def test_docker_ports_bind_to_loopback(stack_runs: dict[str, StackRun]) -> None:
    published = [
        (container.name, port)
        for container in stack_runs["docker"].of_type(CONTAINER)
        for port in container.inputs.get("ports") or []
    ]
    assert {name for name, _ in published} == {"prefect-server", "prefect-object-store"}
    for name, port in published:
        assert port["ip"] == "127.0.0.1", name


def test_the_leak_check_bites(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the program's `Output.secret` wrapping, the generated password shows in clear."""
    import pulumi

    monkeypatch.setattr(pulumi.Output, "secret", staticmethod(pulumi.Output.from_input))
    try:
        run = run_stack("local", stack_config("local"), None, example_pools())
    finally:
        monkeypatch.undo()
    auth = next(r for r in run.resources if r.name == "prefect-auth")
    assert leaks(run, list(strings_outside_secrets(auth.raw)))
    assert leaks(run, list(strings_outside_secrets(run.stack_outputs_raw)))
