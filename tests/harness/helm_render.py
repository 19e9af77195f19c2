"""Render the pinned prefect-helm charts with a stack's release inputs, as `helm install` would.

`helm-python-sdk` (a dev dependency) embeds Helm's Go SDK: `Chart.load_archive(...).render(...)`
runs the chart's own templates, subcharts and `values.schema.json` check offline (the `lookup`
function returns nothing). The archives are the released packages of the pinned chart versions
(`infra/components/versions.py`) in `../shared/reference/prefect-helm/charts/`; the product
itself never reads them (`pulumi up` fetches the charts from the chart repository).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.components.versions import PREFECT_SERVER_CHART_VERSION, PREFECT_WORKER_CHART_VERSION
from tests.harness.mockstack import REPO, StackRun

REFERENCE_ENV = "PREFECT_HELM_REFERENCE"
"""Overrides where prefect-helm's reference folder is (default ../shared/reference/prefect-helm)."""

CHART_VERSIONS = {
    "prefect-server": PREFECT_SERVER_CHART_VERSION,
    "prefect-worker": PREFECT_WORKER_CHART_VERSION,
}
"""The chart versions the program pins, by chart name."""


@dataclass(frozen=True)
class RenderedObject:
    """One Kubernetes object of a stack: rendered from a chart, or declared by the program."""

    source: str
    """`<release>:<template path>` for chart objects, `pulumi:<logical name>` for the program's."""
    manifest: dict[str, Any]
    """The object as the API server receives it."""
    namespace: str
    """Its namespace ("" for cluster-scoped kinds)."""

    @property
    def kind(self) -> str:
        """The object's kind."""
        return str(self.manifest["kind"])

    @property
    def name(self) -> str:
        """`metadata.name`."""
        return str(self.manifest["metadata"]["name"])

    @property
    def identity(self) -> tuple[str, str, str]:
        """(kind, namespace, name): two objects with the same identity are one object."""
        return (self.kind, self.namespace, self.name)


CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass"})
"""Kinds without a namespace among those the charts and the program declare."""


def reference_dir() -> Path:
    """Where prefect-helm's reference data is (it may be absent)."""
    default = REPO.parent / "shared/reference/prefect-helm"
    return Path(os.environ.get(REFERENCE_ENV, default))


def chart_archive(chart: str, reference: Path | None = None) -> Path:
    """The released archive of the pinned version of `chart`."""
    folder = (reference or reference_dir()) / "charts"
    return folder / f"{chart}-{CHART_VERSIONS[chart]}.tgz"


def missing_archives(reference: Path | None = None) -> list[Path]:
    """The pinned chart archives that are not there."""
    return [
        chart_archive(c, reference)
        for c in CHART_VERSIONS
        if not chart_archive(c, reference).exists()
    ]


def render_release(
    inputs: Mapping[str, Any], reference: Path | None = None
) -> list[RenderedObject]:
    """The objects one `helm.v3.Release` installs, from the inputs the program gave it.

    Raises:
        helm_python.HelmError: the values fail the chart's schema or a template fails.
    """
    import helm_python

    chart, release, namespace = inputs["chart"], inputs["name"], inputs["namespace"]
    # A fresh chart per render: Helm's dependency processing drops disabled subcharts from the
    # loaded chart, so a chart object rendered once without Redis renders Redis never again.
    loaded = helm_python.Chart.load_archive(chart_archive(chart, reference).read_bytes())
    templates = loaded.render(
        dict(inputs.get("values") or {}), name=release, namespace=namespace, is_install=True
    )
    objects = []
    for path, text in sorted(templates.items()):
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        for document in yaml.safe_load_all(text):
            if not document:
                continue
            objects.append(_object(f"{release}:{path}", document, namespace))
    return objects


def render_stack(run: StackRun, reference: Path | None = None) -> list[RenderedObject]:
    """Every Kubernetes object of a stack: its Helm releases rendered, plus the raw objects."""
    objects: list[RenderedObject] = []
    for release in run.helm_releases():
        objects.extend(render_release(release.inputs, reference))
    for resource in run.resources:
        if resource.type.startswith("kubernetes:") and "helm.sh" not in resource.type:
            manifest = {k: v for k, v in resource.inputs.items() if not k.startswith("__")}
            objects.append(_object(f"pulumi:{resource.name}", manifest, ""))
    return objects


def _object(source: str, manifest: dict[str, Any], default_namespace: str) -> RenderedObject:
    kind = manifest.get("kind", "")
    namespace = (
        ""
        if kind in CLUSTER_SCOPED
        else (manifest.get("metadata", {}).get("namespace") or default_namespace)
    )
    return RenderedObject(source, manifest, namespace)


def of_kind(objects: Iterable[RenderedObject], kind: str) -> list[RenderedObject]:
    """The objects of one kind."""
    return [o for o in objects if o.kind == kind]


def named(objects: Iterable[RenderedObject], kind: str, name: str) -> RenderedObject:
    """The one object of this kind and name."""
    matches = [o for o in objects if o.kind == kind and o.name == name]
    assert len(matches) == 1, f"{len(matches)} {kind} named {name!r}: {[o.source for o in matches]}"
    return matches[0]


def pod_spec(workload: RenderedObject) -> dict[str, Any]:
    """The pod spec of a Deployment, StatefulSet or Job."""
    spec: dict[str, Any] = workload.manifest["spec"]["template"]["spec"]
    return spec


def container_env(workload: RenderedObject, container: str) -> dict[str, Any]:
    """A container's environment, by variable name (value or valueFrom)."""
    spec = pod_spec(workload)
    for item in [*spec.get("initContainers", []), *spec["containers"]]:
        if item["name"] == container:
            return {e["name"]: e.get("value", e.get("valueFrom")) for e in item.get("env", [])}
    raise AssertionError(f"{workload.source}: no container {container!r}")
