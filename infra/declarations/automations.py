"""Automations (``automations/*.yaml``, one per file) in Prefect's own automation schema.

The file is the document ``prefect automation create --from-file`` accepts, except
that actions name the deployment, pool, queue, automation or block they act on
(see ``infra/references.py``) instead of giving its id. Validation substitutes a
placeholder id for each name and runs Prefect's ``AutomationCore`` model, then
reports any field Prefect's models would silently ignore.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, RootModel, ValidationError

from infra.contracts import AutomationInputs
from infra.declarations.base import Name, UserModel
from infra.declarations.errors import is_union_tag, join_field
from infra.references import ACTION_REFERENCES, ReferenceKind

ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")
CLOUD_ONLY_ACTIONS = {"declare-incident"}
_SET_FIELDS = {"after", "expect", "for_each"}


class AutomationDeclaration(UserModel):
    """One automation file in ``automations/``."""

    name: Name = Field(description="Automation name, unique across automations/.")
    description: str = Field(default="", description="Free text shown in the UI.")
    enabled: bool = Field(default=True, description="A disabled automation is not evaluated.")
    trigger: dict[str, Any] = Field(
        description=(
            "Prefect's trigger schema: an event trigger (type: event), or a compound "
            "(type: compound, require) or sequence (type: sequence) of triggers. Metric "
            "triggers are Prefect Cloud only."
        )
    )
    actions: list[dict[str, Any]] = Field(
        min_length=1,
        description=(
            "Prefect's action schema; objects are named, not given by id: deployment "
            "'<flow>/<deployment>', work_pool '<pool>', work_queue '<pool>/<queue>', "
            "automation '<name>', block_document '<block type slug>/<name>'."
        ),
    )
    actions_on_trigger: list[dict[str, Any]] = Field(
        default_factory=list, description="Actions run when the automation enters Triggered."
    )
    actions_on_resolve: list[dict[str, Any]] = Field(
        default_factory=list, description="Actions run when the automation resolves."
    )

    def named_objects(self) -> list[tuple[ReferenceKind, str]]:
        """`(kind, name)` of every object this one's actions name, once each, in file order."""
        named: list[tuple[ReferenceKind, str]] = []
        for list_name in ACTION_LISTS:
            for action in getattr(self, list_name):
                reference = ACTION_REFERENCES.get(str(action.get("type")))
                if reference is None or not isinstance(action.get(reference.name_field), str):
                    continue
                target = (reference.kind, action[reference.name_field])
                if target not in named:
                    named.append(target)
        return named

    def named_automations(self) -> list[str]:
        """The automations this one's actions pause or resume, by name, in file order."""
        return [name for kind, name in self.named_objects() if kind == "automation"]

    def provider_inputs(self) -> AutomationInputs:
        """The Automation provider's inputs (`infra/contracts.py`), Prefect's normalized form."""
        normalized, _, problems = check_automation(self)
        if problems:
            raise ValueError(f"automation {self.name!r} is not valid: {problems[0]}")
        return AutomationInputs(
            name=normalized["name"],
            description=normalized["description"],
            enabled=normalized["enabled"],
            trigger=normalized["trigger"],
            actions=normalized["actions"],
            actions_on_trigger=normalized["actions_on_trigger"],
            actions_on_resolve=normalized["actions_on_resolve"],
        )


@dataclass(frozen=True)
class Reference:
    """A name an action points at, and where it was written."""

    kind: ReferenceKind
    name: str
    field: str


