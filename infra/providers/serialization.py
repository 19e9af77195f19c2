"""A workaround for Pulumi's provider serialization, which breaks past a few hundred resources.

Pulumi (3.272, `pulumi.dynamic.dynamic.serialize_provider`) swaps `pickle._Pickler`'s
`_batch_setitems` and `save_dict` for sorting wrappers around whatever is there and never puts
the originals back. Every dynamic resource a program declares wraps the previous wrapper once
more, so serializing the n-th provider nests n wrappers per dict level: quadratic time, then a
`RecursionError` a few hundred resources in (upstream: pulumi/pulumi#17803). Putting the two
methods back after each call keeps the sorting Pulumi wants and drops the nesting.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable
from typing import Any

from pulumi.dynamic import dynamic


def restore_pickler_after_each_serialization() -> None:
    """Wrap `serialize_provider` so `pickle` is left as it was found (idempotent)."""
    current: Callable[[Any], str] = dynamic.serialize_provider
    if getattr(current, "restores_pickler", False):
        return
    batch_setitems = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
    save_dict = pickle._Pickler.save_dict  # type: ignore[attr-defined]

    @functools.wraps(current)
    def serialize_provider(provider: Any) -> str:
        try:
            return current(provider)
        finally:
            pickle._Pickler._batch_setitems = batch_setitems  # type: ignore[attr-defined]
            pickle._Pickler.save_dict = save_dict  # type: ignore[attr-defined]

    serialize_provider.restores_pickler = True  # type: ignore[attr-defined]
    dynamic.serialize_provider = serialize_provider
