"""JSON Schema checks of job variables and flow parameters.

Prefect's own helper (``prefect.utilities.schema_tools``) imports SQLAlchemy's
asyncio layer for a type hint, which costs more than a second per run of
``prefect-platform validate``; this applies the same rules with ``jsonschema``:
required keys are not enforced (values may come later, from the run) and
``null`` is accepted for a property that has a default.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any


def _without_required(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {key: _without_required(value) for key, value in schema.items() if key != "required"}
    if isinstance(schema, list):
        return [_without_required(item) for item in schema]
    return schema


def schema_errors(values: dict[str, Any], schema: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield ``(dotted path, message)`` for each way ``values`` break ``schema``.

    Args:
        values: job variables or flow parameters.
        schema: the pool's ``variables`` schema or the flow's parameter schema.
    """
    properties = schema.get("properties", {})
    checked = {
        key: value
        for key, value in values.items()
        if not (
            value is None and isinstance(properties.get(key), dict) and "default" in properties[key]
        )
    }
    validator = _validator(json.dumps(schema, sort_keys=True, default=str))
    for error in sorted(validator.iter_errors(checked), key=lambda e: list(map(str, e.path))):
        yield ".".join(str(part) for part in error.path), error.message


@functools.lru_cache(maxsize=256)
def _validator(schema: str) -> Any:
    """One validator per distinct schema (a pool's or a flow's is shared by many deployments)."""
    import jsonschema  # type: ignore[import-untyped]

    return jsonschema.Draft202012Validator(_without_required(json.loads(schema)))
