"""Who may do what on the object store: the platform's root keys, and the flows' own user.

Flow runs execute arbitrary code; the object-store credentials they get (the
`minio-credentials/object-store` block) belong to a user limited to the stack's buckets: read,
write, list and delete objects there, nothing else (no other bucket, no bucket creation or
deletion, no administration). The root keys stay with the platform (bucket creation, backups,
the stack's `s3AccessKey` output for operators). One definition here serves the Kubernetes and
Docker object stores and the tests that run SeaweedFS with it:

- SeaweedFS: an identities file (`-s3.config`) with both users, written from an environment
  variable when the server starts (`seaweedfs_command`).
- MinIO: a policy and a user created with `mc` (in the MinIO image) by a one-shot job
  (`minio_user_script`), run after the server is up, on every `pulumi up` that changes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

FLOWS_USER = "prefect-flows"
"""Name of the flows' identity (SeaweedFS) and policy (MinIO)."""

S3_CONFIG_ENV = "PLATFORM_S3_CONFIG"
"""The SeaweedFS identities file's content, given to its container as a secret variable."""

SEAWEEDFS_CONFIG_PATH = "/tmp/s3.json"
"""Where the SeaweedFS container writes that file before starting."""

_SEAWEEDFS_OBJECT_ACTIONS = ("Read", "Write", "List", "Tagging")
"""Per-bucket actions of the flows' identity (SeaweedFS's action names)."""


def seaweedfs_s3_config(
    root: Sequence[str], flows: Sequence[str], buckets: Sequence[str]
) -> dict[str, Any]:
    """SeaweedFS's S3 identities: `admin` with the root keys, `prefect-flows` limited to buckets.

    Args:
        root: access key and secret key of the admin identity.
        flows: access key and secret key of the flows' identity.
        buckets: the stack's buckets, the only ones the flows' identity may use.
    """
    return {
        "identities": [
            {
                "name": "admin",
                "credentials": [{"accessKey": root[0], "secretKey": root[1]}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            {
                "name": FLOWS_USER,
                "credentials": [{"accessKey": flows[0], "secretKey": flows[1]}],
                "actions": [
                    f"{action}:{bucket}"
                    for bucket in buckets
                    for action in _SEAWEEDFS_OBJECT_ACTIONS
                ],
            },
        ]
    }


def seaweedfs_command(weed_args: Sequence[str]) -> list[str]:
    """A shell command that writes `$PLATFORM_S3_CONFIG` to a file and starts `weed`.

    The file holds both users' keys, so it is never a plain value of any resource: it comes
    from a secret variable and lives in the container's /tmp.
    """
    arguments = " ".join([*weed_args, f"-s3.config={SEAWEEDFS_CONFIG_PATH}"])
    script = (
        f'umask 077 && printf "%s" "${S3_CONFIG_ENV}" > {SEAWEEDFS_CONFIG_PATH} '
        f"&& exec weed {arguments}"
    )
    return ["/bin/sh", "-c", script]


def minio_flows_policy(buckets: Sequence[str]) -> dict[str, Any]:
    """The MinIO (IAM) policy of the flows' user: objects of the stack's buckets only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}" for bucket in buckets],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/*" for bucket in buckets],
            },
        ],
    }


def minio_user_script(buckets: Sequence[str]) -> str:
    """A shell script (MinIO image, `mc`) creating the flows' policy and user; rerunnable.

    Reads `MINIO_ENDPOINT`, `MINIO_ROOT_USER`, `MINIO_ROOT_PASSWORD`, `FLOWS_ACCESS_KEY` and
    `FLOWS_SECRET_KEY` from its environment; prints no key.
    """
    policy = json.dumps(minio_flows_policy(buckets))
    return "\n".join(
        [
            "set -eu",
            "export HOME=/tmp",
            'until mc alias set store "$MINIO_ENDPOINT" "$MINIO_ROOT_USER" '
            '"$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do sleep 2; done',
            f"cat > /tmp/policy.json <<'POLICY'\n{policy}\nPOLICY",
            f"mc admin policy create store {FLOWS_USER} /tmp/policy.json",
            'mc admin user add store "$FLOWS_ACCESS_KEY" "$FLOWS_SECRET_KEY" >/dev/null',
            f'mc admin policy attach store {FLOWS_USER} --user "$FLOWS_ACCESS_KEY" '
            f'|| mc admin user info store "$FLOWS_ACCESS_KEY" | grep -q "{FLOWS_USER}"',
            f'echo "user {FLOWS_USER} limited to: {" ".join(buckets)}"',
        ]
    )


def bucket_script(buckets: Sequence[str]) -> str:
    """A shell script (for the aws-cli image) that creates each bucket unless it exists."""
    lines = [
        f"aws s3api head-bucket --bucket {bucket} 2>/dev/null || "
        f"aws s3api create-bucket --bucket {bucket}"
        for bucket in buckets
    ]
    return "set -e\n" + "\n".join(lines) + "\necho buckets ready\n"
