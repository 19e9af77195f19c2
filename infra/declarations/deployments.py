"""Deployments, read from the ``deployments:`` (and top-level ``pull:``) of ``prefect.yaml``.

The entries use prefect.yaml's own format, so ``prefect deploy`` still works on
the same file. ``{{ $VAR }}`` placeholders are filled from the environment the
way ``prefect deploy`` fills them; ``{{ prefect.blocks.* }}`` and
``{{ prefect.variables.* }}`` are left for the worker to resolve at run time.
The flow name and parameter schema are read from the entrypoint's source
without importing it.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PositiveInt,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from infra.contracts import DeploymentInputs
from infra.declarations.automations import AutomationDeclaration
from infra.declarations.base import Name, UserModel

PULL_STEPS_DESCRIPTION = (
    "Pull steps in prefect.yaml's format, e.g. [{prefect.deployments.steps.git_clone: "
    "{repository: ..., branch: ..., access_token: '{{ prefect.blocks.secret.github-token }}'}}]."
)


class WorkPoolSection(UserModel):
    """The ``work_pool:`` section of a deployment."""

    name: Name = Field(description="A pool declared in pools/.")
    work_queue_name: str | None = Field(
        default=None, description="A queue of that pool (default: the pool's 'default' queue)."
    )
    job_variables: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the pool's job variables, checked against its template.",
    )


class ScheduleDeclaration(UserModel):
    """One entry of ``schedules:``: exactly one of cron, interval or rrule."""

    cron: str | None = Field(default=None, description="Cron expression, e.g. '0 6 * * *'.")
    interval: Annotated[
        datetime.timedelta | None,
        WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}]}),
    ] = Field(default=None, description="Seconds (number), ISO 8601 duration or HH:MM:SS.")
    rrule: str | None = Field(default=None, description="RFC 5545 recurrence rule.")
    timezone: str | None = Field(default=None, description="IANA time zone, e.g. Europe/Paris.")
    anchor_date: str | None = Field(
        default=None, description="Interval schedules only: when the intervals start (ISO 8601)."
    )
    day_or: bool | None = Field(
        default=None, description="Cron only: OR (true, default) or AND the day fields."
    )
    active: bool = Field(default=True, description="An inactive schedule creates no runs.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Parameters for runs of this schedule."
    )
    slug: str | None = Field(default=None, description="Stable identifier of the schedule.")

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> ScheduleDeclaration:
        given = [kind for kind in ("cron", "interval", "rrule") if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"exactly one of cron, interval or rrule is expected, got {given}")
        if self.day_or is not None and self.cron is None:
            raise ValueError("day_or applies to cron schedules only")
        if self.anchor_date is not None and self.interval is None:
            raise ValueError("anchor_date applies to interval schedules only")
        return self

    def contract_schedule(self) -> dict[str, Any]:
        """Validate with Prefect's schedule model; return the contract's ``schedule`` dict.

        Raises:
            pydantic.ValidationError: Prefect rejects the schedule (bad cron, time zone...).
        """
        from prefect.client.schemas.schedules import (
            CronSchedule,
            IntervalSchedule,
            RRuleSchedule,
        )

        if self.cron is not None:
            cron: dict[str, Any] = {"cron": self.cron, "timezone": self.timezone}
            if self.day_or is not None:
                cron["day_or"] = self.day_or
            model = CronSchedule.model_validate(cron)
            return {"cron": model.cron, "timezone": model.timezone, "day_or": model.day_or}
        if self.interval is not None:
            interval: dict[str, Any] = {"interval": self.interval, "timezone": self.timezone}
            if self.anchor_date is not None:
                interval["anchor_date"] = self.anchor_date
            IntervalSchedule.model_validate(interval)
            return {
                "interval": self.interval.total_seconds(),
                "anchor_date": self.anchor_date,
                "timezone": self.timezone,
            }
        rrule = RRuleSchedule.model_validate({"rrule": self.rrule, "timezone": self.timezone})
        return {"rrule": rrule.rrule, "timezone": self.timezone}


class DeploymentEntry(UserModel):
    """One entry of ``deployments:`` in prefect.yaml."""

    name: Name = Field(description="Deployment name; unique per flow.")
    entrypoint: str = Field(
        description="'<path to .py file from the repository root>:<flow function>'.",
        pattern=r"^[^:]+\.py:[A-Za-z_][\w.]*$",
    )
    flow_name: str | None = Field(
        default=None, description="Optional; if given it must equal the flow's name in the source."
    )
    description: str | None = Field(default=None, description="Free text shown in the UI.")
    version: str | None = Field(default=None, description="Version label.")
    tags: list[str] = Field(default_factory=list, description="Tags of the deployment.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Default parameters, checked against the flow."
    )
    work_pool: WorkPoolSection = Field(description="Where the deployment's runs go.")
    schedules: list[ScheduleDeclaration] = Field(
        default_factory=list, description="Cron, interval or rrule schedules."
    )
    paused: bool = Field(default=False, description="A paused deployment schedules no runs.")
    concurrency_limit: PositiveInt | None = Field(
        default=None,
        description="Most runs of this deployment at once, 1 or more (none: no limit).",
    )
    enforce_parameter_schema: bool = Field(
        default=True, description="Reject runs whose parameters do not match the flow signature."
    )
    pull: list[dict[str, Any]] | None = Field(
        default=None,
        description="Pull steps of this deployment (replaces the top-level pull). "
        + PULL_STEPS_DESCRIPTION,
    )
    triggers: list[Any] = Field(
        default_factory=list,
        description="Prefect's deployment triggers: each becomes an automation that runs this "
        "deployment, named '<flow>:<deployment>:trigger-<n>' unless it gives a name.",
    )
    build: None = Field(default=None, description="Must be null: the kit builds nothing.")
    push: None = Field(default=None, description="Must be null: code comes from git.")

    @field_validator("build", "push", mode="before")
    @classmethod
    def _nothing_to_build(cls, value: Any) -> None:
        return _no_build_or_push(value)


class PrefectYaml(UserModel):
    """The parts of prefect.yaml the kit reads."""

    name: str | None = Field(default=None, description="Project name (informational).")
    prefect_version: str | None = Field(
        default=None, alias="prefect-version", description="Prefect version (informational)."
    )
    definitions: Any = Field(default=None, description="Free space for YAML anchors.")
    build: None = Field(default=None, description="Must be null: the kit builds nothing.")
    push: None = Field(default=None, description="Must be null: code comes from git.")

    @field_validator("build", "push", mode="before")
    @classmethod
    def _nothing_to_build(cls, value: Any) -> None:
        return _no_build_or_push(value)

    pull: list[dict[str, Any]] | None = Field(
        default=None, description="Default pull steps. " + PULL_STEPS_DESCRIPTION
    )
    deployments: list[dict[str, Any]] = Field(
        default_factory=list, description="Deployments (see DeploymentEntry)."
    )


class DeploymentDeclaration(UserModel):
    """A deployment with everything read from its flow's source, as applied."""

    entry: DeploymentEntry = Field(description="The prefect.yaml entry, env placeholders filled.")
    flow_name: str = Field(description="The flow's name, read from the entrypoint's source.")
    parameter_openapi_schema: dict[str, Any] = Field(description="From the flow's signature.")
    pull_steps: list[dict[str, Any]] = Field(description="Effective pull steps.")
    schedules: list[dict[str, Any]] = Field(description="Schedules in the contract's shape.")
    triggers: list[AutomationDeclaration] = Field(
        default_factory=list, description="The automations its `triggers:` stand for."
    )

    @property
    def reference(self) -> str:
        """``<flow name>/<deployment name>``, as automations name it."""
        return f"{self.flow_name}/{self.entry.name}"

    def provider_inputs(self) -> DeploymentInputs:
        """The Deployment provider's inputs (`infra/contracts.py`)."""
        entry = self.entry
        return DeploymentInputs(
            name=entry.name,
            flow_name=self.flow_name,
            entrypoint=entry.entrypoint,
            work_pool_name=entry.work_pool.name,
            work_queue_name=entry.work_pool.work_queue_name,
            description=entry.description,
            version=entry.version,
            tags=list(entry.tags),
            parameters=dict(entry.parameters),
            job_variables=dict(entry.work_pool.job_variables),
            parameter_openapi_schema=self.parameter_openapi_schema,
            enforce_parameter_schema=entry.enforce_parameter_schema,
            paused=entry.paused,
            concurrency_limit=entry.concurrency_limit,
            schedules=self.schedules,
            pull_steps=self.pull_steps,
        )


