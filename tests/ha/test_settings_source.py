"""The HA harness and the `prod` chart take the prefect-redis settings from one place.

`infra.components.server_values.redis_messaging_values` gives the chart its
`backgroundServices.messaging` values; `redis_messaging_env` derives from them the server
environment, which `tests/harness/ha.py` runs every server process with. This checks that
derivation against what the real chart renders for the `prod` stack (both Deployments), and
the Docket URL against the Secret the program writes, so the harness cannot test settings the
chart would not deploy. It needs no PostgreSQL: it runs in both passes.
"""

from __future__ import annotations

from pathlib import Path

from infra.components.server_values import (
    DOCKET_URL_KEY,
    REDIS_SECRET_NAME,
    redis_host,
    redis_messaging_env,
)
from tests.harness.helm_render import (
    container_env,
    named,
    render_stack,
)
from tests.harness.mockstack import run_stack, stack_config
from tests.platform.conftest import STACK_SECRETS, example_pools

SECRET_SETTINGS = {
    "PREFECT_REDIS_MESSAGING_PASSWORD": "redis-password",
    "PREFECT_SERVER_DOCKET_URL": DOCKET_URL_KEY,
}
"""Settings the chart takes from the Redis Secret (setting -> key) instead of a value."""

WORKLOADS = [
    ("prefect-server", "prefect-server"),
    ("prefect-server-background-services", "prefect-background-services"),
]
"""(Deployment, container) of the API and the background services."""


def _redis_settings(env: dict[str, object]) -> dict[str, object]:
    prefixes = ("PREFECT_REDIS_", "PREFECT_MESSAGING_")
    named_ones = {
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE",
        "PREFECT_SERVER_DOCKET_URL",
    }
    return {k: v for k, v in env.items() if k.startswith(prefixes) or k in named_ones}


def test_harness_settings_are_what_the_prod_chart_renders(chart_reference: Path) -> None:
    """Every Redis-related setting of both prod Deployments equals `redis_messaging_env`'s."""
    run = run_stack("prod", stack_config("prod"), STACK_SECRETS.get("prod"), example_pools())
    objects = render_stack(run, chart_reference)
    server = named(objects, "Deployment", "prefect-server")
    expected = redis_messaging_env(redis_host(server.namespace or "prefect"), "unused")
    for key, secret_key in SECRET_SETTINGS.items():
        expected[key] = {"secretKeyRef": {"name": REDIS_SECRET_NAME, "key": secret_key}}  # type: ignore[assignment]
    for deployment, container in WORKLOADS:
        env = container_env(named(objects, "Deployment", deployment), container)
        assert _redis_settings(env) == expected, deployment
        assert env["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] == "false", deployment

    (secret,) = [
        r
        for r in run.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == REDIS_SECRET_NAME
    ]
    data = secret.inputs["stringData"]
    password = data["redis-password"]
    host = redis_host(server.namespace or "prefect")
    assert data[DOCKET_URL_KEY] == redis_messaging_env(host, password)["PREFECT_SERVER_DOCKET_URL"]
