"""Reading a flow's name and parameter schema from its source, without running it.

Hundreds of deployments may share one entrypoint: each file is parsed once per process and
content (an edited file is parsed again).
"""

from __future__ import annotations

import copy
import functools
import hashlib
from pathlib import Path
from typing import Any


def read_flow(root: Path, entrypoint: str) -> tuple[str, dict[str, Any]]:
    """Read a flow's name and parameter schema from its source, without importing it.

    Args:
        root: the repository root the entrypoint is relative to.
        entrypoint: ``path/to/file.py:function``.

    Returns:
        ``(flow name, parameter OpenAPI schema)``.

    Raises:
        ValueError: the file or the function cannot be found or parsed.
    """
    path, function = entrypoint.rsplit(":", 1)
    source = root / path
    if not source.is_file():
        raise ValueError(f"file {path!r} not found under {root}")
    try:
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
    except OSError as error:
        raise ValueError(f"cannot read the flow {function!r} in {path!r}: {error}") from error
    name, schema, problem = _read_flow(str(source), function, digest)
    if problem is not None:
        raise ValueError(f"cannot read the flow {function!r} in {path!r}: {problem}")
    return name, copy.deepcopy(schema)


@functools.lru_cache(maxsize=1024)
def _read_flow(source: str, function: str, digest: str) -> tuple[str, dict[str, Any], str | None]:
    """Parse one flow's name and schema; cached by file and content (`digest`), so hundreds of
    deployments of one entrypoint parse it once, and an edited file is parsed again.
    Returns ``(name, schema, None)``, or ``("", {}, problem)``: failures are cached too."""
    from prefect.flows import load_flow_arguments_from_entrypoint
    from prefect.utilities.callables import parameter_schema_from_entrypoint

    absolute = f"{source}:{function}"
    try:
        arguments = load_flow_arguments_from_entrypoint(absolute, {"name"})
        schema = parameter_schema_from_entrypoint(absolute).model_dump_for_openapi()
    except (SyntaxError, ValueError, OSError) as error:
        return "", {}, str(error)
    return str(arguments["name"]), schema, None
