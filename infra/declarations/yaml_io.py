"""Reading YAML declaration files strictly: duplicate keys are errors, positions are kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(ValueError):
    """A file is not valid YAML; the message gives the line and column."""


class _StrictLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader that refuses a key written twice in one mapping."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *anchor` may be overridden by explicit keys
        key = loader.construct_object(key_node)
        if key in keys:
            mark = key_node.start_mark
            raise YamlError(
                f"line {mark.line + 1}, column {mark.column + 1}: key {key!r} is written twice"
            )
        keys.add(key)
    loader.flatten_mapping(node)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file.

    Raises:
        YamlError: the text is not valid YAML (message: line, column, what went wrong).
    """
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise YamlError(f"{where}not valid YAML: {error.problem}") from error
    except yaml.YAMLError as error:
        raise YamlError(f"not valid YAML: {' '.join(str(error).split())}") from error
