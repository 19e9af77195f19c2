"""S3 storage through prefect-aws: `S3Bucket` with `MinIOCredentials`.

Demonstrates: the flow loads an `S3Bucket` block (whose credentials are a
`MinIOCredentials` block, so any S3 API works: MinIO, SeaweedFS, AWS), writes an export object
with it, and persists a task result into the same bucket as remote result storage.
The block name is a parameter; the platform provisions `s3-bucket/results`.

Run it:
    python -m flows.data.s3_storage   # after saving an S3Bucket block named "results"
"""

import json
from typing import cast

from prefect import flow, task
from prefect_aws import S3Bucket


@task
def build_export(day: str) -> list[dict[str, int | str]]:
    """Deterministic rows to export."""
    return [{"day": day, "region": region, "orders": len(region)} for region in ("n", "se")]


@flow(name="s3-export")
def s3_export(bucket_block: str = "results", day: str = "2026-01-01") -> str:
    """Write the day's export to S3 and persist a summary result there too."""
    # Block.load dispatches sync/async; in a sync flow it returns the block itself.
    bucket = cast(S3Bucket, S3Bucket.load(bucket_block))
    rows = build_export(day)
    key = bucket.write_path(f"exports/{day}.json", json.dumps(rows).encode())
    summarise = _summary.with_options(
        result_storage=bucket, result_storage_key=f"results/summary-{day}.json"
    )
    summarise(rows)
    return str(key)


@task(persist_result=True, result_serializer="json")
def _summary(rows: list[dict[str, int | str]]) -> dict[str, int]:
    """Summarise the export; persisted to the bucket by `s3_export`."""
    return {"rows": len(rows), "orders": sum(int(row["orders"]) for row in rows)}


if __name__ == "__main__":
    print(s3_export())
