"""Least privilege in the GitHub workflows: who gets which secret, token and permission.

The workflows cannot run here; they are linted with actionlint (and shellcheck on every
`run:` block), parsed and walked, and the scripts they call run against stand-in `pulumi`,
`docker` and `git` executables that record their arguments.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.components.versions import FLOWS_IMAGE

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
ACTIONLINT = Path(sys.executable).parent / "actionlint"
TOOL_VERSIONS = REPO / "scripts" / "tool-versions.env"
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>\S+)(?P<comment>.*)$")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
TAG_COMMENT = re.compile(r"^\s+# v\d+(\.\d+)*\s*$")


def _workflows() -> dict[str, dict[Any, Any]]:
    return {path.name: yaml.safe_load(path.read_text()) for path in WORKFLOWS.glob("*.yml")}


def _jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, workflow in _workflows().items():
        for job_id, job in workflow["jobs"].items():
            yield name, job_id, job


def _step(job: dict[str, Any], contains: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = job["steps"]
    (step,) = [s for s in steps if contains in s.get("run", "") + s.get("name", "")]
    return step


def unpinned_actions(text: str) -> list[str]:
    """`uses:` lines of a workflow that are not a commit SHA followed by `# v<tag>`."""
    problems = []
    for line in text.splitlines():
        match = USES.match(line)
        if match is None or match["action"].startswith("./"):
            continue
        if not PINNED.match(match["action"]) or not TAG_COMMENT.match(match["comment"]):
            problems.append(line.strip())
    return problems


def test_every_workflow_passes_actionlint_with_shellcheck() -> None:
    assert shutil.which("shellcheck"), (
        "shellcheck is not installed (Debian: apt install shellcheck)"
    )
    result = subprocess.run(
        [str(ACTIONLINT), *map(str, sorted(WORKFLOWS.glob("*.yml")))],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_shell_defect_in_a_run_block(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        textwrap.dedent(
            """
            on: push
            jobs:
              x:
                runs-on: ubuntu-24.04
                steps:
                  - run: echo $UNQUOTED_VARIABLE_WITH_GLOB*
            """
        )
    )
    result = subprocess.run([str(ACTIONLINT), str(broken)], capture_output=True, text=True)
    assert result.returncode != 0 and "shellcheck" in result.stdout


def test_third_party_actions_are_pinned_by_commit_sha_with_their_tag() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        assert unpinned_actions(path.read_text()) == [], path.name


def test_the_pin_check_refuses_a_tag_a_branch_and_a_sha_without_its_tag() -> None:
    sha = "de0fac2e4500dabe0009e67214ff5f5447ce83dd"
    assert unpinned_actions("      - uses: actions/checkout@v4") != []
    assert unpinned_actions("      - uses: actions/checkout@main") != []
    assert unpinned_actions(f"      - uses: actions/checkout@{sha}") != []
    assert unpinned_actions(f"      - uses: actions/checkout@{sha} # v6.0.2") == []
    assert unpinned_actions("    uses: ./.github/workflows/ci.yml") == []


def test_tool_versions_come_from_scripts_tool_versions_env() -> None:
    pins = dict(
        line.split("=", 1)
        for line in TOOL_VERSIONS.read_text().splitlines()
        if re.match(r"^[A-Z0-9_]+=", line)
    )
    assert {"UV_VERSION", "KIND_VERSION", "PULUMI_VERSION", "KIND_NODE_IMAGE"} <= set(pins)
    for name, workflow in _workflows().items():
        for job in workflow["jobs"].values():
            for step in job.get("steps", []):
                uses = step.get("uses", "")
                inputs = step.get("with", {})
                if uses.startswith("pulumi/actions@"):
                    assert inputs == {"pulumi-version": "${{ steps.tools.outputs.PULUMI_VERSION }}"}
                if uses.startswith("helm/kind-action@"):
                    assert inputs["version"] == "${{ steps.tools.outputs.KIND_VERSION }}"
                    assert inputs["node_image"] == "${{ steps.tools.outputs.KIND_NODE_IMAGE }}"
                # uv comes from the Makefile, which reads UV_VERSION from the same file.
                assert not uses.startswith("astral-sh/setup-uv@"), name
    # The Makefile's pinned uv is that file's.
    assert "tool-versions.env" in (REPO / "Makefile").read_text()


def test_every_job_states_its_permissions_and_only_two_may_write() -> None:
    for name in ("deploy.yml", "preview.yml"):
        assert _workflows()[name]["permissions"] == {}, name
    writers = {}
    for name, job_id, job in _jobs():
        assert "permissions" in job, f"{name}: job {job_id} states no permissions"
        granted = {scope for scope, level in job["permissions"].items() if level == "write"}
        if granted:
            writers[(name, job_id)] = granted
    assert writers == {
        ("deploy.yml", "image"): {"packages"},
        ("preview.yml", "comment"): {"pull-requests"},
    }
    # The job that writes to the pull request runs none of its code.
    comment = _workflows()["preview.yml"]["jobs"]["comment"]
    assert [step.get("uses") for step in comment["steps"]] == [None]
    assert comment["steps"][0]["run"].startswith("gh pr comment ")


def test_no_checkout_keeps_the_token_in_the_git_config() -> None:
    checkouts = [
        step
        for _, _, job in _jobs()
        for step in job.get("steps", [])
        if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkouts
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False


def _secret_references(value: Any, where: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_references(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_references(item, f"{where}[{index}]")
    elif isinstance(value, str) and "secrets." in value:
        yield where


def test_secrets_are_only_in_the_env_of_the_steps_that_use_them() -> None:
    step_env = re.compile(r"^jobs\.[\w-]+\.steps\[\d+\]\.env\.\w+$")
    for name, workflow in _workflows().items():
        places = list(_secret_references(workflow, ""))
        assert [p for p in places if not step_env.match(p.lstrip("."))] == [], name


def test_prod_is_applied_only_from_main_with_the_prod_environment() -> None:
    deploy = _workflows()["deploy.yml"]
    for job_id in ("image", "up"):
        assert deploy["jobs"][job_id]["if"] == "github.ref == 'refs/heads/main'"
    assert deploy["jobs"]["up"]["environment"] == "prod"
    environments = {
        (name, job_id): job.get("environment") for name, job_id, job in _jobs() if "steps" in job
    }
    assert [key for key, value in environments.items() if value == "prod"] == [("deploy.yml", "up")]
    # Everything that runs a pull request's code (or tears its stack down) uses `preview`.
    preview = _workflows()["preview.yml"]["jobs"]
    assert preview["preview"]["environment"] == preview["teardown"]["environment"] == "preview"
    assert "secrets" not in json.dumps(_workflows()["ci.yml"])


def test_a_fork_gets_a_summary_instead_of_a_failed_login() -> None:
    jobs = _workflows()["preview.yml"]["jobs"]
    same_repo = "github.event.pull_request.head.repo.full_name == github.repository"
    fork = "github.event.pull_request.head.repo.full_name != github.repository"
    assert fork in jobs["fork"]["if"] and "GITHUB_STEP_SUMMARY" in jobs["fork"]["steps"][0]["run"]
    assert jobs["fork"]["permissions"] == {} and "secrets." not in json.dumps(jobs["fork"])
    for job_id in ("preview", "teardown"):
        assert same_repo in jobs[job_id]["if"], job_id


def test_teardown_runs_the_base_branch_code() -> None:
    teardown = _workflows()["preview.yml"]["jobs"]["teardown"]
    (checkout,) = [s for s in teardown["steps"] if s.get("uses", "").startswith("actions/checkout")]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"


def test_the_preview_loads_the_flows_image_into_its_cluster() -> None:
    job = _workflows()["preview.yml"]["jobs"]["preview"]
    script = _step(job, "kind load")["run"]
    assert "docker build -f images/flows/Dockerfile" in script
    assert 'kind load docker-image "$image" --name "$CLUSTER"' in script
    # The one-liner that names the image prints FLOWS_IMAGE without the project's environment.
    (line,) = [line for line in script.splitlines() if line.startswith("image=")]
    command = line.removeprefix('image="$(').removesuffix(')"')
    printed = subprocess.run(
        ["bash", "-c", command], cwd=REPO, capture_output=True, text=True, env={"PATH": "/usr/bin"}
    )
    assert printed.stdout.strip() == FLOWS_IMAGE, printed.stderr
    # The stack's objects are all new in a new cluster: nothing to refresh.
    (up,) = [
        line for line in _step(job, "pulumi up --stack")["run"].splitlines() if "up --" in line
    ]
    assert up.startswith("pulumi up ") and "--refresh" not in up


def test_deploy_applies_the_digest_the_image_job_pushed() -> None:
    deploy = _workflows()["deploy.yml"]["jobs"]
    assert deploy["image"]["outputs"]["reference"] == "${{ steps.push.outputs.reference }}"
    assert deploy["up"]["env"]["FLOWS_IMAGE_REFERENCE"] == "${{ needs.image.outputs.reference }}"
    script = _step(deploy["up"], "pulumi up --stack")["run"]
    assert 'pulumi config set prefect-platform:flowsImage "$FLOWS_IMAGE_REFERENCE"' in script
    assert script.index("config set prefect-platform:flowsImage") < script.index("pulumi up")
    push = _step(deploy["image"], "scripts/push-flows-image.sh")["run"]
    assert push.startswith('scripts/push-flows-image.sh "ghcr.io/${GITHUB_REPOSITORY,,}"')


# Stand-ins for the CLIs the scripts call: each appends its argv to $CALLS and answers from
# files the test writes.
_STAND_IN = """#!/usr/bin/env bash
printf '%s %s\\n' "$(basename "$0")" "$*" >> "$CALLS"
case "$(basename "$0") $1 $2" in
  "pulumi stack select") [ "$3" = --create ] || [ -f "$STATE/exists" ] || exit 1 ;;
  "pulumi stack export") cat "$STATE/export.json" ;;
  "pulumi config get") exit 1 ;;
  "docker image inspect") cat "$STATE/digests" ;;
  "git rev-parse"*) echo 0123456789ab ;;
