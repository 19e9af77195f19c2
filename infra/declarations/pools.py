"""Work pools and their queues (``pools/*.yaml``, one pool per file)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator

from infra.contracts import WorkPoolInputs, WorkQueueInputs
from infra.declarations.base import Name, UserModel
from infra.declarations.templates import PoolType, default_base_job_template
from infra.merging import deep_merge

POOL_FIXED_VARIABLES: dict[str, tuple[str, ...]] = {
    "kubernetes": ("service_account_name",),
    "docker": ("privileged", "volumes", "container_create_kwargs", "network_mode", "networks"),
}
"""Job variables a pool fixes for every run of every deployment, by pool type.

Each is a way out of the run's sandbox if a deployment or a run could choose it: a Kubernetes
service account (any account of the namespace, the worker's own included); on Docker a
privileged container, host paths mounted (the Docker socket, `/`), any `docker create` argument
(capabilities, the host's PID namespace, devices) and the host's or another network. The merged
template writes the pool's value into the job configuration and drops the variable, so a
per-deployment value is a validate error and a per-run value has nothing to fill
(docs/security.md).
"""


class QueueDeclaration(UserModel):
    """A work queue as written inside a pool file."""

    name: Name = Field(description="Queue name, unique within the pool.")
    description: str | None = Field(default=None, description="Free text shown in the UI.")
    priority: PositiveInt | None = Field(
        default=None,
        description=(
            "1 is the highest. Unique within the pool; when omitted, the lowest number not "
            "taken by another queue of the pool, in file order."
        ),
    )
    concurrency_limit: NonNegativeInt | None = Field(
        default=None, description="Most flow runs of this queue running at once (none: no limit)."
    )
    paused: bool = Field(default=False, description="A paused queue hands out no runs.")


class WorkQueueDeclaration(QueueDeclaration):
    """A work queue with its pool and its resolved priority, as applied."""

    pool: Name = Field(description="The pool the queue belongs to.")
    priority: PositiveInt = Field(description="Resolved priority.")

    def provider_inputs(self) -> WorkQueueInputs:
        """The WorkQueue provider's inputs (`infra/contracts.py`)."""
        return WorkQueueInputs(
            pool=self.pool,
            name=self.name,
            description=self.description,
            priority=self.priority,
            concurrency_limit=self.concurrency_limit,
            paused=self.paused,
        )


class WorkPoolDeclaration(UserModel):
    """One work pool file in ``pools/``."""

    name: Name = Field(description="Work pool name, unique across pools/.")
    type: PoolType = Field(description="Worker type: process, docker or kubernetes.")
    description: str | None = Field(default=None, description="Free text shown in the UI.")
    concurrency_limit: NonNegativeInt | None = Field(
        default=None, description="Most flow runs of the pool running at once (none: no limit)."
    )
    paused: bool = Field(default=False, description="A paused pool hands out no runs.")
    job_variables: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Defaults for the worker's job variables (image, namespace, env...): each sets "
            "variables.properties.<name>.default in the base job template."
        ),
    )
    base_job_template: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Overrides deep-merged over the worker type's default base job template "
            "(keys job_configuration and variables); mappings merge, other values replace."
        ),
    )
    queues: list[QueueDeclaration] = Field(
        default_factory=list,
        description="Work queues of the pool. 'default' exists anyway; declare it to set it.",
    )

    @field_validator("queues")
    @classmethod
    def _queues_are_unique(cls, queues: list[QueueDeclaration]) -> list[QueueDeclaration]:
        names = [queue.name for queue in queues]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate queue name(s) {duplicates}")
        priorities = [queue.priority for queue in queues if queue.priority is not None]
        taken = sorted({p for p in priorities if priorities.count(p) > 1})
        if taken:
            raise ValueError(f"priority used by more than one queue: {taken}")
        return queues

    def merged_base_job_template(self) -> dict[str, Any]:
        """The worker type's default template with this file's overrides merged on top."""
        template: dict[str, Any] = deep_merge(
            default_base_job_template(self.type), self.base_job_template
        )
        properties = _properties(template)
        for key, value in self.job_variables.items():
            if isinstance(properties.get(key), dict):
                properties[key] = {**properties[key], "default": value}
        for spec in properties.values():
            # The server drops null defaults; keeping them would read back as drift.
            if isinstance(spec, dict) and "default" in spec and spec["default"] is None:
                del spec["default"]
        for variable in POOL_FIXED_VARIABLES.get(self.type, ()):
            _fix_variable(template, variable)
        return template

    def unknown_job_variables(self) -> list[str]:
        """Job variable names the merged template does not declare (nor fixes)."""
        known = set(_properties(self.merged_base_job_template()))
        known.update(POOL_FIXED_VARIABLES.get(self.type, ()))
        return sorted(key for key in self.job_variables if key not in known)

    def work_queues(self) -> list[WorkQueueDeclaration]:
        """The pool's queues with the pool name and a resolved priority."""
        taken = {queue.priority for queue in self.queues if queue.priority is not None}
        resolved: list[WorkQueueDeclaration] = []
        next_free = 1
        for queue in self.queues:
            priority = queue.priority
            if priority is None:
                while next_free in taken:
                    next_free += 1
                priority = next_free
                taken.add(priority)
            resolved.append(
                WorkQueueDeclaration(**{**queue.model_dump(), "priority": priority}, pool=self.name)
            )
        return resolved

    def provider_inputs(self) -> WorkPoolInputs:
        """The WorkPool provider's inputs (`infra/contracts.py`), template fully merged."""
        return WorkPoolInputs(
            name=self.name,
            type=self.type,
            description=self.description,
            concurrency_limit=self.concurrency_limit,
            paused=self.paused,
            base_job_template=self.merged_base_job_template(),
        )


def _properties(template: dict[str, Any]) -> dict[str, Any]:
    """The template's ``variables.properties`` mapping (empty if the template is malformed)."""
    variables = template.get("variables")
    properties = variables.get("properties") if isinstance(variables, dict) else None
    return properties if isinstance(properties, dict) else {}


def _fix_variable(template: dict[str, Any], variable: str) -> None:
    """Write the variable's default where the job configuration names it; drop the variable."""
    spec = _properties(template).pop(variable, None)
    if spec is None:
        return
    required = template["variables"].get("required")
    if isinstance(required, list) and variable in required:
        required.remove(variable)
    value = spec.get("default") if isinstance(spec, dict) else None
    template["job_configuration"] = _filled(
        template.get("job_configuration"), "{{ " + variable + " }}", value
    )


def _filled(value: Any, placeholder: str, replacement: Any) -> Any:
    """`value` with each string equal to `placeholder` replaced; a key left without one goes,
    as Prefect drops a placeholder whose variable has no value."""
    if isinstance(value, dict):
        filled = {key: _filled(item, placeholder, replacement) for key, item in value.items()}
        if replacement is None:
            return {key: item for key, item in filled.items() if value[key] != placeholder}
        return filled
    if isinstance(value, list):
        return [_filled(item, placeholder, replacement) for item in value]
    return replacement if value == placeholder else value
