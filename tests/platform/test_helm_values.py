"""Every Helm values document the program produces validates against the chart's schema.

Helm merges the chart's own `values.yaml` under the user's values and validates the result
against `values.schema.json`; these tests do the same with prefect-helm's reference files
(`../shared/reference/prefect-helm/`, or `$PREFECT_HELM_REFERENCE`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from infra.components.values import VALUES_DIR, load_values
from infra.merging import deep_merge
from tests.harness.mockstack import StackRun


def validator(reference: Path, chart: str) -> jsonschema.Draft7Validator:
    """A validator for one chart's values.schema.json."""
    schema = json.loads((reference / chart / "values.schema.json").read_text())
    return jsonschema.Draft7Validator(schema)


def as_helm_sees_it(reference: Path, chart: str, values: dict[str, Any]) -> dict[str, Any]:
    """The chart's default values with ours merged on top (what Helm validates)."""
    defaults = yaml.safe_load((reference / chart / "values.yaml").read_text())
    merged: dict[str, Any] = deep_merge(defaults, values)
    return merged


def problems(check: jsonschema.Draft7Validator, document: dict[str, Any]) -> list[str]:
    """Schema errors as `path: message` lines."""
    return [
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in check.iter_errors(document)
    ]


@pytest.mark.parametrize("stack", ["local", "pr", "prod"])
def test_every_release_values_document_validates(
    stack_runs: dict[str, StackRun], helm_reference: Path, stack: str
) -> None:
    releases = stack_runs[stack].helm_releases()
    assert {r.inputs["chart"] for r in releases} == {"prefect-server", "prefect-worker"}
    for release in releases:
        chart = release.inputs["chart"]
        values = release.inputs["values"]
        check = validator(helm_reference, chart)
        assert problems(check, values) == [], f"{stack}/{release.name}"
        assert problems(check, as_helm_sees_it(helm_reference, chart, values)) == [], (
            f"{stack}/{release.name} merged with chart defaults"
        )


@pytest.mark.parametrize(
    "path", sorted(VALUES_DIR.glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_every_values_file_merged_on_base_validates(helm_reference: Path, path: Path) -> None:
    chart = path.parent.name
    document = load_values(chart, path.stem)
    assert problems(validator(helm_reference, chart), document) == []


def test_the_schema_check_rejects_a_wrong_document(
    stack_runs: dict[str, StackRun], helm_reference: Path
) -> None:
    """The check bites: a misspelled worker setting and a wrong type are reported."""
    (worker,) = [
        r for r in stack_runs["local"].helm_releases() if r.inputs["chart"] == "prefect-worker"
    ]
    wrong = copy.deepcopy(worker.inputs["values"])
    wrong["worker"]["config"]["workpool"] = "typo"
    wrong["worker"]["replicaCount"] = "two"
    found = problems(validator(helm_reference, "prefect-worker"), wrong)
    assert any("workpool" in line for line in found), found
    assert any(line.startswith("worker.replicaCount") for line in found), found
