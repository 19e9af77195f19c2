"""JSON Schemas of the declaration files, generated from the models (``prefect-platform schemas``).

Each YAML file points at its schema with a first-line comment that the YAML
language server (VS Code, JetBrains, Neovim) understands::

    # yaml-language-server: $schema=../schemas/pool.schema.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from infra.declarations.automations import AutomationDeclaration
from infra.declarations.blocks import BlockDeclaration
from infra.declarations.deployments import DeploymentEntry, PrefectYaml
from infra.declarations.limits import ConcurrencyLimitsFile, VariablesFile
from infra.declarations.overrides import Overrides
from infra.declarations.pools import WorkPoolDeclaration
from infra.declarations.webhooks import WebhookDeclaration

DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: Schema file name -> (model, what the file is).
SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "pool.schema.json": (WorkPoolDeclaration, "A work pool file in pools/."),
    "automation.schema.json": (AutomationDeclaration, "An automation file in automations/."),
    "concurrency-limits.schema.json": (ConcurrencyLimitsFile, "concurrency-limits.yaml."),
    "variables.schema.json": (VariablesFile, "variables.yaml."),
    "prefect-yaml.schema.json": (PrefectYaml, "The parts of prefect.yaml the kit reads."),
    "overrides.schema.json": (Overrides, "The value of prefect-platform:overrides."),
    "webhook.schema.json": (WebhookDeclaration, "A webhook endpoint file in webhooks/."),
    "block.schema.json": (BlockDeclaration, "A block document file in blocks/."),
}


def _schema(model: type[BaseModel], description: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation", by_alias=True)
    schema = {"$schema": DRAFT, **schema, "description": description}
    if model is PrefectYaml:
        entry = DeploymentEntry.model_json_schema(mode="validation", ref_template="#/$defs/{model}")
        definitions = entry.pop("$defs", {})
        schema.setdefault("$defs", {}).update(definitions)
        schema["$defs"]["DeploymentEntry"] = entry
        schema["properties"]["deployments"]["items"] = {"$ref": "#/$defs/DeploymentEntry"}
    if model is AutomationDeclaration:
        _add_prefect_automation_schema(schema)
    return schema


def _add_prefect_automation_schema(schema: dict[str, Any]) -> None:
    """Give editors Prefect's own trigger schema and the list of action types."""
    from prefect.events.actions import ActionTypes
    from prefect.events.schemas.automations import TriggerTypes
    from pydantic import TypeAdapter

    trigger = TypeAdapter(TriggerTypes).json_schema(ref_template="#/$defs/{model}")
    schema.setdefault("$defs", {}).update(trigger.pop("$defs", {}))
    schema["properties"]["trigger"] = {
        **trigger,
        "description": schema["properties"]["trigger"]["description"],
    }
    types = sorted(
        action.model_fields["type"].default
        for action in ActionTypes.__args__  # type: ignore[attr-defined]
    )
    action_item = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": types, "description": "Prefect's action type."}},
    }
    for name in ("actions", "actions_on_trigger", "actions_on_resolve"):
        schema["properties"][name]["items"] = action_item


def generate_schemas() -> dict[str, str]:
    """Schema file name -> its JSON text."""
    return {
        name: json.dumps(_schema(model, description), indent=2) + "\n"
        for name, (model, description) in SCHEMAS.items()
    }


def write_schemas(directory: Path) -> list[Path]:
    """Write every schema into ``directory``; return the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate_schemas().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
