"""The PR preview path end to end: a kind cluster, `pulumi up`, a smoke run, teardown.

Runs only where `kind`, `docker` and `pulumi` are on the PATH (the PR workflow's
runner, a developer's machine); elsewhere it is skipped and says why. It does
what .github/workflows/preview.yml does, with a local Pulumi backend:

1. `kind create cluster` with scripts/kind-config.yaml (API on 127.0.0.1:4200);
2. a stack `e2e-<random>` from Pulumi.pr.yaml, `pulumi up`;
3. the smoke deployment run to Completed (tests/e2e/smoke.py);
4. `pulumi destroy`, then checks that the stack's state is empty and that no
   namespace the stack created is left; `pulumi stack rm`; the cluster is deleted.

The flow runs clone ``PLATFORM_E2E_REPO_URL`` at ``PLATFORM_E2E_BRANCH`` (default:
this checkout's `origin` and current branch), so push the branch first.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.smoke import run_smoke

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("kind", "docker", "pulumi", "kubectl")
MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"kind end-to-end test needs {', '.join(TOOLS)} on PATH; missing here: "
        f"{', '.join(MISSING)} (it runs in the PR workflow and where they are installed)",
    ),
    pytest.mark.timeout(3600),
]


def _run(*argv: str, env: dict[str, str], timeout: float = 1800) -> str:
    result = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result.stdout


def _git(*argv: str) -> str:
    return subprocess.run(
        ["git", *argv], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def kind_stack(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A kind cluster and a fresh stack on a local backend; both removed afterwards."""
    name = f"e2e-{secrets.token_hex(3)}"
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": (tmp_path / "state").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(24),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "PREFECT_PLATFORM_REPO_URL": os.environ.get("PLATFORM_E2E_REPO_URL")
        or _git("remote", "get-url", "origin"),
        "PREFECT_PLATFORM_BRANCH": os.environ.get("PLATFORM_E2E_BRANCH")
        or _git("rev-parse", "--abbrev-ref", "HEAD"),
    }
    (tmp_path / "state").mkdir()
    stack_file = REPO / f"Pulumi.{name}.yaml"
    shutil.copy(REPO / "Pulumi.pr.yaml", stack_file)
    try:
        _run(
            "kind",
            "create",
            "cluster",
            "--name",
            name,
            "--config",
            "scripts/kind-config.yaml",
            "--wait",
            "180s",
            env=env,
        )
        _run("pulumi", "stack", "init", name, "--non-interactive", env=env)
        yield name, env
    finally:
        subprocess.run(
            ["pulumi", "stack", "rm", name, "--yes", "--force", "--non-interactive"],
            cwd=REPO,
            env=env,
            capture_output=True,
            check=False,
        )
        subprocess.run(
            ["kind", "delete", "cluster", "--name", name],
            cwd=REPO,
            env=env,
            capture_output=True,
            check=False,
        )
        stack_file.unlink(missing_ok=True)


def test_preview_environment_up_smoke_and_teardown(kind_stack: tuple[str, dict[str, str]]) -> None:
    name, env = kind_stack
    namespaces_before = set(_run("kubectl", "get", "namespaces", "-o", "name", env=env).split())
    _run("pulumi", "up", "--stack", name, "--yes", "--skip-preview", "--non-interactive", env=env)
    outputs = _outputs(name, env)

    result = run_smoke(
        outputs["apiUrl"].rstrip("/"),
        outputs.get("authString"),
        "smoke/smoke-kubernetes",
        timeout=900,
    )
    assert result.ok, result.markdown()

    namespaces_up = set(_run("kubectl", "get", "namespaces", "-o", "name", env=env).split())
    _run(
        "pulumi",
        "destroy",
        "--stack",
        name,
        "--yes",
        "--skip-preview",
        "--non-interactive",
        env=env,
    )
    state = json.loads(_run("pulumi", "stack", "export", "--stack", name, env=env))
    left = [
        r["urn"]
        for r in state["deployment"].get("resources") or []
        if not r["type"].startswith("pulumi:")
    ]
    assert left == [], f"resources left in the stack after destroy: {left}"
    namespaces_after = set(_run("kubectl", "get", "namespaces", "-o", "name", env=env).split())
    assert namespaces_up - namespaces_before, "pulumi up created no namespace"
    assert namespaces_after == namespaces_before, "namespaces left after destroy"
    _run("pulumi", "stack", "rm", name, "--yes", "--non-interactive", env=env)


def _outputs(name: str, env: dict[str, str]) -> dict[str, str]:
    text = _run("pulumi", "stack", "output", "--json", "--show-secrets", "--stack", name, env=env)
    outputs: dict[str, str] = json.loads(text)
    return outputs
