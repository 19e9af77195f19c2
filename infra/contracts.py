"""The contract between declarations and providers: one typed inputs model per kind.

A declaration builds its kind's model (`WorkPoolDeclaration.provider_inputs()` returns a
`WorkPoolInputs`), `infra/prefect_objects.py` hands it to the resource, and the provider
validates and consumes the same model. Every field is required and passed by keyword, so a
field added on one side only is a type error (mypy, with the pydantic plugin's typed
``__init__``), not a value silently dropped or defaulted. Nothing here does I/O.

Inputs are also what Pulumi stores as outs (`model_dump(mode="json")` plus the provider
version), and what `read` reports, so a declaration and the server's state compare equal when
they mean the same thing.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, Literal

from prefect.events.schemas.automations import AutomationCore
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from infra.references import ACTION_REFERENCES

PoolType = Literal["process", "docker", "kubernetes"]


class InputsModel(BaseModel):
    """Base of the per-kind input models: unknown keys are errors, values are not mutated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def dump(self) -> dict[str, Any]:
        """The inputs as JSON values (what Pulumi stores and the API receives)."""
        return self.model_dump(mode="json")


class WorkPoolInputs(InputsModel):
    """A work pool: identity, settings and its full (merged) base job template."""

    name: str = Field(min_length=1, description="Pool name (its identity).")
    type: PoolType = Field(description="Worker type.")
    description: str | None = Field(description="Shown in the UI.")
    concurrency_limit: int | None = Field(ge=0, description="Max runs at once (None: no limit).")
    paused: bool = Field(description="Whether the pool is paused.")
    base_job_template: dict[str, Any] = Field(description="The full (merged) base job template.")


class WorkQueueInputs(InputsModel):
    """A work queue of a pool, with its resolved priority."""

    pool: str = Field(min_length=1, description="Name of the queue's work pool.")
    name: str = Field(min_length=1, description="Queue name, unique in its pool.")
    description: str | None = Field(description="Shown in the UI.")
    priority: int = Field(ge=1, description="1 is served first.")
    concurrency_limit: int | None = Field(ge=0, description="Max runs at once (None: no limit).")
    paused: bool = Field(description="Whether the queue is paused.")


class GlobalConcurrencyLimitInputs(InputsModel):
    """A global concurrency limit (a rate limit when its slots decay)."""

    name: str = Field(min_length=1, description="Limit name, used by `concurrency(...)`.")
    limit: int = Field(ge=0, description="Slots available.")
    active: bool = Field(description="Whether the limit is enforced.")
    slot_decay_per_second: float = Field(
        ge=0, description="Slots freed per second (a rate limit when > 0)."
    )


class VariableInputs(InputsModel):
    """A Prefect variable."""

    name: str = Field(min_length=1, description="Variable name, read by `Variable.get`.")
    value: JsonValue = Field(description="Any JSON value.")
    tags: list[str] = Field(description="Tags shown in the UI.")


