"""The S3 endpoint of a stack as seen from this machine (scripts/up.sh prints it).

Flow runs reach the object store inside the cluster or the Docker network: that is the stack
output `s3Endpoint`. From the host, it is where the stack publishes it: for the kind stacks, the
host port kind maps the object store's NodePort to (`scripts/kind-config.yaml`); for the Docker
target, `docker.bindAddress`:`docker.s3Port`; for an external store, its endpoint as is.

Usage: ``python scripts/s3_host_endpoint.py STACK_FILE KIND_CONFIG [--kind-cluster]``. Prints the
URL, or nothing when the stack does not publish S3 on this machine.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

NAMESPACE = "prefect-platform"
"""The config namespace of the stack files."""

DOCKER_BIND_ADDRESS = "127.0.0.1"
"""Default of `docker.bindAddress` (infra/config.py `DockerConfig`)."""

DOCKER_S3_PORT = 9000
"""Default of `docker.s3Port` (infra/config.py `DockerConfig`)."""


def _setting(config: dict[str, Any], key: str) -> Any:
    return config.get(f"{NAMESPACE}:{key}")


def _kind_host_port(kind_config: Path, node_port: int) -> str | None:
    """`host:port` that the kind cluster maps `node_port` to, if it is mapped."""
    cluster = yaml.safe_load(kind_config.read_text()) or {}
    for node in cluster.get("nodes") or []:
        for mapping in node.get("extraPortMappings") or []:
            if mapping.get("containerPort") == node_port:
                address = mapping.get("listenAddress") or "127.0.0.1"
                if address == "0.0.0.0":
                    address = "127.0.0.1"
                return f"{address}:{mapping['hostPort']}"
    return None


def host_s3_endpoint(stack_file: Path, kind_config: Path, kind_cluster: bool) -> str | None:
    """The stack's S3 endpoint URL from this machine, or None when it is not published here.

    Args:
        stack_file: The stack's `Pulumi.<stack>.yaml`.
        kind_config: The kind cluster config whose port mappings apply (`kind_cluster` stacks).
        kind_cluster: Whether the stack runs on this kit's kind cluster (`local`, `pr`).
    """
    config = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    target = _setting(config, "target")
    if target == "docker":
        docker = _setting(config, "docker") or {}
        address = docker.get("bindAddress", DOCKER_BIND_ADDRESS)
        if address == "0.0.0.0":
            address = "127.0.0.1"
        return f"http://{address}:{docker.get('s3Port', DOCKER_S3_PORT)}"
    if target == "external":
        external = _setting(config, "externalObjectStore") or {}
        endpoint = external.get("endpointUrl")
        return str(endpoint) if endpoint else None
    if target == "kubernetes" and kind_cluster:
        node_port = (_setting(config, "objectStore") or {}).get("nodePort")
        if node_port is None:
            return None
        host_port = _kind_host_port(kind_config, int(node_port))
        return f"http://{host_port}" if host_port else None
    return None


def main(argv: list[str]) -> int:
    """Print the endpoint (or nothing); exit 2 on wrong arguments."""
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] != "--kind-cluster"):
        print(__doc__, file=sys.stderr)
        return 2
    endpoint = host_s3_endpoint(Path(argv[0]), Path(argv[1]), kind_cluster=len(argv) == 3)
    if endpoint:
        print(endpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
