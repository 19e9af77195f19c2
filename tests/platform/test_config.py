"""Stack configuration: every stack file parses; a bad value fails before any resource exists."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError
from infra.config_loader import load_config, parse_config
from infra.platform_types import PoolSpec
from tests.harness.mockstack import StackRun, run_stack, stack_config
from tests.platform.conftest import STACK_SECRETS, STACKS, example_pools

BAD_CONFIGS: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
    ("unknown target", {"target": "nomad"}, {}, "prefect-platform:target:"),
    (
        "pool type without a worker (kubernetes)",
        {"target": "kubernetes", "workers": [{"pool": "docker-pool", "type": "docker"}]},
        {},
        "prefect-platform:workers[0].type: work pool 'docker-pool' has type 'docker', which has "
        "no worker on target 'kubernetes'",
    ),
    (
        "pool type without a worker (docker)",
        {
            "target": "docker",
            "workers": [
                {"pool": "process-pool", "type": "process"},
                {"pool": "ecs-pool", "type": "ecs"},
            ],
        },
        {},
        "prefect-platform:workers[1].type: work pool 'ecs-pool' has type 'ecs'",
    ),
    (
        "bad image tag format",
        {"target": "kubernetes", "prefectImageTag": "3.9.1 python"},
        {},
        "prefect-platform:prefectImageTag: '3.9.1 python' is not a valid image tag",
    ),
    (
        "floating image tag",
        {"target": "docker", "objectStore": {"imageTag": "latest"}},
        {},
        "prefect-platform:objectStore.imageTag: 'latest' is a floating tag",
    ),
    (
        "flows image without a tag or digest",
        {"target": "kubernetes", "flowsImage": "ghcr.io/acme/platform/prefect-platform-flows"},
        {},
        "prefect-platform:flowsImage: 'ghcr.io/acme/platform/prefect-platform-flows' has neither "
        "a tag nor a digest",
    ),
    (
        "flows image on a floating tag",
        {"target": "kubernetes", "flowsImage": "ghcr.io/acme/flows:latest"},
        {},
        "prefect-platform:flowsImage: 'latest' is a floating tag",
    ),
    (
        "flows image that is not a reference",
        {"target": "kubernetes", "flowsImage": "ghcr.io/Acme/flows:1 2"},
        {},
        "prefect-platform:flowsImage: 'ghcr.io/Acme/flows:1 2' is not an image reference",
    ),
    (
        "helm values overlay that is a path",
        {"target": "kubernetes", "helmValuesOverlay": "../../etc/passwd"},
        {},
        "prefect-platform:helmValuesOverlay: String should match pattern",
    ),
    (
        "misspelled key",
        {"target": "kubernetes", "sever": {"replicas": 2}},
        {},
        "prefect-platform:sever: unknown setting",
    ),
    (
        "misspelled nested key",
        {"target": "kubernetes", "server": {"replica": 2}},
        {},
        "prefect-platform:server.replica: unknown setting",
    ),
    (
        "external database without its secret",
        {"target": "kubernetes", "server": {"database": "external"}},
        {},
        "prefect-platform:databaseUrl: server.database is 'external'",
    ),
    (
        "secret given as plain config",
        {"target": "kubernetes", "databaseUrl": "postgresql+asyncpg://u:p@h/db"},
        {},
        "prefect-platform:databaseUrl: must be a secret",
    ),
    (
        "several replicas without separate background services",
        {"target": "kubernetes", "server": {"replicas": 2, "redis": True}},
        {},
        "prefect-platform:server.replicas: 2 replicas need server.separateBackgroundServices",
    ),
    (
        "bad bucket name",
        {"target": "kubernetes", "objectStore": {"buckets": ["Results_Bucket"]}},
        {},
        "prefect-platform:objectStore.buckets: 'Results_Bucket' is not a valid S3 bucket name",
    ),
    (
        "external target without apiUrl",
        {"target": "external"},
        {},
        "prefect-platform:apiUrl: required when target is 'external'",
    ),
    (
        "bad namespace",
        {"target": "kubernetes", "namespace": "Prefect_NS"},
        {},
        "prefect-platform:namespace: 'Prefect_NS' is not a valid Kubernetes namespace",
    ),
]


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_is_valid(stack: str) -> None:
    config = parse_config(stack_config(stack), set(STACK_SECRETS.get(stack, {})))
    assert config.target in ("kubernetes", "docker")


@pytest.mark.parametrize(
    ("case", "config", "secrets", "message"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_config_fails_before_any_resource(
    case: str, config: dict[str, Any], secrets: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as parsed:
        parse_config(config, set(secrets))
    assert message in str(parsed.value)

    run = StackRun(stack="bad")
    with pytest.raises(ConfigError) as program_error:
        run_stack("bad", config, secrets, example_pools(), run=run)
    assert message in str(program_error.value)
    assert run.resources == [], f"{case}: declared {[r.name for r in run.resources]}"


def test_worker_for_an_undeclared_pool_fails_before_any_resource() -> None:
    run = StackRun(stack="bad")
    config = {"target": "kubernetes", "workers": [{"pool": "k8s-typo", "type": "kubernetes"}]}
    with pytest.raises(
        ConfigError, match=r"prefect-platform:workers\[0\]\.pool: no pool 'k8s-typo'"
    ):
        run_stack("bad", config, None, example_pools(), run=run)
    assert run.resources == []


def test_worker_type_must_match_the_declared_pool() -> None:
    pools = [PoolSpec("kubernetes-pool", "process")]
    config = {
        "target": "kubernetes",
        "workers": [{"pool": "kubernetes-pool", "type": "kubernetes"}],
    }
    run = StackRun(stack="bad")
    with pytest.raises(ConfigError, match=r"workers\[0\]\.type: 'kubernetes' but pools/ declares"):
        run_stack("bad", config, None, pools, run=run)
    assert run.resources == []


def test_load_config_reads_the_engine_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pulumi up` hands config to the program as JSON in PULUMI_CONFIG (objects as JSON text)."""
    engine_config = {
        "prefect-platform:target": "kubernetes",
        "prefect-platform:server": json.dumps({"nodePort": 30420}),
        "prefect-platform:workers": json.dumps([{"pool": "kubernetes-pool", "type": "kubernetes"}]),
        "prefect-platform:protectData": "true",
        "prefect-platform:databaseUrl": "secret-value",
        "other-project:ignored": "x",
    }
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(engine_config))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["prefect-platform:databaseUrl"]))
    config = load_config()
    assert config.server.node_port == 30420
    assert config.workers[0].pool == "kubernetes-pool"
    assert config.protect_data is True
    assert config.secrets_set == frozenset({"databaseUrl"})
    assert "secret-value" not in config.model_dump_json()


def test_keys_of_other_steps_are_left_to_them(monkeypatch: pytest.MonkeyPatch) -> None:
    engine_config = {
        "prefect-platform:target": "docker",
        "prefect-platform:overrides": json.dumps({"pools": {}}),
    }
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(engine_config))
    assert load_config().target == "docker"
    engine_config["prefect-platform:githubRepository"] = "https://github.com/o/r"
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(engine_config))
    with pytest.raises(ConfigError, match="prefect-platform:githubRepository: unknown setting"):
        load_config()
