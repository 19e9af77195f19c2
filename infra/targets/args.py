"""Component arguments from the stack config, without copying field by field."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from pydantic import BaseModel

ArgsT = TypeVar("ArgsT")


def component_args(args_class: type[ArgsT], *sources: BaseModel, **given: Any) -> ArgsT:
    """Build a component's frozen `*Args` dataclass from config models.

    Each field of `args_class` takes the value in `given`, else that of the first source model
    with a field of the same name, else the dataclass default. Values given explicitly are the
    ones whose names or shapes differ between the config and the component.

    Raises:
        TypeError: `given` names a field `args_class` does not have.
    """
    fields = {item.name for item in dataclasses.fields(args_class)}  # type: ignore[arg-type]
    unknown = sorted(set(given) - fields)
    if unknown:
        raise TypeError(f"{args_class.__name__} has no field(s) {', '.join(unknown)}")
    values = dict(given)
    for name in fields - set(given):
        for source in sources:
            if name in type(source).model_fields:
                values[name] = getattr(source, name)
                break
    return args_class(**values)
