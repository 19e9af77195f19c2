"""Workarounds for Pulumi's provider serialization, which breaks and slows past a few hundred
resources: the pickler's nesting wrappers (below) and a captured `Output` resolved per resource
(`CapturedOutput`).

Pulumi (3.272, `pulumi.dynamic.dynamic.serialize_provider`) swaps `pickle._Pickler`'s
`_batch_setitems` and `save_dict` for sorting wrappers around whatever is there and never puts
the originals back. Every dynamic resource a program declares wraps the previous wrapper once
more, so serializing the n-th provider nests n wrappers per dict level: quadratic time, then a
`RecursionError` a few hundred resources in (upstream: pulumi/pulumi#17803). Putting the two
methods back after each call keeps the sorting Pulumi wants and drops the nesting.
"""

from __future__ import annotations

import asyncio
import functools
import pickle
from collections.abc import Callable
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import dynamic

# Private to Pulumi, used as `Output.__getstate__` uses them (pulumi 3.272), see CapturedOutput.
from pulumi.runtime._serialization import _secrets_allowed, _set_contained_secrets
from pulumi.runtime.sync_await import _sync_await


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


class CapturedOutput:
    """An `Output` that providers keep for `read` and `delete`, resolved once per program.

    Pickling a `pulumi.Output` (`Output.__getstate__`) runs the event loop until its value is
    known, once for every dynamic resource that captured it; with every registration's
    callbacks pending, the program's time grew with the square of the number of resources
    (docs/performance.md). All providers of a program share one `CapturedOutput` per `Output`
    (`of`): the first pickle resolves it, the others reuse the value. The pickled form is what
    `Output` pickles to (`{"value": ...}`), and like `Output` it marks the serialized provider
    secret when the value is, and refuses where secrets may not be captured. Unpickled (in the
    provider process), `get()` returns the value.
    """

    _shared: ClassVar[dict[int, CapturedOutput]] = {}

    def __init__(self, output: pulumi.Output[Any]) -> None:
        self._output: pulumi.Output[Any] | None = output
        self._resolved: tuple[Any, bool] | None = None

    @classmethod
    def of(cls, value: Any) -> Any:
        """The shared wrapper of `value` if it is an `Output`; anything else as it is."""
        if not isinstance(value, pulumi.Output):
            return value
        shared = cls._shared.get(id(value))
        if shared is None or shared._output is not value:
            shared = cls._shared[id(value)] = cls(value)
        return shared

    def __getstate__(self) -> dict[str, Any]:
        if self._resolved is None:
            assert self._output is not None, "an unpickled CapturedOutput is not pickled again"
            output = self._output
            self._resolved = _sync_await(asyncio.gather(output.future(), output.is_secret()))
        value, is_secret = self._resolved
        if is_secret:
            if not _secrets_allowed():
                raise Exception("Secret outputs cannot be captured")
            _set_contained_secrets(True)
        return {"value": value}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._output = None
        self._resolved = (state["value"], False)

    def get(self) -> Any:
        """The value (in the provider process, after unpickling)."""
        if self._resolved is None:
            raise RuntimeError("CapturedOutput.get() is only available once unpickled")
        return self._resolved[0]
