"""The flows image: one pinned name everywhere, and what the built image holds.

The first two tests read files only; the others run the image built from
images/flows/Dockerfile by the `flows_image` fixture.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
import yaml

from infra.components.versions import FLOWS_BASE_IMAGE, FLOWS_IMAGE
from tests.harness.docker_engine import REPO_ROOT, TEST_LABEL, DockerEngine, FlowsImage

# A cold image build (several minutes on two cores) may happen inside a test's setup.
pytestmark = pytest.mark.timeout(900)

DOCKERFILE = REPO_ROOT / "images/flows/Dockerfile"


def _pool_image(name: str) -> str:
    document = yaml.safe_load((REPO_ROOT / "pools" / f"{name}.yaml").read_text())
    return str(document["job_variables"]["image"])


def test_pools_and_prefect_yaml_name_the_pinned_flows_image() -> None:
    deployments = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())["deployments"]
    images = {
        f"prefect.yaml {entry['name']}": entry["work_pool"]["job_variables"]["image"]
        for entry in deployments
        if "image" in entry["work_pool"]["job_variables"]
    }
    images["pools/docker-pool.yaml"] = _pool_image("docker-pool")
    images["pools/kubernetes-pool.yaml"] = _pool_image("kubernetes-pool")

    assert len(images) == 5, images
    assert {where: FLOWS_IMAGE for where in images} == images


def test_dockerfile_defaults_agree_with_the_pins() -> None:
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.MULTILINE)
    uv_in_image = re.search(r"^ARG UV_VERSION=(\S+)$", text, re.MULTILINE)
    pins = (REPO_ROOT / "scripts" / "tool-versions.env").read_text()
    uv_in_make = re.search(r"^UV_VERSION=(\S+)$", pins, re.MULTILINE)
    locked_prefect = re.search(
        r'^name = "prefect"\nversion = "([^"]+)"', (REPO_ROOT / "uv.lock").read_text(), re.M
    )

    assert base and uv_in_image and uv_in_make and locked_prefect
    assert base.group(1) == FLOWS_BASE_IMAGE
    assert uv_in_image.group(1) == uv_in_make.group(1)
    # The tag says which Prefect the image holds; it must move with the lock.
    assert FLOWS_IMAGE.split(":")[1].startswith(f"{locked_prefect.group(1)}-")
    assert FLOWS_BASE_IMAGE.endswith(FLOWS_IMAGE.split(":")[1])


def _run(engine: DockerEngine, image: str, argv: list[str]) -> str:
    """Run `argv` in a throwaway container of `image`; return its output."""
    client = engine.client()
    try:
        output: Any = client.containers.run(
            image, argv, remove=True, network_mode="host", labels={TEST_LABEL: "image"}, stderr=True
        )
    finally:
        client.close()
    return bytes(output).decode()


#: Prints the requirements the build exported that apply here, then what is installed.
_LIST_PACKAGES = r"""
import importlib.metadata as metadata, re
from packaging.requirements import Requirement
def pins(pairs):
    return sorted(f"{re.sub(r'[-_.]+', '-', name).lower()}=={version}" for name, version in pairs)
text = open("/opt/prefect-platform/requirements.txt").read().replace("\\\n", " ")
wanted = [Requirement(line.split(" --hash")[0]) for line in text.splitlines() if "==" in line]
here = [r for r in wanted if not r.marker or r.marker.evaluate()]
print(" ".join(pins((r.name, str(r.specifier)[2:]) for r in here)))
print(" ".join(pins((d.metadata["Name"], d.version) for d in metadata.distributions())))
"""


def _pins(line: str) -> dict[str, str]:
    return dict(pin.split("==") for pin in line.split())


def test_the_image_holds_exactly_the_locked_flows_group(
    docker_engine: DockerEngine, flows_image: FlowsImage
) -> None:
    locked = {
        package["name"]: package["version"]
        for package in tomllib.loads((REPO_ROOT / "uv.lock").read_text())["package"]
        if "version" in package
    }

    output = _run(docker_engine, flows_image.tag, ["python", "-c", _LIST_PACKAGES])
    exported, installed = (_pins(line) for line in output.splitlines())

    # What the build exported from uv.lock is what is installed, nothing more...
    assert installed == exported
    # ...at the lock's versions, with the flows group in it.
    assert {name: locked[name] for name in exported} == exported
    assert {"prefect", "prefect-aws", "prefect-docker", "prefect-kubernetes"} <= set(exported)


def test_the_image_runs_prefect_from_its_venv_with_git_and_compiled_bytecode(
    docker_engine: DockerEngine, flows_image: FlowsImage
) -> None:
    output = _run(
        docker_engine,
        flows_image.tag,
        [
            "sh",
            "-c",
            "command -v prefect; prefect --version; git --version; "
            "python -c 'import os, prefect_aws, prefect_docker, prefect.flows as f; "
            "print(os.path.exists(f.__cached__))'; "
            "find /opt/prefect-platform/venv -name '*.pyc' | wc -l; "
            "ls /tmp/build-ca* 2>&1 | head -1",
        ],
    )
    lines = output.splitlines()

    assert lines[0] == "/opt/prefect-platform/venv/bin/prefect"
    assert lines[1] == "3.9.1"
    assert lines[2].startswith("git version ")
    assert lines[3] == "True"  # bytecode compiled at build time
    assert int(lines[4]) > 1000
    # The build stage's CA bundle is not in the image.
    assert "No such file" in lines[5]
