"""Loading the deployments of prefect.yaml, checked against the flows and the pools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from infra.declarations.context import LoadContext
from infra.declarations.deployment_triggers import (
    fill_entry_environment,
    load_triggers,
    restore_parameters,
)
from infra.declarations.deployments import (
    DeploymentDeclaration,
    DeploymentEntry,
    PrefectYaml,
    check_pull_steps,
    fill_environment,
    schedule_problem_field,
    unresolved_environment,
)
from infra.declarations.errors import join_field
from infra.declarations.flow_source import read_flow
from infra.declarations.pools import POOL_FIXED_VARIABLES, WorkPoolDeclaration
from infra.declarations.schema_check import schema_errors
from infra.merging import deep_merge

PREFECT_YAML = "prefect.yaml"


def load_deployments(
    context: LoadContext, path: Path, pools: list[WorkPoolDeclaration]
) -> list[DeploymentDeclaration]:
    """Read and check every entry of ``deployments:`` (no prefect.yaml: no deployments)."""
    if not path.exists():
        return []
    raw = context.read_mapping(path)
    file = context.relative(path)
    document: PrefectYaml | None = None
    if raw is not None:
        document = context.validate(PrefectYaml, raw, file)
    if document is None:
        context.mark_broken("deployment", None)
        return []
    default_pull = fill_environment(document.pull or [])
    for field_name, message in check_pull_steps(default_pull):
        context.collector.add(file, f"pull{field_name}", message)
    # Each pool's variables schema, computed once for all the deployments that use it.
    pools_by_name = {
        pool.name: (pool, pool.merged_base_job_template().get("variables", {})) for pool in pools
    }
    deployments: list[DeploymentDeclaration] = []
    for index, entry in enumerate(document.deployments):
        deployment = _load_entry(context, file, index, entry, default_pull, pools_by_name)
        if deployment is None and isinstance(entry, dict):
            name = entry.get("name")
            context.broken_deployment_names.add(name if isinstance(name, str) else "*")
        if deployment is not None and context.claim(
            ("deployment", deployment.reference),
            f"{file}#deployments[{index}]",
            file,
            join_field("deployments", index, "name"),
        ):
            deployments.append(_claim_triggers(context, file, index, deployment))
    return deployments


def _claim_triggers(
    context: LoadContext, file: str, index: int, deployment: DeploymentDeclaration
) -> DeploymentDeclaration:
    """Trigger automations share the automations' names: a duplicate is an error."""
    kept = [
        automation
        for position, automation in enumerate(deployment.triggers)
        if context.claim(
            ("automation", automation.name),
            f"{file}#deployments[{index}].triggers[{position}]",
            file,
            join_field("deployments", index, "triggers", position, "name"),
        )
    ]
    return deployment.model_copy(update={"triggers": kept})


def _load_entry(
    context: LoadContext,
    file: str,
    index: int,
    raw: Any,
    default_pull: list[dict[str, Any]],
    pools: dict[str, tuple[WorkPoolDeclaration, dict[str, Any]]],
) -> DeploymentDeclaration | None:
    collector = context.collector
    where = join_field("deployments", index)
    if not isinstance(raw, dict):
        collector.add(file, where, "expected a mapping (one deployment)")
        return None
    raw, trigger_parameters = fill_entry_environment(raw)
    missing_env = False
    for key, value in raw.items():
        if key == "pull":
            continue
        for variable in sorted(unresolved_environment(value)):
            collector.add(
                file, join_field(where, key), f"environment variable {variable} is not set"
            )
            missing_env = True
    entrypoint = raw.get("entrypoint")
    flow_name: str | None = None
    schema: dict[str, Any] = {}
    if isinstance(entrypoint, str) and ":" in entrypoint and not missing_env:
        try:
            flow_name, schema = read_flow(context.root, entrypoint)
        except ValueError as error:
            collector.add(file, join_field(where, "entrypoint"), str(error))
    overridden: dict[str, Any] = {}
    if flow_name is not None:
        overridden = context.override("deployments", f"{flow_name}/{raw.get('name')}")
        raw = _apply_override(raw, overridden)
    if trigger_parameters:
        raw = {**raw, "triggers": restore_parameters(raw.get("triggers"), trigger_parameters)}
    entry: DeploymentEntry | None = context.validate(
        DeploymentEntry, raw, file, prefix=("deployments", index), overridden=overridden
    )
    if entry is None or flow_name is None or missing_env:
        return None
    before = len(collector.issues)
    if entry.flow_name is not None and entry.flow_name != flow_name:
        collector.add(
            file,
            join_field(where, "flow_name"),
            f"{entry.flow_name!r} does not match the flow's name in the source, {flow_name!r}",
        )
    schedules = _schedules(context, file, where, entry)
    pull_steps = entry.pull if entry.pull is not None else default_pull
    if entry.pull is not None:
        for field_name, message in check_pull_steps(entry.pull):
            collector.add(file, join_field(where, "pull") + field_name, message)
    if entry.enforce_parameter_schema:
        _check_parameters(context, file, where, entry.parameters, schema)
    _check_pool(context, file, where, entry, pools)
    triggers = load_triggers(context, file, where, entry, flow_name, schema)
    if len(collector.issues) > before:
        return None
    return DeploymentDeclaration(
        entry=entry,
        flow_name=flow_name,
        parameter_openapi_schema=schema,
        pull_steps=pull_steps,
        schedules=schedules,
        triggers=triggers,
    )


