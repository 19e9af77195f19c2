"""The webhook tests' gateway: the repository's `webhooks/github-push.yaml` and test endpoints.

`gateway` serves them (in this process, configured from the environment as its container is)
against the session's live Prefect server for the whole package.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from infra.gateway.endpoints import Auth, Endpoint, Limits
from tests.harness.live_server import LiveServer
from tests.webhooks.gateway import repo_webhooks, running_gateway

CASE_TEMPLATE = """{
  "event": "webhooks.case",
  "resource": {"prefect.resource.id": "webhooks.case.{{ body.case }}"},
  "payload": {"status": {{ body.status | default("ok") | tojson }}, "query": {{ query | tojson }}}
}"""
"""Every test endpoint's events are about `webhooks.case.<body.case>`."""

FAILING_TEMPLATE = """{
  "event": "webhooks.case",
  "resource": {"prefect.resource.id": "webhooks.case.{{ body.case }}"},
  "payload": {"commit": {{ body.head_commit.id | tojson }}}
}"""
"""Line 4 reads a field the request does not have."""

INVALID_TEMPLATE = """{
  "event": "webhooks.case",
  "resource": {"prefect.resource.name": "webhooks.case.{{ body.case }}"}
}"""
"""Line 3 renders a resource without `prefect.resource.id`."""

SLOW_TEMPLATE = """{% for a in body["items"] %}
{% for b in body["items"] %}{% for c in body["items"] %}{% endfor %}{% endfor %}
{% endfor %}
{"event": "webhooks.case", "resource": {"prefect.resource.id": "webhooks.case.{{ body.case }}"}}"""
"""Line 2 loops for minutes over a request with a long `items` list."""


def bearer(slug: str, template: str = CASE_TEMPLATE, **limits: float) -> Endpoint:
    """A bearer-token endpoint with the case template (or another) and these limits."""
    return Endpoint(slug=slug, auth=Auth(kind="bearer"), template=template, limits=Limits(**limits))


@dataclass(frozen=True)
class Gateway:
    """A running gateway and the secrets of its endpoints."""

    url: str
    secrets: dict[str, str]

    def hook(self, slug: str) -> str:
        """The URL of an endpoint."""
        return f"{self.url}/hooks/{slug}"


def gateway_endpoints() -> list[Endpoint]:
    """The repository's GitHub endpoint and the test endpoints."""
    return [
        repo_webhooks()["github-push"].endpoint(),
        bearer("ci-token"),
        bearer("tiny", max_body_bytes=256),
        bearer("throttled", requests_per_minute=1, burst=2),
        bearer("failing", FAILING_TEMPLATE),
        bearer("invalid", INVALID_TEMPLATE),
        bearer("slow", SLOW_TEMPLATE, template_seconds=0.3),
    ]


@pytest.fixture(scope="package")
def gateway(prefect_server: LiveServer) -> Iterator[Gateway]:
    """The gateway serving `gateway_endpoints()`, emitting to the session's server."""
    endpoints = gateway_endpoints()
    keys = {endpoint.slug: secrets.token_hex(20) for endpoint in endpoints}
    with running_gateway(endpoints, keys, prefect_server) as url:
        yield Gateway(url, keys)
