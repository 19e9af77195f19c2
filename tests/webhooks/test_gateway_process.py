"""`python -m infra.gateway` as its image runs it: settings from the environment, JSON logs
that never contain a secret, a clear exit when a setting is missing."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx

from infra.gateway.auth import auth_problem, signature
from infra.gateway.config import ENDPOINTS_ENV, secret_env_name
from infra.gateway.endpoints import Auth
from tests.harness.live_server import LiveServer
from tests.webhooks.conftest import bearer
from tests.webhooks.gateway import (
    REPO,
    gateway_env,
    gateway_process,
    github_headers,
    push_body,
    repo_webhooks,
    wait_for_events,
)


def test_the_signature_is_githubs_for_githubs_documented_example() -> None:
    """GitHub's docs ("Validating webhook deliveries"): this secret and body give this header."""
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    auth = Auth(kind="hmac-sha256")

    assert "sha256=" + signature(secret, body) == header
    assert auth_problem(auth, secret, {"x-hub-signature-256": header}, body) is None
    assert auth_problem(auth, secret, {"x-hub-signature-256": header}, body + b" ") == (
        "wrong signature in header X-Hub-Signature-256"
    )


def test_the_process_serves_and_its_logs_never_hold_a_secret(
    prefect_server: LiveServer, tmp_path: Path
) -> None:
    github = repo_webhooks()["github-push"].endpoint()
    keys = {
        "github-push": "gh-" + secrets.token_hex(16),
        "ci-token": "tok-" + secrets.token_hex(16),
    }
    repository = f"logs-{secrets.token_hex(4)}"
    with gateway_process([github, bearer("ci-token")], keys, prefect_server, tmp_path) as (
        url,
        proc,
    ):
        assert httpx.get(f"{url}/health").json() == {
            "status": "ok",
            "endpoints": ["ci-token", "github-push"],
        }
        body = push_body(repository)
        good = github_headers(keys["github-push"], body)
        answers = [
            httpx.post(f"{url}/hooks/github-push", content=body, headers=good),
            httpx.post(
                f"{url}/hooks/github-push",
                content=body,
                headers={**good, "X-Hub-Signature-256": "sha256=" + "0" * 64},
            ),
            httpx.post(
                f"{url}/hooks/ci-token?token={keys['ci-token']}",
                json={"case": repository},
                headers={"Authorization": f"Bearer {keys['ci-token']}"},
            ),
            httpx.post(
                f"{url}/hooks/ci-token",
                json={"case": repository},
                headers={"Authorization": f"Bearer {keys['github-push']}"},
            ),
        ]
        assert [answer.status_code for answer in answers] == [202, 401, 202, 401]
        wait_for_events(prefect_server, f"github.repo.{repository}")
        proc.stop()
    log = proc.log_path.read_text()

    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [record for record in records if record["message"] == "webhook request"]
    assert [(r["slug"], r["status"]) for r in requests] == [
        ("github-push", 202),
        ("github-push", 401),
        ("ci-token", 202),
        ("ci-token", 401),
    ]
    assert requests[1]["detail"] == "wrong signature in header X-Hub-Signature-256"
    assert requests[0]["event_ids"] == answers[0].json()["event_ids"]
    for secret in [*keys.values(), prefect_server.auth_string.partition(":")[2]]:
        assert secret not in log
    assert good["X-Hub-Signature-256"].removeprefix("sha256=") not in log


def test_a_missing_secret_stops_the_gateway_naming_the_variable(tmp_path: Path) -> None:
    env = gateway_env([bearer("ci-token")], {}, "http://127.0.0.1:9/api", "admin:hidden-pw")

    result = subprocess.run(
        [sys.executable, "-m", "infra.gateway", "--port", "9"],
        env={"PATH": os.environ.get("PATH", ""), "PREFECT_HOME": str(tmp_path), **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert f"{secret_env_name('ci-token')} is not set" in result.stderr
    assert secret_env_name("ci-token") == "PLATFORM_WEBHOOK_SECRET_CI_TOKEN"
    assert ENDPOINTS_ENV in env and "hidden-pw" not in result.stderr
