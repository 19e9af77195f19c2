"""Base job templates: the worker type's default template, merged overrides, validation.

The default template comes from the installed worker package (``ProcessWorker``,
prefect-docker's ``DockerWorker``, prefect-kubernetes' ``KubernetesWorker``), so
it follows upgrades. Merged templates are checked the way the server and the
worker check them: every ``{{ placeholder }}`` is a declared variable, the
variables schema is valid JSON Schema, the defaults satisfy it, and the
template renders into the worker's own job configuration class.

Importing the worker packages takes seconds (prefect-kubernetes pulls in the
whole Kubernetes client), so default templates and successful checks are cached
on disk, keyed by the installed package versions and the template's sha256.
Failures are never cached. Within one process, the versions and each type's
default template are read once (a repository has hundreds of deployments on a
few pools). Set ``PREFECT_PLATFORM_CACHE_DIR`` to move the cache,
or ``PREFECT_PLATFORM_NO_CACHE=1`` to bypass it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

PoolType = Literal["process", "docker", "kubernetes"]

#: Worker class (module, attribute) and the distribution that ships it, per pool type.
WORKERS: dict[str, tuple[str, str, str]] = {
    "process": ("prefect.workers.process", "ProcessWorker", "prefect"),
    "docker": ("prefect_docker.worker", "DockerWorker", "prefect-docker"),
    "kubernetes": ("prefect_kubernetes.worker", "KubernetesWorker", "prefect-kubernetes"),
}


#: Bump when the checks below change, so templates cached as valid are checked again.
CHECKS_VERSION = "1"


def _worker_class(pool_type: str) -> Any:
    module_name, attribute, _ = WORKERS[pool_type]
    module = __import__(module_name, fromlist=[attribute])
    return getattr(module, attribute)


@functools.cache
def _versions(pool_type: str) -> str:
    distribution = WORKERS[pool_type][2]
    return f"prefect={metadata.version('prefect')},{distribution}={metadata.version(distribution)}"


def cache_dir() -> Path | None:
    """Where default templates and successful checks are cached (None: caching is off)."""
    if os.environ.get("PREFECT_PLATFORM_NO_CACHE"):
        return None
    configured = os.environ.get("PREFECT_PLATFORM_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prefect-platform"


def _cache_path(name: str) -> Path | None:
    directory = cache_dir()
    return None if directory is None else directory / name


def _write_cache(path: Path | None, text: str) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(text)
        temporary.replace(path)
    except OSError:
        pass  # a read-only home must not break validation


def default_base_job_template(pool_type: str) -> dict[str, Any]:
    """The installed worker's default base job template for a pool type.

    Args:
        pool_type: ``process``, ``docker`` or ``kubernetes``.

    Returns:
        The template as ``get_default_base_job_template()`` returns it (a copy the caller owns).
    """
    return copy.deepcopy(_default_base_job_template(pool_type))


@functools.cache
def _default_base_job_template(pool_type: str) -> dict[str, Any]:
    key = hashlib.sha256(_versions(pool_type).encode()).hexdigest()[:16]
    path = _cache_path(f"default-template-{pool_type}-{key}.json")
    if path is not None and path.exists():
        cached: dict[str, Any] = json.loads(path.read_text())
        return cached
    template: dict[str, Any] = _worker_class(pool_type).get_default_base_job_template()
    _write_cache(path, json.dumps(template, sort_keys=True))
    return template


def template_problems(pool_type: str, template: dict[str, Any]) -> list[tuple[str, str]]:
    """Check a merged base job template; return ``(field, message)`` pairs (empty: valid).

    Args:
        pool_type: the pool's worker type.
        template: the full template (default with overrides merged on top).

    Returns:
        Problems, each with a field path inside the template and what was expected.
    """
    canonical = json.dumps(template, sort_keys=True, default=str)
    key = hashlib.sha256(
        f"{CHECKS_VERSION}\n{_versions(pool_type)}\n{canonical}".encode()
    ).hexdigest()
    marker = _cache_path(f"valid-template-{key}")
    if marker is not None and marker.exists():
        return []
    problems = _check_structure(template)
    if not problems:
        problems = _check_renders(pool_type, template)
    if not problems:
        _write_cache(marker, "ok\n")
    return problems


def _check_structure(template: dict[str, Any]) -> list[tuple[str, str]]:
    from prefect.server.schemas.actions import validate_base_job_template
    from prefect.utilities.schema_tools.validation import is_valid_schema, validate

    unknown = sorted(set(template) - {"job_configuration", "variables"})
    if unknown:
        return [
            (key, "unknown key: a template has only job_configuration and variables")
            for key in unknown
        ]
    if not isinstance(template.get("job_configuration"), dict):
        return [("job_configuration", "expected a mapping")]
    variables = template.get("variables")
    if not isinstance(variables, dict):
        return [("variables", "expected a JSON Schema mapping")]
    if not isinstance(variables.get("properties", {}), dict):
        return [("variables.properties", "expected a mapping of variable name to JSON Schema")]
    try:
        validate_base_job_template(template)
    except ValueError as error:
        return [("job_configuration", str(error))]
    try:
        is_valid_schema(variables, preprocess=False)
    except ValueError as error:
        return [("variables", str(error))]
    properties = variables.get("properties", {})
    defaults = {
        name: spec["default"]
        for name, spec in properties.items()
        if isinstance(spec, dict) and "default" in spec
    }
    errors = validate(
        defaults, variables, preprocess=True, ignore_required=True, allow_none_with_default=True
    )
    problems: list[tuple[str, str]] = []
    for failure in errors:
        path = [str(part) for part in failure.path]
        if path:
            field = ".".join(["variables.properties", path[0], "default", *path[1:]])
        else:
            field = "variables"
        problems.append((field, f"default does not match the variable's schema: {failure.message}"))
    return problems


def _check_renders(pool_type: str, template: dict[str, Any]) -> list[tuple[str, str]]:
    """Render the template with its defaults into the worker's job configuration class.

    This is ``BaseJobConfiguration.from_template_and_values`` without the server
    look-ups (block and variable placeholders stay as text).
    """
    from prefect.utilities.templating import apply_values

    configuration_class = _worker_class(pool_type).job_configuration
    base_config = json.loads(json.dumps(template["job_configuration"]))
    variables = configuration_class._get_base_config_defaults(
        template["variables"].get("properties", {})
    )
    if variables.get("env"):
        if isinstance(base_config.get("env"), dict):
            base_config["env"] = base_config["env"] | variables["env"]
        else:
            base_config["env"] = variables["env"]
    populated = apply_values(template=base_config, values=variables)
    try:
        configuration_class(**populated)
    except ValidationError as error:
        return [
            (
                ".".join(["job_configuration", *(str(part) for part in detail["loc"])]),
                f"{configuration_class.__name__} rejects the rendered template: {detail['msg']}",
            )
            for detail in error.errors(include_url=False)
        ]
    except (TypeError, ValueError) as error:
        return [("job_configuration", f"the template does not render: {error}")]
    return []
