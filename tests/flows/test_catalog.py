"""docs/features.md, flows/catalog.py, the flow modules and the tests cannot drift apart."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import flows
from flows.catalog import FEATURES, GAP_FEATURES, Feature, GapFeature, render

ROOT = Path(flows.__file__).parent.parent


def test_features_md_is_the_rendered_catalog() -> None:
    assert (ROOT / "docs" / "features.md").read_text() == render(), (
        "docs/features.md is stale: run `python -m flows.catalog > docs/features.md`"
    )


def test_catalog_covers_thirty_distinct_matrix_rows() -> None:
    assert len({row.feature for row in FEATURES}) == len(FEATURES) == 30


def test_every_catalogued_module_is_documented_and_every_module_is_catalogued() -> None:
    """Each `flows/*/*.py` module is a row of `FEATURES` or the flow of a gap row."""
    catalogued = {row.module for row in FEATURES} | {g.module for g in GAP_FEATURES if g.module}
    for module_name in catalogued:
        module = importlib.import_module(module_name)
        doc = module.__doc__ or ""
        assert "Demonstrates:" in doc and "Run it" in doc, module_name
    on_disk = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "flows").glob("*/*.py")
        if path.name != "__init__.py"
    }
    assert on_disk == catalogued


def test_every_gap_row_of_the_matrix_has_a_status() -> None:
    seed = ROOT.parent / "shared" / "seed" / "feature-coverage.md"
    if seed.exists():  # the user's document, beside the repository on CI and dev machines
        gaps = seed.read_text().split("## Gaps", 1)[1]
        rows = {line.split("**")[1] for line in gaps.splitlines() if line.startswith("| **")}
        assert {gap.feature for gap in GAP_FEATURES} == rows
    for gap in GAP_FEATURES:
        assert gap.status in {"covered", "partly", "not yet", "n/a"}, gap
        assert bool(gap.test) == (gap.status in {"covered", "partly"}), gap
        assert not gap.module or gap.status in {"covered", "partly"}, gap


def test_every_catalogued_test_exists() -> None:
    rows: list[Feature | GapFeature] = [*FEATURES, *(gap for gap in GAP_FEATURES if gap.test)]
    for row in rows:
        mentioned = [row.test] + [part.split("`")[0] for part in row.shows.split("(also `")[1:]]
        for node in mentioned:
            file, _, name = node.partition("::")
            tree = ast.parse((ROOT / file).read_text())
            names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert name in names, f"{row.feature}: {node} does not exist"
