"""Per-stack overrides: the Pulumi config key ``prefect-platform:overrides``.

The value is a mapping from kind to object name to the fields that differ in
that stack. Overrides are merged into the declarations before validation, so an
overridden value is checked exactly like one written in the file.

Example (``Pulumi.pr.yaml``)::

    config:
      prefect-platform:overrides:
        pools:
          docker-pool: {paused: true}
        queues:
          kubernetes-pool/backfill: {concurrency_limit: 1}
        concurrency_limits:
          database: {limit: 2}
        variables:
          environment: {value: pr}
        automations:
          pause-backfill-on-smoke-failure: {enabled: false}
        deployments:
          smoke/smoke-docker: {paused: true}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, JsonValue, NonNegativeFloat, NonNegativeInt, PositiveInt

from infra.declarations.base import UserModel

OVERRIDES_KEY = "prefect-platform:overrides"


class PoolOverride(UserModel):
    """Fields of a work pool a stack may change."""

    description: str | None = Field(default=None, description="Replaces the description.")
    concurrency_limit: NonNegativeInt | None = Field(default=None, description="Replaces it.")
    paused: bool | None = Field(default=None, description="Replaces paused.")
    job_variables: dict[str, Any] | None = Field(
        default=None, description="Merged over the file's job_variables."
    )
    base_job_template: dict[str, Any] | None = Field(
        default=None, description="Deep-merged over the file's base_job_template."
    )


class QueueOverride(UserModel):
    """Fields of a work queue a stack may change (key: ``<pool>/<queue>``)."""

    description: str | None = Field(default=None, description="Replaces the description.")
    priority: PositiveInt | None = Field(default=None, description="Replaces the priority.")
    concurrency_limit: NonNegativeInt | None = Field(default=None, description="Replaces it.")
    paused: bool | None = Field(default=None, description="Replaces paused.")


class ConcurrencyLimitOverride(UserModel):
    """Fields of a global concurrency limit a stack may change."""

    limit: NonNegativeInt | None = Field(default=None, description="Replaces the limit.")
    active: bool | None = Field(default=None, description="Replaces active.")
    slot_decay_per_second: NonNegativeFloat | None = Field(default=None, description="Replaces it.")


class VariableOverride(UserModel):
    """Fields of a variable a stack may change."""

    value: JsonValue = Field(default=None, description="Replaces the value.")
    tags: list[str] | None = Field(default=None, description="Replaces the tags.")


class AutomationOverride(UserModel):
    """Fields of an automation a stack may change."""

    enabled: bool | None = Field(default=None, description="Replaces enabled.")
    description: str | None = Field(default=None, description="Replaces the description.")


class DeploymentOverride(UserModel):
    """Fields of a deployment a stack may change (key: ``<flow>/<deployment>``)."""

    paused: bool | None = Field(default=None, description="Replaces paused.")
    concurrency_limit: PositiveInt | None = Field(default=None, description="Replaces it.")
    parameters: dict[str, Any] | None = Field(
        default=None, description="Merged over the entry's parameters."
    )
    job_variables: dict[str, Any] | None = Field(
        default=None, description="Merged over the entry's work_pool.job_variables."
    )
    tags: list[str] | None = Field(default=None, description="Replaces the tags.")


class Overrides(UserModel):
    """The value of ``prefect-platform:overrides``: kind -> object name -> changed fields."""

    pools: dict[str, PoolOverride] = Field(default_factory=dict, description="By pool name.")
    queues: dict[str, QueueOverride] = Field(
        default_factory=dict, description="By '<pool>/<queue>'."
    )
    concurrency_limits: dict[str, ConcurrencyLimitOverride] = Field(
        default_factory=dict, description="By limit name."
    )
    variables: dict[str, VariableOverride] = Field(
        default_factory=dict, description="By variable name."
    )
    automations: dict[str, AutomationOverride] = Field(
        default_factory=dict, description="By automation name."
    )
    deployments: dict[str, DeploymentOverride] = Field(
        default_factory=dict, description="By '<flow>/<deployment>'."
    )


def changed_fields(override: UserModel) -> dict[str, Any]:
    """Only the fields the stack set."""
    return override.model_dump(exclude_unset=True)


def read_stack_overrides(path: Path) -> dict[str, Any]:
    """The ``prefect-platform:overrides`` value of a Pulumi stack file (empty if unset).

    Args:
        path: a ``Pulumi.<stack>.yaml`` file.

    Returns:
        The raw mapping, validated later by ``load_declarations``.
    """
    from infra.declarations.yaml_io import read_yaml

    document = read_yaml(path) or {}
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping with a 'config' key")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path}: config: expected a mapping")
    value = config.get(OVERRIDES_KEY, {})
    if isinstance(value, dict) and set(value) == {"value"}:
        value = value["value"]  # `pulumi config set --path` style wrapper
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{path}: config.{OVERRIDES_KEY}: expected a mapping")
    return value
