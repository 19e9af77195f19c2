"""Smoke test of a deployed environment: run one deployment to Completed and report it.

Used by the PR workflow (.github/workflows/preview.yml) after `pulumi up`, and by
tests/e2e. The API URL and auth string come from the stack's outputs (`apiUrl`,
`authString`) or from --api-url / PREFECT_API_AUTH_STRING.

    python -m tests.e2e.smoke --stack pr-12 --deployment smoke/smoke-kubernetes \\
        --timeout 900 --report smoke.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass
class SmokeResult:
    """What the smoke run did."""

    deployment: str
    state: str
    seconds: float
    run_id: str | None = None
    message: str = ""
    logs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the run reached Completed."""
        return self.state == "COMPLETED"

    def markdown(self) -> str:
        """A report for a GitHub job summary or PR comment: the outcome, never the run's logs.

        Flow logs can hold anything a flow prints, and a PR comment is public: they go to the
        job's own output only (`main`).
        """
        mark = "passed" if self.ok else "FAILED"
        lines = [
            f"**smoke test {mark}**: `{self.deployment}` ended `{self.state}` "
            f"in {self.seconds:.0f} s (run `{self.run_id}`)",
        ]
        if self.message:
            lines.append(f"\n> {self.message}")
        return "\n".join(lines) + "\n"


def stack_outputs(stack: str) -> dict[str, Any]:
    """`pulumi stack output --json --show-secrets` of `stack`."""
    result = subprocess.run(
        ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pulumi stack output failed for {stack}: {result.stderr.strip()}")
    outputs: dict[str, Any] = json.loads(result.stdout)
    return outputs


def wait_healthy(api_url: str, timeout: float) -> None:
    """Wait until the server's /health answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api_url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise TimeoutError(f"{api_url}/health did not answer 200 within {timeout:.0f} s")


def _with_retries(send: Callable[[], httpx.Response], attempts: int = 5) -> httpx.Response:
    """`send()` until it is not a 503 or 429 (a busy server asks clients to retry, as
    Prefect's own client does), then raise for any error status."""
    for attempt in range(attempts):
        response = send()
        if response.status_code not in (429, 503) or attempt == attempts - 1:
            break
        time.sleep(2**attempt)
    return response.raise_for_status()


def run_smoke(
    api_url: str,
    auth_string: str | None,
    deployment: str,
    timeout: float,
    parameters: dict[str, Any] | None = None,
) -> SmokeResult:
    """Run `deployment` (``flow/name``) once and wait until it is final."""
    started = time.monotonic()
    auth = tuple(auth_string.split(":", 1)) if auth_string else None
    wait_healthy(api_url, timeout)
    with httpx.Client(base_url=api_url, auth=auth, timeout=30) as api:  # type: ignore[arg-type]
        found = api.get(f"/deployments/name/{deployment}")
        if found.status_code == 404:
            return SmokeResult(deployment, "MISSING", 0, message="no such deployment")
        found.raise_for_status()
        created = _with_retries(
            lambda: api.post(
                f"/deployments/{found.json()['id']}/create_flow_run",
                json={"parameters": parameters or {}},
            )
        )
        run_id = created.json()["id"]
        state: dict[str, Any] = created.json()["state"]
        while time.monotonic() - started < timeout:
            state = api.get(f"/flow_runs/{run_id}").raise_for_status().json()["state"]
            if state["type"] in FINAL:
                break
            time.sleep(2)
        time.sleep(3)  # the run's last log batch
        body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC"}
        logs = [entry["message"] for entry in api.post("/logs/filter", json=body).json()]
    return SmokeResult(
        deployment,
        state["type"],
        time.monotonic() - started,
        run_id=run_id,
        message=state.get("message") or "",
        logs=logs,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the smoke test; exit 0 only if the run reached Completed."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stack", help="read apiUrl/authString from this stack's outputs")
    parser.add_argument("--api-url", help="the Prefect API URL (instead of --stack)")
    parser.add_argument("--deployment", default="smoke/smoke-kubernetes", help="flow/name")
    parser.add_argument("--timeout", type=float, default=900, help="seconds (default 900)")
    parser.add_argument("--report", type=Path, help="write a Markdown report here")
    args = parser.parse_args(argv)

    if args.stack:
        outputs = stack_outputs(args.stack)
        api_url, auth_string = outputs["apiUrl"], outputs.get("authString")
    elif args.api_url:
        api_url, auth_string = args.api_url, os.environ.get("PREFECT_API_AUTH_STRING")
    else:
        parser.error("give --stack or --api-url")
    if auth_string and os.environ.get("GITHUB_ACTIONS") == "true":
        print(f"::add-mask::{auth_string}")  # GitHub masks it in every later line of the job
    result = run_smoke(api_url.rstrip("/"), auth_string, args.deployment, args.timeout)
    report = result.markdown()
    logs = "\n".join(result.logs)
    if auth_string:
        report = report.replace(auth_string, "***")
        logs = logs.replace(auth_string, "***")
    print(f"run logs:\n{logs}\n\n{report}")
    if args.report:
        args.report.write_text(report)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