def _apply_override(raw: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(raw)
    for key, value in changes.items():
        if key == "parameters":
            merged["parameters"] = {**(raw.get("parameters") or {}), **value}
        elif key == "job_variables":
            work_pool = dict(raw.get("work_pool") or {})
            work_pool["job_variables"] = deep_merge(work_pool.get("job_variables") or {}, value)
            merged["work_pool"] = work_pool
        else:
            merged[key] = value
    return merged


def _schedules(
    context: LoadContext, file: str, where: str, entry: DeploymentEntry
) -> list[dict[str, Any]]:
    schedules = []
    for position, schedule in enumerate(entry.schedules):
        try:
            contract = schedule.contract_schedule()
        except ValidationError as error:
            for field_name, message in schedule_problem_field(error):
                context.collector.add(
                    file, join_field(where, "schedules", position, field_name), message
                )
            continue
        schedules.append(
            {
                "schedule": contract,
                "active": schedule.active,
                "slug": schedule.slug,
                "parameters": dict(schedule.parameters),
            }
        )
    return schedules


def _check_parameters(
    context: LoadContext, file: str, where: str, parameters: dict[str, Any], schema: dict[str, Any]
) -> None:
    properties = schema.get("properties", {})
    for name in sorted(set(parameters) - set(properties)):
        context.collector.add(
            file,
            join_field(where, "parameters", name),
            f"the flow has no parameter {name!r}; its parameters: {sorted(properties)}",
        )
    for path, message in schema_errors(parameters, schema):
        context.collector.add(
            file,
            join_field(where, "parameters", path),
            f"does not match the flow's signature: {message}",
        )


def _check_pool(
    context: LoadContext,
    file: str,
    where: str,
    entry: DeploymentEntry,
    pools: dict[str, tuple[WorkPoolDeclaration, dict[str, Any]]],
) -> None:
    section = entry.work_pool
    if context.is_broken("work_pool", section.name):
        return  # the pool's own file is reported already
    if section.name not in pools:
        context.collector.add(
            file,
            join_field(where, "work_pool", "name"),
            f"no work pool named {section.name!r} in pools/; declared: "
            + (", ".join(sorted(pools)) or "none"),
        )
        return
    pool, variables = pools[section.name]
    queues = {queue.name for queue in pool.queues} | {"default"}
    if section.work_queue_name is not None and section.work_queue_name not in queues:
        context.collector.add(
            file,
            join_field(where, "work_pool", "work_queue_name"),
            f"pool {pool.name!r} has no queue {section.work_queue_name!r}; "
            f"its queues: {', '.join(sorted(queues))}",
        )
    properties = variables.get("properties", {})
    fixed = POOL_FIXED_VARIABLES.get(pool.type, ())
    for name in sorted(set(section.job_variables) - set(properties)):
        message = (
            f"the {pool.type} worker's template of pool {pool.name!r} has no variable {name!r}"
        )
        if name in fixed:
            message = f"fixed by pool {pool.name!r} for every run: a deployment cannot choose it"
        context.collector.add(file, join_field(where, "work_pool", "job_variables", name), message)
    known = {key: value for key, value in section.job_variables.items() if key in properties}
    for path, message in schema_errors(known, variables):
        context.collector.add(
            file,
            join_field(where, "work_pool", "job_variables", path),
            f"rejected by the template of pool {pool.name!r}: {message}",
        )
