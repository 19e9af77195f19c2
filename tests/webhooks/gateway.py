"""Running the webhook gateway for tests and benchmarks, and reading back what it emitted.

`running_gateway` serves `infra.gateway` in this process (uvicorn in a thread) on a free
loopback port, configured the way its container is: from the environment variables of
`infra.gateway.config`. `gateway_process` runs `python -m infra.gateway` as a child process.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import uvicorn
from prefect import flow
from prefect.events.actions import RunDeployment
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.flows import Flow

from infra.declarations.context import LoadContext
from infra.declarations.errors import Collector
from infra.declarations.overrides import Overrides
from infra.declarations.webhooks import WebhookDeclaration, load_webhooks
from infra.gateway.app import create_app
from infra.gateway.auth import signature
from infra.gateway.config import (
    API_URL_ENV,
    AUTH_STRING_ENV,
    ENDPOINTS_ENV,
    HEALTH_PATH,
    GatewaySettings,
    endpoints_env,
    secret_env_name,
)
from infra.gateway.endpoints import Endpoint
from tests.harness.live_server import LiveServer
from tests.harness.processes import ManagedProcess, free_port

REPO = Path(__file__).resolve().parents[2]


def repo_webhooks(root: Path = REPO) -> dict[str, WebhookDeclaration]:
    """The webhooks declared under `root`, loaded by the kit's loader, by slug."""
    context = LoadContext(root, Collector(), Overrides(), "overrides")
    webhooks = load_webhooks(context)
    context.collector.raise_if_any()
    return {webhook.slug: webhook for webhook in webhooks}


def gateway_env(
    endpoints: list[Endpoint], secrets: Mapping[str, str], api_url: str, auth_string: str | None
) -> dict[str, str]:
    """The gateway's environment, as the Pulumi program sets it."""
    env = {ENDPOINTS_ENV: endpoints_env(endpoints), API_URL_ENV: api_url}
    if auth_string:
        env[AUTH_STRING_ENV] = auth_string
    env.update({secret_env_name(slug): value for slug, value in secrets.items()})
    return env


@contextmanager
def running_gateway(
    endpoints: list[Endpoint],
    secrets: Mapping[str, str],
    server: LiveServer | None,
    api_url: str | None = None,
) -> Iterator[str]:
    """Serve the gateway in this process until the block ends; yields its base URL.

    Args:
        endpoints: what it serves.
        secrets: slug -> secret.
        server: the Prefect server it emits to (its URL and auth string).
        api_url: emit here instead (e.g. a closed port); no auth string then.
    """
    url = api_url or (server.api_url if server else "")
    auth = None if api_url or server is None else server.auth_string
    settings = GatewaySettings.from_env(gateway_env(endpoints, secrets, url, auth))
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False
    )
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, name=f"gateway-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uvicorn_server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uvicorn_server.should_exit = True
        thread.join(20)


@contextmanager
def gateway_process(
    endpoints: list[Endpoint], secrets: Mapping[str, str], server: LiveServer, workdir: Path
) -> Iterator[tuple[str, ManagedProcess]]:
    """`python -m infra.gateway` as its image runs it; yields its URL and the process."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "PREFECT_HOME": str(workdir / "prefect-home"),
        **gateway_env(endpoints, secrets, server.api_url, server.auth_string),
    }
    process = ManagedProcess(
        "webhook-gateway",
        [sys.executable, "-m", "infra.gateway", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        log_path=workdir / "gateway.log",
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_for_http(url + HEALTH_PATH, 60, lambda code: code == 200)
        yield url, process
    finally:
        process.stop()


FLOW_SOURCE = textwrap.dedent(
    """
    from prefect import flow

    @flow(log_prints=True)
    def on_push(repository: str, commit: str) -> str:
        print(f"pushed {commit} to {repository}")
        return commit
    """
)


def deploy_on_push(source: Path, pool: str) -> uuid.UUID:
    """Deploy `on_push` from a local folder (the process worker runs it there)."""
    (source / "on_push.py").write_text(FLOW_SOURCE)
    on_push = cast("Flow[..., Any]", flow.from_source(str(source), "on_push.py:on_push"))
    return cast(
        uuid.UUID,
        on_push.deploy(
            name="on-github-push",
            work_pool_name=pool,
            build=False,
            push=False,
            print_next_steps=False,
        ),
    )


def push_automation(repository: str, deployment_id: uuid.UUID) -> AutomationCore:
    """Run the deployment on each `github.push` about the repository, with the commit."""
    return AutomationCore(
        name=f"webhook-github-push-{uuid.uuid4().hex[:8]}",
        trigger=EventTrigger(
            expect={"github.push"},
            match={"prefect.resource.id": f"github.repo.{repository}"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment_id,
                parameters={
                    "repository": "{{ event.resource['prefect.resource.name'] }}",
                    "commit": "{{ event.payload.after }}",
                },
            )
        ],
    )


def github_headers(secret: str, body: bytes, event: str = "push") -> dict[str, str]:
    """Headers of a GitHub delivery: JSON, the event, a delivery id, the signature."""
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + signature(secret, body),
        "User-Agent": "GitHub-Hookshot/test",
    }


def push_body(repository: str, after: str = "0" * 40, **extra: Any) -> bytes:
    """A GitHub push payload (the fields the example template reads, and a few more)."""
    document = {
        "ref": "refs/heads/main",
        "before": "f" * 40,
        "after": after,
        "repository": {"name": repository, "full_name": f"example/{repository}"},
        "pusher": {"name": "octocat", "email": "octocat@example.invalid"},
        "sender": {"login": "octocat"},
        "commits": [{"id": after, "message": "a change"}],
        **extra,
    }
    return json.dumps(document).encode()


def stored_events(server: LiveServer, resource_prefix: str) -> list[dict[str, Any]]:
    """Events the server has stored about resources starting with the prefix (no waiting)."""
    body = {
        "filter": {
            "resource": {"id_prefix": [resource_prefix]},
            "occurred": {"since": "2000-01-01T00:00:00Z"},
        },
        "limit": 50,
    }
    response = httpx.post(
        f"{server.api_url}/events/filter", json=body, auth=server.auth, timeout=30
    )
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def wait_for_events(
    server: LiveServer, resource_prefix: str, timeout: float = 30
) -> list[dict[str, Any]]:
    """Wait until the server has stored an event about the prefix (the persister flushes
    every few seconds); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        events = stored_events(server, resource_prefix)
        if events:
            return events
        assert time.monotonic() < deadline, f"no event about {resource_prefix}* was stored"
        time.sleep(0.5)
