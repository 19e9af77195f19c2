"""Checks across kinds: every name an automation gives exists, and no automations form a circle.

Both run after every kind is loaded, on one `LoadContext`, so a reference to a declaration
that already failed is not reported twice.
"""

from __future__ import annotations

from infra.declarations.automations import AutomationDeclaration, Reference
from infra.declarations.context import KIND_LABELS, LoadContext, ObjectKind
from infra.declarations.deployments import DeploymentDeclaration
from infra.declarations.pools import WorkPoolDeclaration


def check_references(
    context: LoadContext,
    references: list[tuple[str, Reference]],
    pools: list[WorkPoolDeclaration],
    automations: list[AutomationDeclaration],
    deployments: list[DeploymentDeclaration],
    blocks: set[str],
) -> None:
    """Each reference (`file`, `Reference`) names a declared object of its kind."""
    known: dict[ObjectKind, set[str]] = {
        "deployment": {deployment.reference for deployment in deployments},
        "work_pool": {pool.name for pool in pools},
        "work_queue": {f"{pool.name}/{queue.name}" for pool in pools for queue in pool.queues}
        | {f"{pool.name}/default" for pool in pools},
        "automation": {automation.name for automation in automations},
        "block_document": blocks,
    }
    where = {
        "deployment": "in prefect.yaml ('<flow name>/<deployment name>')",
        "work_pool": "in pools/",
        "work_queue": "in pools/ ('<pool>/<queue>')",
        "automation": "in automations/",
        "block_document": "in blocks/ or among the blocks the platform provisions "
        "('<type slug>/<name>')",
    }
    for file, reference in references:
        names = known[reference.kind]
        if reference.name not in names and not context.is_broken(reference.kind, reference.name):
            choices = ", ".join(sorted(names)) or "none"
            context.collector.add(
                file,
                reference.field,
                f"no {KIND_LABELS[reference.kind]} named {reference.name!r} "
                f"{where[reference.kind]}; declared: {choices}",
            )


def check_automation_cycles(
    context: LoadContext,
    automations: list[AutomationDeclaration],
    references: list[tuple[str, Reference]],
) -> None:
    """Automations that pause or resume each other in a circle cannot be created in any order
    (each must exist before the one naming it): report each circle once, where it starts."""
    names = {automation.name for automation in automations}
    graph = {a.name: [n for n in a.named_automations() if n in names] for a in automations}
    files = {name: context.files[("automation", name)] for name in graph}
    where = {
        (file, reference.name): reference.field
        for file, reference in references
        if reference.kind == "automation"
    }
    reported: set[frozenset[str]] = set()
    for start in sorted(graph):
        path = _path_back(graph, start)
        if path is None or frozenset(path) in reported:
            continue
        reported.add(frozenset(path))
        circle = " -> ".join([*path, start])
        context.collector.add(
            files[start],
            where.get((files[start], path[1] if len(path) > 1 else start), "actions"),
            f"automations pause or resume each other in a circle, {circle} "
            f"({', '.join(files[name] for name in path)}): none can be created first; "
            "break the circle",
        )


def _path_back(graph: dict[str, list[str]], start: str) -> list[str] | None:
    """A path start -> ... that leads back to start (None when there is none)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for target in graph[node]:
            if target == start:
                return path
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None
