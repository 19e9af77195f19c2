"""One container of the Docker target: its image pulled and kept, health-checked, on the network.

`DockerHost` declares each of its services through `container`, so every container gets the
same network, loopback-only published ports, secret environment and health check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker


@dataclass(frozen=True)
class Placement:
    """Where a component's containers go: its parent, name prefix, network and bind address."""

    parent: pulumi.Resource
    """The component the containers belong to."""
    prefix: str
    """Prefix of resource and container names (the component's name)."""
    network: pulumi.Input[str]
    """The private network every container joins."""
    bind_address: str
    """Host address published ports bind to (loopback by default)."""


def container(
    place: Placement,
    role: str,
    image: str,
    *,
    envs: Mapping[str, pulumi.Input[str]],
    health: list[str],
    command: list[str] | None = None,
    volume: tuple[pulumi.Input[str], str] | None = None,
    ports: list[tuple[int, int]] | None = None,
    depends_on: list[pulumi.Resource] | None = None,
    alias: str | None = None,
    mounts: list[docker.ContainerMountArgs] | None = None,
    restart: str = "unless-stopped",
    entrypoint: list[str] | None = None,
    uploads: list[docker.ContainerUploadArgs] | None = None,
) -> docker.Container:
    """Declare the container `<prefix>-<role>` (and its image) under `place.parent`.

    A container with `restart="no"` is a one-shot job: Pulumi does not wait for it to be
    healthy. Its environment is stored as a secret output.
    """
    image_resource = docker.RemoteImage(
        f"{place.prefix}-{role}-image",
        name=image,
        keep_locally=True,
        opts=pulumi.ResourceOptions(parent=place.parent),
    )
    env_list = pulumi.Output.all(*[pulumi.Output.concat(k, "=", v) for k, v in envs.items()])
    return docker.Container(
        f"{place.prefix}-{role}",
        name=f"{place.prefix}-{role}",
        image=image_resource.image_id,
        entrypoints=entrypoint,
        command=command,
        envs=env_list,
        restart=restart,
        must_run=restart != "no",
        networks_advanced=[
            docker.ContainerNetworksAdvancedArgs(
                name=place.network, aliases=[alias or f"{place.prefix}-{role}"]
            )
        ],
        ports=[
            docker.ContainerPortArgs(internal=inner, external=outer, ip=place.bind_address)
            for inner, outer in (ports or [])
        ],
        volumes=(
            [docker.ContainerVolumeArgs(volume_name=volume[0], container_path=volume[1])]
            if volume
            else None
        ),
        mounts=mounts,
        uploads=uploads,
        healthcheck=docker.ContainerHealthcheckArgs(
            tests=health, interval="10s", timeout="5s", retries=6, start_period="20s"
        ),
        wait=restart != "no",
        wait_timeout=300,
        opts=pulumi.ResourceOptions(
            parent=place.parent,
            depends_on=depends_on or [],
            additional_secret_outputs=["envs"],
            # A container's name and host ports are fixed: its replacement (a new image, say)
            # can only start once the old one is gone (create-before-delete would conflict).
            delete_before_replace=True,
        ),
    )
