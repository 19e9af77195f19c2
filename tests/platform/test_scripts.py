"""scripts/up.sh and scripts/down.sh: what they do on a machine without the tools.

Here there is no Docker engine, kind or Pulumi CLI, so these tests check the part that runs
everywhere: a missing tool stops the script before it touches anything, with a message saying
what to install and which version. The scripts run from a copy of the repository's scripts and
stack files, with a PATH that holds only basic shell tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.mockstack import REPO

BASIC_TOOLS = (
    "bash", "cat", "chmod", "dirname", "grep", "head", "ls", "mkdir", "od", "printf", "sed",
    "seq", "sleep", "tr",
)  # fmt: skip


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of scripts/ and the stack files, and an environment whose PATH lacks the tools."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts")
    for stack_file in REPO.glob("Pulumi*.yaml"):
        shutil.copy(stack_file, tmp_path / stack_file.name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in BASIC_TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run the scripts"
        (bin_dir / tool).symlink_to(found)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    return tmp_path, env


@pytest.mark.parametrize("script", ["up.sh", "down.sh"])
def test_missing_tools_are_named_with_versions_and_nothing_changes(
    sandbox: tuple[Path, dict[str, str]], script: str
) -> None:
    root, env = sandbox
    result = subprocess.run(
        [str(root / "scripts" / script)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2, result.stderr
    message = result.stderr
    assert "missing tools for stack local (target kubernetes)" in message
    assert "docker: install Docker Engine" in message
    assert "kind v0.29.0: go install sigs.k8s.io/kind@v0.29.0" in message
    assert (
        "pulumi 3.272.0: curl -fsSL https://get.pulumi.com | sh -s -- --version 3.272.0" in message
    )
    assert "uv:" in message
    assert not (root / ".pulumi-state").exists()


def test_docker_stack_does_not_ask_for_kind(sandbox: tuple[Path, dict[str, str]]) -> None:
    root, env = sandbox
    result = subprocess.run(
        [str(root / "scripts/up.sh")],
        env={**env, "STACK": "docker"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "target docker" in result.stderr
    assert "kind" not in result.stderr


def test_unknown_stack_names_the_stack_files(sandbox: tuple[Path, dict[str, str]]) -> None:
    root, env = sandbox
    result = subprocess.run(
        [str(root / "scripts/up.sh")],
        env={**env, "STACK": "staging"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "no stack file" in result.stderr and "Pulumi.staging.yaml" in result.stderr
    for stack in ("local", "pr", "prod", "docker"):
        assert stack in result.stderr


def test_scripts_parse() -> None:
    for script in sorted((REPO / "scripts").glob("*.sh")):
        subprocess.run(["bash", "-n", str(script)], check=True, env={**os.environ})