def _no_build_or_push(value: Any) -> None:
    if value not in (None, [], {}):
        raise ValueError(
            "the kit builds and pushes nothing (flow code comes from git by the pull steps): "
            "use null"
        )
    return None


def fill_environment(value: Any) -> Any:
    """Fill ``{{ $VAR }}`` placeholders from the environment, as ``prefect deploy`` does."""
    from prefect.utilities.templating import apply_values

    return apply_values(value, {}, remove_notset=False)


def unresolved_environment(value: Any) -> set[str]:
    """Names of ``{{ $VAR }}`` placeholders still present (their variable is not set)."""
    from prefect.utilities.templating import PlaceholderType, find_placeholders

    return {
        placeholder.name.lstrip("$")
        for placeholder in find_placeholders(value)
        if placeholder.type is PlaceholderType.ENV_VAR
    }


def check_pull_steps(steps: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Each step is a one-key mapping: the step function's import path -> its keyword args.

    No argument may be an http(s) URL with credentials in it (``https://user:token@...``):
    the deployment would store them in plain text, and every run would log the URL. The
    message does not repeat the value.
    """
    problems = []
    for index, step in enumerate(steps):
        keys = list(step)
        if len(keys) != 1 or "." not in keys[0] or not isinstance(step[keys[0]], dict | None):
            problems.append(
                (
                    f"[{index}]",
                    "expected one mapping '<module.function>: {keyword: value}', e.g. "
                    "'prefect.deployments.steps.git_clone: {repository: ...}'",
                )
            )
            continue
        for argument, value in (step[keys[0]] or {}).items():
            if _has_credentials(value):
                problems.append(
                    (
                        f"[{index}].{keys[0]}.{argument}",
                        "a URL with credentials in it (user:token@) would be stored in the "
                        "deployment in plain text; give the URL without them and the token as "
                        "access_token: '{{ prefect.blocks.secret.<name> }}'",
                    )
                )
    return problems


def _has_credentials(value: Any) -> bool:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        return False
    parts = urlsplit(value)
    return bool(parts.username or parts.password)


def schedule_problem_field(error: ValidationError) -> list[tuple[str, str]]:
    """Turn Prefect's schedule validation error into ``(field, message)`` pairs."""
    return [
        (
            ".".join(str(part) for part in detail["loc"]),
            detail["msg"].removeprefix("Value error, "),
        )
        for detail in error.errors(include_url=False)
    ]
