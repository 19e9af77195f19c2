"""The one merge rule for layered YAML: Helm values, job templates, stack overrides."""

from __future__ import annotations

import copy
from typing import Any


def deep_merge(base: Any, override: Any) -> Any:
    """Merge `override` over `base` as Helm merges values files.

    Mappings merge key by key; a ``null`` (None) in `override` deletes that key;
    anything else replaces. Neither argument is modified.
    """
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = deep_merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)