def check_automation(
    declaration: AutomationDeclaration,
) -> tuple[dict[str, Any], list[Reference], list[tuple[str, str]]]:
    """Validate with Prefect's models; return normalized inputs, references, problems.

    Args:
        declaration: the automation as read from its file.

    Returns:
        ``(provider inputs, name references, [(field, message)])``.
    """
    from prefect.events.schemas.automations import AutomationCore

    problems: list[tuple[str, str]] = []
    references: list[Reference] = []
    document: dict[str, Any] = {"name": declaration.name, "trigger": declaration.trigger}
    substituted: dict[str, dict[int, str]] = {}
    for list_name in ACTION_LISTS:
        actions = []
        for index, action in enumerate(getattr(declaration, list_name)):
            action = dict(action)
            where = join_field(list_name, index)
            action_type = action.get("type")
            if action_type in CLOUD_ONLY_ACTIONS:
                problems.append(
                    (join_field(where, "type"), f"{action_type!r} is Prefect Cloud only")
                )
            reference = ACTION_REFERENCES.get(str(action_type))
            if reference is not None:
                if reference.id_field in action:
                    problems.append(
                        (
                            join_field(where, reference.id_field),
                            f"ids differ per server: name the {reference.kind} in "
                            f"'{reference.name_field}' instead",
                        )
                    )
                name = action.pop(reference.name_field, None)
                if name is not None:
                    if not isinstance(name, str) or not name:
                        problems.append(
                            (join_field(where, reference.name_field), "expected a name (text)")
                        )
                    else:
                        references.append(
                            Reference(reference.kind, name, join_field(where, reference.name_field))
                        )
                        action[reference.id_field] = str(uuid.uuid4())
                        substituted.setdefault(list_name, {})[index] = name
            actions.append(action)
        document[list_name] = actions
    if has_metric(declaration.trigger):
        problems.append(("trigger", "metric triggers are Prefect Cloud only"))
    if problems:
        return {}, references, problems

    try:
        model = AutomationCore.model_validate(document)
    except ValidationError as error:
        by_field: dict[str, list[str]] = {}
        for detail in error.errors(include_url=False):
            location = [part for part in detail["loc"] if not is_union_tag(part)]
            field = _rename_id_fields(join_field(*location), document)
            message = detail["msg"].removeprefix("Value error, ")
            if message not in by_field.setdefault(field, []):
                by_field[field].append(message)
        problems.extend((field, " or ".join(messages)) for field, messages in by_field.items())
        return {}, references, problems

    for list_name in ACTION_LISTS:
        for index, action_model in enumerate(getattr(model, list_name)):
            if type(action_model).__name__ == "UnknownAction":
                problems.append(
                    (
                        join_field(list_name, index, "type"),
                        f"unknown action type {action_model.type!r}",
                    )
                )
    problems.extend(unknown_fields(declaration.trigger, model.trigger, "trigger"))
    for list_name in ACTION_LISTS:
        for index, (raw, action_model) in enumerate(
            zip(document[list_name], getattr(model, list_name), strict=True)
        ):
            if type(action_model).__name__ == "UnknownAction":
                continue
            problems.extend(unknown_fields(raw, action_model, join_field(list_name, index)))
    if problems:
        return {}, references, problems

    dumped = model.model_dump(mode="json")
    normalized: dict[str, Any] = {
        "name": declaration.name,
        "description": declaration.description,
        "enabled": declaration.enabled,
        "trigger": _sorted_sets(dumped["trigger"]),
    }
    for list_name in ACTION_LISTS:
        restored = []
        for index, action in enumerate(dumped[list_name]):
            reference = ACTION_REFERENCES.get(action["type"])
            if reference is not None:
                action.pop(reference.id_field, None)
                name = substituted.get(list_name, {}).get(index)
                if name is not None:
                    action = {**action, reference.name_field: name}
            restored.append(action)
        normalized[list_name] = restored
    return normalized, references, []


def _rename_id_fields(field: str, document: dict[str, Any]) -> str:
    """Errors on a substituted id field are reported under the name field the user wrote."""
    for reference in ACTION_REFERENCES.values():
        if field.endswith(f".{reference.id_field}"):
            return field[: -len(reference.id_field)] + reference.name_field
    return field


def has_metric(trigger: dict[str, Any]) -> bool:
    """Whether the trigger, or one nested in it, is a metric trigger (Prefect Cloud only)."""
    if trigger.get("type") == "metric" or trigger.get("posture") == "Metric":
        return True
    nested = trigger.get("triggers")
    return isinstance(nested, list) and any(
        isinstance(item, dict) and has_metric(item) for item in nested
    )


def unknown_fields(raw: Any, model: Any, where: str) -> list[tuple[str, str]]:
    """Keys in the file that Prefect's (extra="ignore") models would silently drop."""
    if (
        not isinstance(raw, dict)
        or not isinstance(model, BaseModel)
        or isinstance(model, RootModel)
    ):
        return []
    fields = type(model).model_fields
    known = set(fields) | {f.alias for f in fields.values() if f.alias}
    problems: list[tuple[str, str]] = []
    for key, value in raw.items():
        if key not in known:
            expected = ", ".join(sorted(known))
            problems.append((join_field(where, key), f"unknown field; expected one of: {expected}"))
            continue
        attribute = getattr(model, key, None)
        if isinstance(value, list) and isinstance(attribute, list):
            for index, (item, item_model) in enumerate(zip(value, attribute, strict=False)):
                problems.extend(unknown_fields(item, item_model, join_field(where, key, index)))
        else:
            problems.extend(unknown_fields(value, attribute, join_field(where, key)))
    return problems


def _sorted_sets(value: Any) -> Any:
    """Prefect models hold after/expect/for_each as sets; sort them for stable inputs."""
    if isinstance(value, dict):
        return {
            key: sorted(item)
            if key in _SET_FIELDS and isinstance(item, list)
            else _sorted_sets(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_sorted_sets(item) for item in value]
    return value