class AutomationInputs(InputsModel):
    """An automation in Prefect's schema, with objects in actions named instead of by id.

    Validation parses it with Prefect's own `AutomationCore` and keeps Prefect's normalized
    form (defaults filled, trigger ids dropped), so a declaration and a read compare equal.
    """

    name: str = Field(min_length=1, description="Automation name.")
    description: str = Field(description="Shown in the UI.")
    enabled: bool = Field(description="Whether it is evaluated.")
    trigger: dict[str, Any] = Field(description="Prefect trigger (event/compound/sequence).")
    actions: list[dict[str, Any]] = Field(description="Actions when it triggers.")
    actions_on_trigger: list[dict[str, Any]] = Field(description="Actions when it triggers.")
    actions_on_resolve: list[dict[str, Any]] = Field(description="Actions when it resolves.")

    @model_validator(mode="before")
    @classmethod
    def _prefect_normalized(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not {"name", "trigger", "actions"} <= data.keys():
            return data  # the field validators report what is missing
        normalized = prefect_automation(data)
        # Keys Prefect does not know stay as written, so that `extra="forbid"` names them.
        return {key: normalized.get(key, value) for key, value in data.items()}


class CronSpec(InputsModel):
    """A cron schedule."""

    cron: str = Field(description="Cron expression.")
    timezone: str | None = Field(default=None, description="IANA timezone; null = server's.")
    day_or: bool = Field(default=True, description="OR (not AND) day-of-month and weekday.")


class IntervalSpec(InputsModel):
    """An interval schedule."""

    interval: float = Field(gt=0, description="Seconds between runs.")
    anchor_date: str | None = Field(default=None, description="ISO date runs align to.")
    timezone: str | None = Field(default=None, description="IANA timezone; null = server's.")

    @field_validator("anchor_date")
    @classmethod
    def _one_spelling(cls, value: str | None) -> str | None:
        # The server answers `...Z` for a declared `...+00:00`: the same instant, not drift.
        if value is None:
            return None
        try:
            return datetime.fromisoformat(value).isoformat()
        except ValueError:
            return value  # the declarations loader reports a malformed date


class RRuleSpec(InputsModel):
    """An RRULE schedule."""

    rrule: str = Field(description="The RRULE string.")
    timezone: str | None = Field(default=None, description="IANA timezone; null = server's.")


class ScheduleInputs(InputsModel):
    """One schedule of a deployment."""

    schedule: CronSpec | IntervalSpec | RRuleSpec = Field(description="When to run.")
    active: bool = Field(description="Whether the schedule creates runs.")
    # Nested nulls have defaults: Pulumi drops null values inside inputs, too.
    slug: str | None = Field(default=None, description="Stable name of the schedule.")
    parameters: dict[str, Any] = Field(description="Run parameters of this schedule.")


class DeploymentInputs(InputsModel):
    """A deployment of a flow, pulled from git by its pull steps."""

    name: str = Field(min_length=1, description="Deployment name (with flow_name, identity).")
    flow_name: str = Field(min_length=1, description="Name of the deployment's flow.")
    entrypoint: str = Field(min_length=1, description="`path/to/file.py:function`.")
    work_pool_name: str = Field(min_length=1, description="Pool whose workers run it.")
    work_queue_name: str | None = Field(description="Queue; null = the pool's default.")
    description: str | None = Field(description="Shown in the UI.")
    version: str | None = Field(description="Deployment version label.")
    tags: list[str] = Field(description="Tags.")
    parameters: dict[str, Any] = Field(description="Default parameters.")
    job_variables: dict[str, Any] = Field(description="Overrides of the pool's job variables.")
    parameter_openapi_schema: dict[str, Any] = Field(description="The flow's parameter schema.")
    enforce_parameter_schema: bool = Field(description="Validate parameters against it.")
    paused: bool = Field(description="Whether schedules are paused.")
    concurrency_limit: int | None = Field(ge=1, description="Max runs at once.")
    schedules: list[ScheduleInputs] = Field(description="Schedules.")
    pull_steps: list[dict[str, Any]] = Field(description="prefect.yaml pull steps.")


class BlockDocumentInputs(InputsModel):
    """A block document (credentials, bucket, secret); `data` may hold secrets and `$ref`s."""

    name: str = Field(min_length=1, description="Document name (with the slug, identity).")
    block_type_slug: str = Field(min_length=1, description="Block type, e.g. `s3-bucket`.")
    data: dict[str, Any] = Field(description="Field values; may hold secrets and $refs.")


# -- automations in Prefect's normalized form ------------------------------------------------

_ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")
_PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"


def _swap_names_for_placeholders(document: dict[str, Any]) -> list[tuple[str, int, str]]:
    """Replace each name reference by a placeholder id; return (list, index, name)."""
    swapped: list[tuple[str, int, str]] = []
    for key in _ACTION_LISTS:
        for index, action in enumerate(document.get(key) or []):
            ref = ACTION_REFERENCES.get(str(action.get("type")))
            if ref and action.get(ref.name_field) is not None:
                swapped.append((key, index, str(action.pop(ref.name_field))))
                action[ref.id_field] = _PLACEHOLDER_ID
    return swapped


def _strip_trigger_ids(trigger: dict[str, Any]) -> dict[str, Any]:
    """Triggers get random ids from Prefect; they are not part of the declaration."""
    trigger.pop("id", None)
    for child in trigger.get("triggers") or []:
        _strip_trigger_ids(child)
    return trigger


def prefect_automation(document: dict[str, Any]) -> dict[str, Any]:
    """Parse with Prefect's own automation model and dump it back, names kept (no I/O).

    Raises:
        ValueError: the document is not a valid Prefect automation.
    """
    document = copy.deepcopy(document)
    swapped = _swap_names_for_placeholders(document)
    try:
        model = AutomationCore.model_validate(document)
    except ValidationError as exc:
        raise ValueError(f"not a valid Prefect automation: {exc}") from None
    dumped = model.model_dump(mode="json", exclude={"tags", "owner_resource"})
    _strip_trigger_ids(dumped["trigger"])
    for key, index, name in swapped:
        action = dumped[key][index]
        ref = ACTION_REFERENCES[action["type"]]
        action.pop(ref.id_field, None)
        action[ref.name_field] = name
    return dict(dumped)
