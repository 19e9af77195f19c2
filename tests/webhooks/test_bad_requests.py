"""Bad requests get a clear answer and emit nothing (issue 13, item 5).

Every bad request of `answers` carries its own marker in the resource its event would have
had; then one good request (the sentinel) goes through the same gateway, and the tests run
once the server has stored the sentinel's event. The gateway emits before it answers, so an
event a bad request had emitted would have reached the server before the sentinel's: each
test asserts its status, its message, and that nothing about its marker was stored.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.harness.live_server import LiveServer
from tests.harness.processes import free_port
from tests.webhooks.conftest import Gateway, bearer
from tests.webhooks.gateway import (
    github_headers,
    push_body,
    running_gateway,
    stored_events,
    wait_for_events,
)

TAG = uuid.uuid4().hex[:8]


def marker(case: str) -> str:
    """This session's marker of a case."""
    return f"{case}-{TAG}"


def case_body(case: str, **fields: object) -> bytes:
    """A body for the case endpoints: their events are about `webhooks.case.<case>`."""
    return json.dumps({"case": marker(case), **fields}).encode()


def token(gateway: Gateway, slug: str) -> dict[str, str]:
    """The Authorization header of a bearer endpoint."""
    return {"Authorization": f"Bearer {gateway.secrets[slug]}"}


def resource(case: str) -> str:
    """The resource id the case's event would have had."""
    if case in ("missing-signature", "wrong-signature"):
        return f"github.repo.{marker(case)}"
    return f"webhooks.case.{marker(case)}"


@pytest.fixture(scope="module")
def answers(gateway: Gateway, prefect_server: LiveServer) -> Iterator[dict[str, httpx.Response]]:
    """Send every bad request, then the sentinel; yield each case's answer once the sentinel's
    event is stored."""
    found: dict[str, httpx.Response] = {}
    with httpx.Client(timeout=30) as http:
        body = push_body(marker("missing-signature"))
        headers = github_headers(gateway.secrets["github-push"], body)
        del headers["X-Hub-Signature-256"]
        found["missing-signature"] = http.post(
            gateway.hook("github-push"), content=body, headers=headers
        )
        body = push_body(marker("wrong-signature"))
        headers = github_headers("not-the-secret", body)
        found["wrong-signature"] = http.post(
            gateway.hook("github-push"), content=body, headers=headers
        )
        found["wrong-token"] = http.post(
            gateway.hook("ci-token"),
            content=case_body("wrong-token"),
            headers={"Authorization": "Bearer not-the-token"},
        )
        found["unknown-slug"] = http.post(
            gateway.hook("no-such-hook"), content=case_body("unknown-slug")
        )
        big = case_body("body-too-large", padding="x" * 300)
        found["body-too-large"] = http.post(
            gateway.hook("tiny"), content=big, headers=token(gateway, "tiny")
        )
        chunked = case_body("body-too-large-chunked", padding="x" * 300)
        found["body-too-large-chunked"] = http.post(
            gateway.hook("tiny"),
            content=iter([chunked[:100], chunked[100:]]),  # no Content-Length: read and cut off
            headers=token(gateway, "tiny"),
        )
        found["template-fails"] = http.post(
            gateway.hook("failing"),
            content=case_body("template-fails"),
            headers=token(gateway, "failing"),
        )
        found["invalid-event"] = http.post(
            gateway.hook("invalid"),
            content=case_body("invalid-event"),
            headers=token(gateway, "invalid"),
        )
        found["template-too-slow"] = http.post(
            gateway.hook("slow"),
            content=case_body("template-too-slow", items=list(range(2000))),
            headers=token(gateway, "slow"),
        )
        for index in range(3):  # burst 2, then 1 a minute: the third is over the rate
            found[f"rate-{index}"] = http.post(
                gateway.hook("throttled"),
                content=case_body(f"rate-{index}"),
                headers=token(gateway, "throttled"),
            )
        found["events-api-down"] = _with_events_api_down(http)
        sentinel = http.post(
            gateway.hook("ci-token"),
            content=case_body("sentinel"),
            headers=token(gateway, "ci-token"),
        )
    assert sentinel.status_code == 202, sentinel.text
    wait_for_events(prefect_server, resource("sentinel"))
    yield found


def _with_events_api_down(http: httpx.Client) -> httpx.Response:
    """A good request to a gateway whose events API is a closed port."""
    endpoint, key = bearer("ci-token"), secrets.token_hex(8)
    closed = f"http://127.0.0.1:{free_port()}/api"
    with running_gateway([endpoint], {"ci-token": key}, None, api_url=closed) as url:
        return http.post(
            f"{url}/hooks/ci-token",
            content=case_body("events-api-down"),
            headers={"Authorization": f"Bearer {key}"},
        )


@pytest.mark.parametrize(
    ("case", "status", "detail"),
    [
        ("missing-signature", 401, "missing header X-Hub-Signature-256"),
        ("wrong-signature", 401, "wrong signature in header X-Hub-Signature-256"),
        ("wrong-token", 401, "wrong token in header Authorization"),
        ("unknown-slug", 404, "no webhook endpoint is named 'no-such-hook'"),
        ("body-too-large", 413, "this endpoint accepts at most 256 bytes"),
        ("body-too-large-chunked", 413, "this endpoint accepts at most 256 bytes"),
        ("rate-2", 429, "over 1 requests a minute; retry in"),
        ("events-api-down", 503, "no event was accepted: retry this delivery later"),
    ],
)
def test_a_bad_request_is_refused_and_emits_nothing(
    answers: dict[str, httpx.Response],
    prefect_server: LiveServer,
    case: str,
    status: int,
    detail: str,
) -> None:
    answer = answers[case]

    assert answer.status_code == status, answer.text
    assert detail in answer.json()["detail"]
    assert stored_events(prefect_server, resource(case)) == []


@pytest.mark.parametrize(
    ("case", "line", "detail"),
    [
        ("template-fails", 4, "template line 4: 'dict object' has no attribute 'head_commit'"),
        (
            "invalid-event",
            3,
            "template line 3: resource: Value error, Resources must include the "
            "prefect.resource.id label",
        ),
        ("template-too-slow", 2, "template line 2: the template took longer than 0.3 s"),
    ],
)
def test_a_template_that_fails_is_a_400_naming_its_line_and_emits_nothing(
    answers: dict[str, httpx.Response],
    prefect_server: LiveServer,
    case: str,
    line: int,
    detail: str,
) -> None:
    answer = answers[case]

    assert answer.status_code == 400, answer.text
    assert answer.json()["template_line"] == line
    assert answer.json()["detail"] == detail
    assert stored_events(prefect_server, resource(case)) == []


def test_over_the_rate_is_a_429_with_retry_after_and_the_burst_went_through(
    answers: dict[str, httpx.Response], prefect_server: LiveServer
) -> None:
    assert [answers[f"rate-{index}"].status_code for index in range(3)] == [202, 202, 429]
    assert 1 <= int(answers["rate-2"].headers["Retry-After"]) <= 60
    assert len(stored_events(prefect_server, resource("rate-0"))) == 1
    assert len(stored_events(prefect_server, resource("rate-1"))) == 1


def test_events_api_down_is_a_503_that_tells_the_caller_to_retry(
    answers: dict[str, httpx.Response],
) -> None:
    answer = answers["events-api-down"]

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "30"
    assert answer.json()["error"] == "events API unavailable"
    assert answer.json()["detail"].startswith("events API unreachable: ConnectError")
