"""The Docker target's object store: the S3 server container, its buckets and the flows' user.

MinIO or SeaweedFS on the platform's network, with the two users of `store_access.py`: the
root keys create the buckets (a one-shot AWS CLI container); the flows' keys, limited to those
buckets, are what flow runs get. MinIO's flows user is created by a one-shot container of the
MinIO image (`mc`); SeaweedFS reads both users from its identities file at start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_docker as docker

from infra.components.docker_container import Placement, container
from infra.components.store_access import (
    S3_CONFIG_ENV,
    bucket_script,
    minio_user_script,
    seaweedfs_command,
    seaweedfs_s3_config,
)
from infra.components.versions import (
    AWS_CLI_IMAGE,
    MINIO_IMAGE,
    MINIO_TAG,
    SEAWEEDFS_IMAGE,
    SEAWEEDFS_TAG,
)

OBJECT_STORE_HOST = "object-store"
"""Host name of the S3 server on the private network (port 9000)."""


@dataclass(frozen=True)
class StoreKeys:
    """The object store's two users' keys (Pulumi secrets)."""

    access_key: pulumi.Output[str]
    """Root access key."""
    secret_key: pulumi.Output[str]
    """Root secret key."""
    flows_access_key: pulumi.Output[str]
    """Access key of the flows' user (the stack's buckets only)."""
    flows_secret_key: pulumi.Output[str]
    """Its secret key."""


def object_store(
    place: Placement,
    kind: Literal["minio", "seaweedfs"],
    tag: str | None,
    volume: pulumi.Output[str],
    port: int,
    buckets: tuple[str, ...],
    keys: StoreKeys,
) -> docker.Container:
    """Declare the S3 server, the job creating `buckets` and the flows' user; return the server."""
    endpoint = f"http://{OBJECT_STORE_HOST}:9000"
    entrypoint: list[str] | None = None
    if kind == "minio":
        image = f"{MINIO_IMAGE}:{tag or MINIO_TAG}"
        command = ["server", "/data", "--address", ":9000", "--console-address", ":9001"]
        envs = {"MINIO_ROOT_USER": keys.access_key, "MINIO_ROOT_PASSWORD": keys.secret_key}
        health = ["CMD", "mc", "ready", "local"]
    else:
        image = f"{SEAWEEDFS_IMAGE}:{tag or SEAWEEDFS_TAG}"
        *entry, script = seaweedfs_command(["mini", "-dir=/data", "-s3.port=9000"])
        entrypoint, command = entry, [script]
        identities = pulumi.Output.all(
            keys.access_key, keys.secret_key, keys.flows_access_key, keys.flows_secret_key
        ).apply(lambda k: json.dumps(seaweedfs_s3_config(k[:2], k[2:], buckets)))
        envs = {S3_CONFIG_ENV: identities}
        health = ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:9000/ || [ $? -eq 8 ]"]
    store = container(
        place,
        "object-store",
        image,
        command=command,
        envs=envs,
        volume=(volume, "/data"),
        ports=[(9000, port)],
        health=health,
        alias=OBJECT_STORE_HOST,
        entrypoint=entrypoint,
    )
    _one_shot(
        place,
        "create-buckets",
        AWS_CLI_IMAGE,
        bucket_script(buckets),
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": keys.access_key,
            "AWS_SECRET_ACCESS_KEY": keys.secret_key,
        },
        store,
    )
    if kind == "minio":
        _one_shot(
            place,
            "flows-user",
            image,
            minio_user_script(buckets),
            {
                "MINIO_ENDPOINT": endpoint,
                "MINIO_ROOT_USER": keys.access_key,
                "MINIO_ROOT_PASSWORD": keys.secret_key,
                "FLOWS_ACCESS_KEY": keys.flows_access_key,
                "FLOWS_SECRET_KEY": keys.flows_secret_key,
            },
            store,
        )
    return store


def _one_shot(
    place: Placement,
    role: str,
    image: str,
    script: str,
    envs: dict[str, pulumi.Input[str]],
    store: docker.Container,
) -> docker.Container:
    """A container that runs `script` with `sh` once the store is up, then exits."""
    return container(
        place,
        role,
        image,
        command=["-c", script],
        envs=envs,
        health=["NONE"],
        depends_on=[store],
        restart="no",
        entrypoint=["/bin/sh"],
    )
