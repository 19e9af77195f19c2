"""The webhook gateway as the platform runs it: the flows image, its code shipped beside it.

The Kubernetes and Docker targets run `infra/gateway` in the flows image, its files mounted
from a ConfigMap or uploaded into the container (infra/components/webhook_gateway.py). This
runs both for real, with the files of `gateway_code()` at `CODE_DIR` and the same command and
environment: as the Kubernetes pod (the files a read-only mount, user 1000, a read-only root
file system) and as the Docker target's container (the files uploaded before it starts). A
signed GitHub delivery becomes an event on the live server.
"""

from __future__ import annotations

import io
import secrets
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.components.webhook_gateway import CODE_DIR, COMMAND, gateway_code, runtime_env
from infra.gateway.config import HEALTH_PATH, PORT
from tests.harness.docker_engine import TEST_LABEL, DockerEngine, FlowsImage
from tests.harness.live_server import LiveServer
from tests.harness.processes import free_port
from tests.webhooks.gateway import (
    gateway_env,
    github_headers,
    push_body,
    repo_webhooks,
    wait_for_events,
)

# A cold flows image build (several minutes on two cores) may happen inside the setup.
pytestmark = pytest.mark.timeout(900)


def _code_archive() -> bytes:
    """`gateway_code()` as a tar archive rooted at `CODE_DIR`, readable by any user."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, text in sorted(gateway_code().items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{CODE_DIR.lstrip('/')}/{path}")
            info.size, info.mode = len(data), 0o444
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("target", ["kubernetes", "docker"])
def test_the_flows_image_serves_the_shipped_gateway_code(
    docker_engine: DockerEngine,
    flows_image: FlowsImage,
    prefect_server: LiveServer,
    tmp_path: Path,
    target: str,
) -> None:
    secret, repository = secrets.token_hex(16), f"image-{secrets.token_hex(4)}"
    endpoint = repo_webhooks()["github-push"].endpoint()
    env = {
        **runtime_env(),
        **gateway_env(
            [endpoint], {"github-push": secret}, prefect_server.api_url, prefect_server.auth_string
        ),
    }
    port = free_port()
    command = [*COMMAND[:-4], "--host", "127.0.0.1", "--port", str(port)]
    assert COMMAND[-4:] == ["--host", "0.0.0.0", "--port", str(PORT)]
    client = docker_engine.client()
    if target == "kubernetes":  # the ConfigMap: read-only files; the pod's security context
        code = tmp_path / "code"
        for path, text in gateway_code().items():
            shipped = code / CODE_DIR.lstrip("/") / path
            shipped.parent.mkdir(parents=True, exist_ok=True)
            shipped.write_text(text)
        options: dict[str, Any] = {
            "user": "1000:1000",
            "read_only": True,
            "tmpfs": {"/tmp": ""},
            "volumes": {str(code / CODE_DIR.lstrip("/")): {"bind": CODE_DIR, "mode": "ro"}},
        }
    else:
        options = {}
    container = client.containers.create(
        flows_image.tag,
        command,
        network_mode="host",
        environment=env,
        labels={TEST_LABEL: "webhook-gateway"},
        **options,
    )
    try:
        if target == "docker":  # what pulumi-docker's `uploads` does before the start
            assert container.put_archive("/", _code_archive())
        container.start()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + HEALTH_PATH, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            container.reload()
            assert container.status == "running", container.logs().decode()[-3000:]
            assert time.monotonic() < deadline, container.logs().decode()[-3000:]
            time.sleep(0.5)
        body = push_body(repository)

        answer = httpx.post(
            f"{url}/hooks/github-push", content=body, headers=github_headers(secret, body)
        )

        assert answer.status_code == 202, answer.text
        (event,) = wait_for_events(prefect_server, f"github.repo.{repository}")
        assert event["event"] == "github.push"
        if target == "kubernetes":
            assert container.exec_run(["id", "-u"]).output.decode().strip() == "1000"
        assert secret not in container.logs().decode()
    finally:
        container.remove(force=True)
        client.close()
