"""Through the balancer, nothing but the health probes answers without the password.

The route list is the server's own OpenAPI document (read with the password), so a route a
new Prefect version adds is walked too. Websockets are not in it: they authenticate with a
first message instead of a header, and are checked on their own.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.harness.ha import HaTopology

OPEN_ROUTES = {("GET", "/health"), ("GET", "/ready")}
"""The only (method, route) pairs that answer without credentials (Kubernetes probes)."""

METHODS = ("get", "post", "put", "patch", "delete")

WEBSOCKETS = (
    "/events/in",
    "/events/out",
    "/logs/out",
    "/task_runs/subscriptions/scheduled",
    "/work_pools/ha-probe/workers/connect",
)
"""The server's websocket routes (not in the OpenAPI document)."""


def _fill(path: str) -> str:
    """A concrete URL path for an OpenAPI route: a random UUID or a name for each parameter."""
    return re.sub(
        r"\{([^}]+)\}",
        lambda m: str(uuid.uuid4()) if m.group(1).endswith("id") else "ha-probe",
        path,
    )


def _routes(topology: HaTopology) -> list[tuple[str, str]]:
    response = httpx.get(f"{topology.api_url}/openapi.json", auth=topology.auth, timeout=30)
    response.raise_for_status()
    paths: dict[str, dict[str, Any]] = response.json()["paths"]
    return [(m.upper(), p) for p, item in paths.items() for m in item if m in METHODS]


def test_every_api_route_but_health_needs_the_password(ha_topology: HaTopology) -> None:
    """Each route of the OpenAPI document, without credentials and with wrong ones: 401."""
    routes = _routes(ha_topology)
    assert len(routes) > 150, f"only {len(routes)} routes in the OpenAPI document"
    wrong = ("admin", "not-the-password")
    answers: dict[tuple[str, str], tuple[int, int]] = {}
    with httpx.Client(base_url=ha_topology.api_url, timeout=30) as client:
        for method, route in routes:
            url = ha_topology.api_url + _fill(route)
            body: dict[str, object] | None = {} if method in ("POST", "PUT", "PATCH") else None
            anonymous = client.request(method, url, json=body)
            mistaken = client.request(method, url, json=body, auth=wrong)
            answers[(method, route)] = (anonymous.status_code, mistaken.status_code)

    open_answers = {key: codes for key, codes in answers.items() if key in OPEN_ROUTES}
    assert open_answers == dict.fromkeys(OPEN_ROUTES, (200, 200)), open_answers
    leaks = {
        key: codes
        for key, codes in answers.items()
        if key not in OPEN_ROUTES and codes != (401, 401)
    }
    assert leaks == {}, f"answered without the password: {leaks}"
    print(f"\n{len(routes)} API routes through the balancer: 401 without the password, but")
    print(f"{sorted(OPEN_ROUTES)}")


def test_the_password_opens_the_api(ha_topology: HaTopology) -> None:
    """The same balancer lets the right password through (the 401s above are not a dead API)."""
    response = httpx.post(f"{ha_topology.api_url}/flows/filter", json={}, auth=ha_topology.auth)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("route", WEBSOCKETS)
def test_websockets_need_the_password(ha_topology: HaTopology, route: str) -> None:
    """A websocket through the balancer is closed unless its first message has the password."""
    url = ha_topology.api_url.replace("http://", "ws://") + route

    async def refusal(token: str | None) -> str:
        """How the server refused: ``HTTP <status>`` before the upgrade, ``close <code>`` after."""
        try:
            async with connect(url, subprotocols=["prefect"] if token else None) as socket:  # type: ignore[list-item]
                if token:
                    await socket.send(json.dumps({"type": "auth", "token": token}))
                answer = await asyncio.wait_for(socket.recv(), 10)
        except InvalidStatus as status:
            return f"HTTP {status.response.status_code}"
        except ConnectionClosed as closed:
            return f"close {closed.rcvd.code if closed.rcvd else None}"
        return f"answered {answer!r}"

    # Without the `prefect` subprotocol the server closes before accepting (HTTP 403).
    assert asyncio.run(refusal(None)) == "HTTP 403"
    assert asyncio.run(refusal("admin:not-the-password")) == "close 1008"

    async def accepted() -> bool:
        async with connect(url, subprotocols=["prefect"]) as socket:  # type: ignore[list-item]
            await socket.send(json.dumps({"type": "auth", "token": ha_topology.auth_string}))
            answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
            return bool(answer.get("type") == "auth_success")

    assert asyncio.run(accepted())
