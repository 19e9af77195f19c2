"""Deployment triggers: the ``triggers:`` of a prefect.yaml deployment, as automations.

``prefect deploy`` turns each entry into an automation whose one action runs the
deployment. The kit does the same, with the deployment named instead of given by id,
so each is applied by the automation provider like a file in ``automations/``. Each
entry is checked with Prefect's own ``DeploymentTriggerTypes``, then as an automation.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter, ValidationError

from infra.declarations.automations import (
    AutomationDeclaration,
    check_automation,
    has_metric,
    unknown_fields,
)
from infra.declarations.context import LoadContext
from infra.declarations.deployments import DeploymentEntry, fill_environment
from infra.declarations.errors import is_union_tag, join_field
from infra.declarations.schema_check import schema_errors

#: Fields of a deployment trigger that describe its automation or the run-deployment
#: action, not the trigger itself (Prefect's ``BaseDeploymentTrigger``).
AUTOMATION_FIELDS = ("name", "description", "enabled")
RUN_FIELDS = ("parameters", "job_variables", "schedule_after")


def trigger_automation_name(flow_name: str, deployment: str, position: int) -> str:
    """The name of the automation for a deployment's trigger that gives none (1-based)."""
    return f"{flow_name}:{deployment}:trigger-{position}"


def deployment_trigger(
    raw: Any, deployment: str, default_name: str
) -> tuple[AutomationDeclaration | None, list[tuple[str, str]]]:
    """One entry of a deployment's ``triggers:`` as the automation it stands for.

    Args:
        raw: the entry as written.
        deployment: ``<flow>/<deployment>``, the deployment the action runs.
        default_name: the automation's name when the entry gives none.

    Returns:
        ``(automation, [])``, or ``(None, [(field relative to the entry, message)])``.
    """
    from prefect.events.schemas.deployment_triggers import deployment_trigger_discriminator

    if not isinstance(raw, dict):
        return None, [("", "expected a mapping (one trigger)")]
    if has_metric(raw):
        return None, [("type", "metric triggers are Prefect Cloud only")]
    try:
        model = _trigger_adapter().validate_python(raw)
    except ValidationError as error:
        problems: list[tuple[str, str]] = []
        for detail in error.errors(include_url=False):
            location = [part for part in detail["loc"] if not is_union_tag(part)]
            problems.append((join_field(*location), detail["msg"].removeprefix("Value error, ")))
        return None, problems
    unknown = unknown_fields(raw, model, "")
    if unknown:
        return None, unknown
    trigger = {
        key: value for key, value in raw.items() if key not in (*AUTOMATION_FIELDS, *RUN_FIELDS)
    }
    trigger.setdefault("type", deployment_trigger_discriminator(raw))
    action = {"type": "run-deployment", "source": "selected", "deployment": deployment}
    action.update({key: raw[key] for key in RUN_FIELDS if raw.get(key) is not None})
    document = {
        **{key: raw[key] for key in AUTOMATION_FIELDS if raw.get(key) is not None},
        "trigger": trigger,
        "actions": [action],
    }
    document.setdefault("name", default_name)
    try:
        automation = AutomationDeclaration.model_validate(document)
    except ValidationError as error:
        return None, [
            (join_field(*detail["loc"]), detail["msg"])
            for detail in error.errors(include_url=False)
        ]
    _, _, checked = check_automation(automation)
    if checked:
        return None, [(_entry_field(field), text) for field, text in checked]
    return automation, []


@functools.cache
def _trigger_adapter() -> TypeAdapter[Any]:
    """Prefect's deployment trigger union, built once (building it takes a while)."""
    from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes

    return TypeAdapter(DeploymentTriggerTypes)


def _entry_field(field: str) -> str:
    """A field of the automation made from a deployment trigger, as the entry spells it."""
    for prefix in ("trigger.", "actions[0].", "trigger"):
        if field.startswith(prefix):
            return field.removeprefix(prefix)
    return field


def fill_entry_environment(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[int, Any]]:
    """Fill ``{{ $VAR }}`` placeholders, except in trigger parameters, as ``prefect deploy``
    does: those hold event templates (``{{ event.resource.id }}``) the server renders.

    Returns the filled entry (trigger parameters taken out) and the parameters by position.
    """
    triggers = raw.get("triggers")
    parameters: dict[int, Any] = {}
    if isinstance(triggers, list):
        stripped = []
        for position, trigger in enumerate(triggers):
            if isinstance(trigger, dict) and "parameters" in trigger:
                parameters[position] = trigger["parameters"]
                trigger = {key: value for key, value in trigger.items() if key != "parameters"}
            stripped.append(trigger)
        raw = {**raw, "triggers": stripped}
    return fill_environment(raw), parameters


def restore_parameters(triggers: Any, parameters: dict[int, Any]) -> Any:
    """Put back the trigger parameters `fill_entry_environment` took out."""
    if not isinstance(triggers, list):
        return triggers
    return [
        {**trigger, "parameters": parameters[position]} if position in parameters else trigger
        for position, trigger in enumerate(triggers)
    ]


def load_triggers(
    context: LoadContext,
    file: str,
    where: str,
    entry: DeploymentEntry,
    flow_name: str,
    schema: dict[str, Any],
) -> list[AutomationDeclaration]:
    """Each of ``triggers:`` as the automation ``prefect deploy`` would make of it."""
    automations = []
    for position, raw in enumerate(entry.triggers):
        at = join_field(where, "triggers", position)
        automation, problems = deployment_trigger(
            raw,
            f"{flow_name}/{entry.name}",
            trigger_automation_name(flow_name, entry.name, position + 1),
        )
        for field_name, message in problems:
            context.collector.add(file, join_field(at, field_name), message)
        if automation is None or problems:
            continue
        parameters = raw.get("parameters") or {}
        if entry.enforce_parameter_schema and isinstance(parameters, dict):
            _check_parameters(context, file, join_field(at, "parameters"), parameters, schema)
        # A stack may disable or describe it like a file's automation, by its name.
        changes = context.override("automations", automation.name)
        automations.append(automation.model_copy(update=changes))
    return automations


def _check_parameters(
    context: LoadContext, file: str, at: str, parameters: dict[str, Any], schema: dict[str, Any]
) -> None:
    """Each must be a parameter of the flow; values without a template must match its type
    (the server renders ``{{ event.* }}`` templates when the automation fires)."""
    properties = schema.get("properties", {})
    for name in sorted(set(parameters) - set(properties)):
        context.collector.add(
            file,
            join_field(at, name),
            f"the flow has no parameter {name!r}; its parameters: {sorted(properties)}",
        )
    plain = {
        key: value
        for key, value in parameters.items()
        if key in properties and not (isinstance(value, str) and "{{" in value)
    }
    for path, message in schema_errors(plain, schema):
        context.collector.add(
            file, join_field(at, path), f"does not match the flow's signature: {message}"
        )
