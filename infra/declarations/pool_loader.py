"""Loading `pools/*.yaml`: one work pool per file, with its queues and its job template."""

from __future__ import annotations

from typing import Any

from infra.declarations.context import LoadContext, yaml_files
from infra.declarations.errors import join_field
from infra.declarations.pools import WorkPoolDeclaration
from infra.declarations.templates import template_problems
from infra.merging import deep_merge

POOLS_DIR = "pools"


def load_pools(context: LoadContext) -> list[WorkPoolDeclaration]:
    """Read, override and check every pool file (template variables included)."""
    pools: list[WorkPoolDeclaration] = []
    for path in yaml_files(context.root / POOLS_DIR):
        file = context.relative(path)
        raw = context.read_mapping(path)
        if raw is None:
            context.mark_broken("work_pool", None)
            continue
        name = raw.get("name")
        changes = context.override("pools", name)
        raw = deep_merge(raw, changes) if changes else raw
        raw = _override_queues(context, raw, name)
        pool: WorkPoolDeclaration | None = context.validate(
            WorkPoolDeclaration, raw, file, overridden=changes
        )
        if pool is None:
            context.mark_broken("work_pool", name)
            continue
        if not context.claim(("work_pool", pool.name), file, file, "name"):
            continue
        before = len(context.collector.issues)
        unknown = pool.unknown_job_variables()
        for key in unknown:
            context.collector.add(
                file,
                join_field("job_variables", key),
                f"the {pool.type} worker's template has no variable {key!r}",
            )
        if not unknown:
            _check_template(context, file, pool, changes)
        if len(context.collector.issues) > before:
            context.mark_broken("work_pool", pool.name)
            continue
        pools.append(pool)
    return pools


def _check_template(
    context: LoadContext, file: str, pool: WorkPoolDeclaration, changes: dict[str, Any]
) -> None:
    overridden = set(changes.get("job_variables") or {})
    for field_name, message in template_problems(pool.type, pool.merged_base_job_template()):
        parts = field_name.split(".")
        if parts[:2] == ["variables", "properties"] and len(parts) > 2:
            if parts[2] in pool.job_variables:
                field_name = join_field("job_variables", *parts[2:3], *parts[4:])
                if parts[2] in overridden:
                    message = f"{message} (set by {context.overrides_source})"
            else:
                field_name = join_field("base_job_template", field_name)
        else:
            field_name = join_field("base_job_template", field_name)
        context.collector.add(file, field_name, message)


def _override_queues(context: LoadContext, raw: dict[str, Any], pool: Any) -> dict[str, Any]:
    queues = raw.get("queues")
    if not isinstance(pool, str) or not isinstance(queues, list):
        return raw
    updated = []
    for queue in queues:
        if isinstance(queue, dict) and isinstance(queue.get("name"), str):
            changes = context.override("queues", f"{pool}/{queue['name']}")
            queue = {**queue, **changes}
        updated.append(queue)
    return {**raw, "queues": updated}
