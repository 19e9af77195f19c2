"""Request → events: a webhook's Jinja template, rendered in a sandbox with a time limit.

The environment is Jinja's immutable sandbox (no attribute starting with `_`, no method that
changes a value) with undefined values as errors (`StrictUndefined`: a missing field names
its line instead of rendering an empty string). Python threads cannot be killed, so the
time limit is checked where a template can spend time: every call, attribute or item
lookup, arithmetic operator and output chunk; `range()` is capped by the sandbox, `*` and
`**` may not build values larger than the output cap, and filters that pad to a width
(`center`, `indent`, `wordwrap`) are removed.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from prefect.events import Event
from pydantic import ValidationError

MAX_OUTPUT_CHARS = 1_048_576
"""Largest rendered text (characters)."""
TEMPLATE_NAME = "<template>"
_REMOVED_FILTERS = ("center", "indent", "wordwrap")


class TemplateProblem(Exception):
    """The template failed or rendered something that is not a list of valid events."""

    def __init__(self, message: str, line: int | None) -> None:
        self.message = message
        self.line = line
        super().__init__(f"template line {line}: {message}" if line else message)


class _Deadline(threading.local):
    at: float = float("inf")


_DEADLINE = _Deadline()


def _check_time() -> None:
    if time.monotonic() > _DEADLINE.at:
        raise TimeoutError("the template ran out of time")


class WebhookEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox webhook templates run in (shared by `validate` and the gateway)."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)
        for name in _REMOVED_FILTERS:
            self.filters.pop(name, None)
        self.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a function, if time remains."""
        _check_time()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Look an attribute up, if time remains."""
        _check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Look an item up, if time remains."""
        _check_time()
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """`*` and `**`, refusing results larger than the output cap."""
        _check_time()
        if operator == "*":
            sized, count = (left, right) if isinstance(right, int) else (right, left)
            too_large = (
                isinstance(sized, (str, list, tuple))
                and isinstance(count, int)
                and len(sized) * count > MAX_OUTPUT_CHARS
            )
            if too_large:
                raise SecurityError("the product is larger than a template may render")
        if operator == "**" and isinstance(right, int) and abs(right) > 1024:
            raise SecurityError("the exponent is larger than a template may use")
        return super().call_binop(context, operator, left, right)


ENVIRONMENT = WebhookEnvironment()
"""The one environment; thread-safe (each render's deadline is per thread)."""


def compile_template(source: str) -> Template:
    """Compile a webhook template.

    Raises:
        TemplateProblem: a syntax error, with its line.
    """
    try:
        tree = ENVIRONMENT.parse(source)
        # Jinja leaves an unknown filter or test inside `{% if %}` to fail at render time.
        for node in tree.find_all((nodes.Filter, nodes.Test)):
            known = ENVIRONMENT.filters if isinstance(node, nodes.Filter) else ENVIRONMENT.tests
            if node.name not in known:
                kind = "filter" if isinstance(node, nodes.Filter) else "test"
                raise TemplateProblem(f"No {kind} named {node.name!r}.", node.lineno)
        template = ENVIRONMENT.from_string(source)
    except TemplateSyntaxError as error:
        raise TemplateProblem(error.message or str(error), error.lineno) from None
    template.webhook_source = source  # type: ignore[attr-defined]
    return template


def render_events(template: Template, context: dict[str, Any], seconds: float) -> list[Event]:
    """Render the template against one request and validate what it produced as events.

    Args:
        template: from `compile_template`.
        context: the variables (body, raw_body, headers, query, method, slug).
        seconds: the time limit.

    Returns:
        The events, in the order rendered (none if the template rendered `[]`).

    Raises:
        TemplateProblem: the template failed, ran out of time, or its output is not JSON
            for one event or a list of them; the message names the template's line.
    """
    text, lines = _render(template, context, seconds)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise TemplateProblem(
            f"the output is not JSON: {error.msg}", _line_at(lines, error.pos)
        ) from None
    items = document if isinstance(document, list) else [document]
    source = template_source(template)
    events: list[Event] = []
    for index, item in enumerate(items):
        where = f"event {index}: " if isinstance(document, list) else ""
        if not isinstance(item, dict):
            raise TemplateProblem(f"{where}expected a JSON object, got {type(item).__name__}", 1)
        unknown = sorted(set(item) - set(Event.model_fields))
        if unknown:
            raise TemplateProblem(
                f"{where}{unknown[0]}: unknown event field (expected one of "
                f"{', '.join(sorted(Event.model_fields))})",
                _line_naming(source, [unknown[0]]),
            )
        try:
            events.append(Event.model_validate(item))
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            location = [str(part) for part in first["loc"]]
            field = ".".join(location) or "(event)"
            raise TemplateProblem(
                f"{where}{field}: {first['msg']}", _line_naming(source, location)
            ) from None
    return events


def template_source(template: Template) -> str:
    """The text a template was compiled from (kept by `compile_template`)."""
    return str(getattr(template, "webhook_source", ""))


def _render(
    template: Template, context: dict[str, Any], seconds: float
) -> tuple[str, list[tuple[int, int, str]]]:
    """The output, and (output offset, template line, text) of each chunk."""
    _DEADLINE.at = time.monotonic() + seconds
    chunks: list[str] = []
    lines: list[tuple[int, int, str]] = []
    size = 0
    generator: Iterator[str] = template.root_render_func(template.new_context(context))
    try:
        while True:
            chunk = next(generator)
            frame = getattr(generator, "gi_frame", None)
            line = template.get_corresponding_lineno(frame.f_lineno) if frame else 1
            lines.append((size, line, chunk))
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateProblem(
                    f"the output is longer than {MAX_OUTPUT_CHARS} characters", line
                )
            _check_time()
    except StopIteration:
        return "".join(chunks), lines
    except TimeoutError as error:
        where = _template_line(template, error) or (lines[-1][1] if lines else None)
        raise TemplateProblem(f"the template took longer than {seconds:g} s", where) from None
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as error:
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        raise TemplateProblem(message, _template_line(template, error)) from None
    finally:
        _DEADLINE.at = float("inf")


def _template_line(template: Template, error: BaseException) -> int | None:
    """The template line an exception was raised on (its innermost frame of template code)."""
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == TEMPLATE_NAME and frame.lineno is not None:
            found = template.get_corresponding_lineno(frame.lineno)
    return found


def _line_at(lines: list[tuple[int, int, str]], position: int) -> int:
    """The template line that wrote the output character at `position`."""
    line = 1
    for offset, template_line, chunk in lines:
        if offset > position:
            break
        line = template_line + chunk[: position - offset].count("\n")
    return line


def _line_naming(source: str, location: list[str]) -> int:
    """The first template line that writes the invalid field's key (else line 1)."""
    for key in reversed(location):
        needle = json.dumps(key)
        for number, text in enumerate(source.splitlines(), start=1):
            if needle in text:
                return number
    return 1
