"""Where a stack pulls the flows image from: `prefect-platform:flowsImage`.

Pools and deployments name the flows image by its local name, `FLOWS_IMAGE`
(`infra/components/versions.py`): what `scripts/up.sh` builds and `kind load`s. A cluster
that pulls from a registry (prod, fed by `.github/workflows/deploy.yml`, which pushes to
GHCR) sets `flowsImage` to the registry's reference; every job variable `image` that names
`FLOWS_IMAGE` then names that reference instead. Other images are left as written.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from infra.components.versions import FLOWS_IMAGE
from infra.declarations.deployments import DeploymentDeclaration
from infra.declarations.loader import Declarations
from infra.declarations.pools import WorkPoolDeclaration


def use_flows_image(declarations: Declarations, image: str) -> Declarations:
    """The declarations with `image` wherever a job variable `image` names `FLOWS_IMAGE`."""
    if image == FLOWS_IMAGE:
        return declarations
    return replace(
        declarations,
        work_pools=[_pool(pool, image) for pool in declarations.work_pools],
        deployments=[_deployment(item, image) for item in declarations.deployments],
    )


def _renamed(job_variables: dict[str, Any], image: str) -> dict[str, Any] | None:
    if job_variables.get("image") != FLOWS_IMAGE:
        return None
    return {**job_variables, "image": image}


def _pool(pool: WorkPoolDeclaration, image: str) -> WorkPoolDeclaration:
    renamed = _renamed(pool.job_variables, image)
    return pool if renamed is None else pool.model_copy(update={"job_variables": renamed})


def _deployment(deployment: DeploymentDeclaration, image: str) -> DeploymentDeclaration:
    section = deployment.entry.work_pool
    renamed = _renamed(section.job_variables, image)
    if renamed is None:
        return deployment
    entry = deployment.entry.model_copy(
        update={"work_pool": section.model_copy(update={"job_variables": renamed})}
    )
    return deployment.model_copy(update={"entry": entry})
