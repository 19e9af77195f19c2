"""The GitHub workflows validate against GitHub's schema and do what the issue asks.

Running them needs GitHub; here they are checked with check-jsonschema (the
schema GitHub's own workflow syntax follows) and read for the steps that matter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def _validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def _load(name: str) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return document


def _on(workflow: dict[Any, Any]) -> dict[str, Any]:
    trigger: dict[str, Any] = workflow[True]  # PyYAML reads the key `on` as True
    return trigger


def _scripts(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_every_workflow_validates_with_check_jsonschema() -> None:
    paths = sorted(WORKFLOWS.glob("*.yml"))
    assert {p.name for p in paths} == {"ci.yml", "deploy.yml", "preview.yml"}

    result = _validate(*paths)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validation_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = _load("ci.yml")
    broken["jobs"]["lint-and-test"]["runs-on"] = None
    broken["jobs"]["lint-and-test"]["stepz"] = broken["jobs"]["lint-and-test"].pop("steps")
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump({("on" if k is True else k): v for k, v in broken.items()}))

    assert _validate(path).returncode != 0


def test_lint_and_tests_run_on_every_push_and_pull_request() -> None:
    ci = _load("ci.yml")
    deploy = _load("deploy.yml")

    assert {"push", "pull_request", "workflow_call"} <= set(_on(ci))
    assert ".ci/run" in _scripts(ci["jobs"]["lint-and-test"])
    # pushes to main run the same workflow before applying
    assert _on(ci)["push"]["branches-ignore"] == ["main"]
    assert deploy["jobs"]["test"]["uses"] == "./.github/workflows/ci.yml"


def test_a_push_to_main_applies_the_target_stack_one_apply_at_a_time() -> None:
    deploy = _load("deploy.yml")

    assert _on(deploy)["push"]["branches"] == ["main"]
    up = deploy["jobs"]["up"]
    assert up["needs"] == "image" and deploy["jobs"]["image"]["needs"] == "test"
    assert 'pulumi up --stack "$PULUMI_STACK" --yes' in _scripts(up)
    assert deploy["concurrency"]["group"].startswith("pulumi-")
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert "github.repository" in up["env"]["PREFECT_PLATFORM_REPO_URL"]


def test_a_pull_request_gets_a_kind_preview_stack_smoke_test_and_teardown() -> None:
    preview = _load("preview.yml")

    assert set(_on(preview)["pull_request"]["types"]) == {
        "opened",
        "synchronize",
        "reopened",
        "closed",
    }
    assert preview["env"]["STACK"] == "pr-${{ github.event.pull_request.number }}"
    assert preview["concurrency"]["cancel-in-progress"] is False
    assert "pull_request.number" in preview["concurrency"]["group"]

    job = preview["jobs"]["preview"]
    uses = [step.get("uses", "") for step in job["steps"]]
    assert any(use.startswith("helm/kind-action@") for use in uses)
    script = _scripts(job)
    assert 'pulumi up --stack "$STACK"' in script
    assert "python -m tests.e2e.smoke" in script
    assert "GITHUB_STEP_SUMMARY" in script
    assert "gh pr comment" in _scripts(preview["jobs"]["comment"])
    assert job["env"]["PREFECT_PLATFORM_BRANCH"] == "${{ github.event.pull_request.head.ref }}"

    teardown = preview["jobs"]["teardown"]
    assert teardown["if"].startswith("github.event.action == 'closed' ")
    script = _scripts(teardown)
    assert 'pulumi destroy --stack "$STACK"' in script
    assert 'pulumi stack rm "$STACK"' in script


def test_no_workflow_holds_a_secret_value() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        for marker in ("ghp_", "github_pat_", "pul-", "AKIA"):
            assert marker not in text, f"{path.name} contains {marker!r}"


def test_prefect_yaml_takes_repository_and_token_from_outside_the_file() -> None:
    document = yaml.safe_load((REPO / "prefect.yaml").read_text())
    steps = list(document["pull"])
    for entry in document["deployments"]:
        steps += entry.get("pull") or []

    clones = [step["prefect.deployments.steps.git_clone"] for step in steps]
    assert clones
    for clone in clones:
        assert clone["repository"] == "{{ $PREFECT_PLATFORM_REPO_URL }}"
        assert clone["branch"] == "{{ $PREFECT_PLATFORM_BRANCH }}"
        assert clone["access_token"] == "{{ prefect.blocks.secret.github-token }}"
    pools = {entry["work_pool"]["name"] for entry in document["deployments"]}
    assert pools == {"process-pool", "docker-pool", "kubernetes-pool"}
    kinds = {key for entry in document["deployments"] for s in entry["schedules"] for key in s}
    assert {"cron", "interval", "rrule"} <= kinds