esac
cat > /dev/null 2>&1 < /dev/null
"""


@pytest.fixture
def stand_ins(tmp_path: Path) -> dict[str, Any]:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for tool in ("pulumi", "docker", "git"):
        (bin_dir / tool).write_text(_STAND_IN)
        (bin_dir / tool).chmod(0o755)
    # The project environment's interpreter, as the workflow's activated venv has it.
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    calls = tmp_path / "calls"
    calls.touch()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "CALLS": str(calls),
        "STATE": str(state),
        "HOME": str(tmp_path),
    }
    return {"env": env, "state": state, "calls": calls}


def _preview_stack(stand_ins: dict[str, Any], tmp_path: Path) -> list[str]:
    work = tmp_path / "repo"
    (work / "scripts").mkdir(parents=True)
    for script in ("preview-stack.sh", "lib.sh", "tool-versions.env", "declared_secrets.py"):
        shutil.copy(REPO / "scripts" / script, work / "scripts")
    shutil.copy(REPO / "Pulumi.pr.yaml", work)
    shutil.copytree(REPO / "webhooks", work / "webhooks")
    env = {
        **stand_ins["env"],
        "STACK": "pr-7",
        "CLUSTER": "pr-7",
        "GITHUB_TOKEN_FOR_FLOWS": "token-value",
    }
    result = subprocess.run(
        ["bash", str(work / "scripts" / "preview-stack.sh")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (work / "Pulumi.pr-7.yaml").read_text() == (REPO / "Pulumi.pr.yaml").read_text()
    calls: Path = stand_ins["calls"]
    return calls.read_text().splitlines()


def test_a_stack_left_by_a_failed_run_is_removed_before_the_next_run(
    stand_ins: dict[str, Any], tmp_path: Path
) -> None:
    (stand_ins["state"] / "exists").touch()
    resources = [{"urn": "urn:pulumi:pr-7::prefect-platform::prefect:WorkPool::pool"}]
    (stand_ins["state"] / "export.json").write_text(
        json.dumps({"deployment": {"resources": resources}})
    )
    calls = _preview_stack(stand_ins, tmp_path)
    removed = calls.index("pulumi stack rm pr-7 --yes --force --non-interactive")
    assert removed < calls.index("pulumi stack select --create pr-7 --non-interactive")
    assert "pulumi config set kubernetes:context kind-pr-7 --stack pr-7" in calls
    assert "pulumi config set --secret githubToken --stack pr-7" in calls
    # webhooks/github-push.yaml's secret, generated for the preview (the stack had none).
    assert "pulumi config set --secret prefect-platform:githubWebhookSecret --stack pr-7" in calls


@pytest.mark.parametrize("state", ["no stack", "empty stack"])
def test_a_clean_or_missing_stack_is_kept(
    state: str, stand_ins: dict[str, Any], tmp_path: Path
) -> None:
    if state == "empty stack":
        (stand_ins["state"] / "exists").touch()
        (stand_ins["state"] / "export.json").write_text(json.dumps({"deployment": {}}))
    calls = _preview_stack(stand_ins, tmp_path)
    assert not any(call.startswith("pulumi stack rm") for call in calls)
    assert "pulumi stack select --create pr-7 --non-interactive" in calls


def _push(stand_ins: dict[str, Any], digests: str) -> subprocess.CompletedProcess[str]:
    (stand_ins["state"] / "digests").write_text(digests)
    return subprocess.run(
        [str(REPO / "scripts" / "push-flows-image.sh"), "ghcr.io/acme/platform/"],
        env={**stand_ins["env"], "LANG": os.environ.get("LANG", "C.UTF-8")},
        capture_output=True,
        text=True,
    )


def test_the_flows_image_is_pushed_under_both_tags_and_named_by_digest(
    stand_ins: dict[str, Any],
) -> None:
    name, tag = FLOWS_IMAGE.split(":")
    target = f"ghcr.io/acme/platform/{name}"
    digest = "sha256:" + "cd" * 32
    result = _push(stand_ins, f"other/image@sha256:{'ef' * 32}\n{target}@{digest}\n")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"reference={target}:{tag}@{digest}\n"
    calls = stand_ins["calls"].read_text().splitlines()
    assert f"docker push {target}:{tag}-0123456789ab" in calls
    assert f"docker push {target}:{tag}" in calls
    (build,) = [call for call in calls if call.startswith("docker build")]
    assert "-f images/flows/Dockerfile" in build and f"-t {target}:{tag} " in build


def test_no_digest_from_the_registry_fails_the_push(stand_ins: dict[str, Any]) -> None:
    result = _push(stand_ins, "")
    assert result.returncode != 0
    assert result.stdout == "" and "returned no digest" in result.stderr
