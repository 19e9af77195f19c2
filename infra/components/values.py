"""Helm values documents: `helm-values/<chart>/base.yaml` + a stack overlay + program settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from infra.merging import deep_merge

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root (the folder holding `Pulumi.yaml`)."""

VALUES_DIR = REPO_ROOT / "helm-values"
"""Where base values and per-stack overlays live."""


def load_values(chart: str, overlay: str | None, values_dir: Path = VALUES_DIR) -> dict[str, Any]:
    """Read `<chart>/base.yaml` and merge `<chart>/<overlay>.yaml` on top when it exists.

    Raises:
        ValueError: naming the file when it is not a YAML mapping.
    """
    merged: dict[str, Any] = {}
    names = ["base"] + ([overlay] if overlay else [])
    for name in names:
        path = values_dir / chart / f"{name}.yaml"
        if not path.exists():
            if name == "base":
                raise ValueError(f"{path}: missing base values for chart {chart!r}")
            continue
        document = yaml.safe_load(path.read_text()) or {}
        if not isinstance(document, dict):
            raise ValueError(f"{path}: a Helm values file must be a mapping")
        merged = deep_merge(merged, document)
    return merged
