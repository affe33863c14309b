"""Shared helpers for the Helm chart tests: the real Helm v4 engine via helm-python-sdk (`helm_python`).

`Chart.render` is the same path `helm template` / `helm install` take: values are coalesced with the chart's
defaults, validated against values.schema.json (HelmValuesError on refusal), then the templates are rendered
(HelmRenderError on a template `fail`).
"""

from __future__ import annotations

import copy
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import helm_python
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "canton-operator"
DEPLOY_CRD = REPO_ROOT / "deploy" / "crd.yaml"
CHART_CRD = CHART_DIR / "templates" / "crds.yaml"  # generated from DEPLOY_CRD by scripts/sync-chart-crd


def _operator_binary() -> Path:
    """The debug binary: $CANTON_OPERATOR_BIN (scripts/test sets it), else where cargo puts it
    (scripts/operator-binary asks `cargo metadata`, so CARGO_TARGET_DIR is honoured), else ./target."""
    if os.environ.get("CANTON_OPERATOR_BIN"):
        return Path(os.environ["CANTON_OPERATOR_BIN"])
    try:
        out = subprocess.run(
            [str(REPO_ROOT / "scripts" / "operator-binary"), "debug"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()
        if out:
            return Path(out)
    except (OSError, subprocess.SubprocessError):
        pass  # no cargo here: fall back to cargo's default target directory
    return REPO_ROOT / "target" / "debug" / "canton-operator"


OPERATOR_BINARY = _operator_binary()

RELEASE_NAME = "canton-operator"
RELEASE_NAMESPACE = "canton-system"

# The seed's example (kms-integration.md, "Example Operator environment configuration").
KMS_VALUE = '{ type = "aws", region = "eu-west-1", audit-logging = true }'
KMS_SERVICE_ACCOUNT = "catalyst-canton-kms"
KMS_VALUES: dict[str, Any] = {
    "kms": {"enabled": True, "value": KMS_VALUE, "serviceAccount": KMS_SERVICE_ACCOUNT}
}
NAMESPACED_VALUES: dict[str, Any] = {"watchNamespace": "team-a"}


@dataclass
class Manifest:
    source: str  # template path, e.g. canton-operator/templates/rbac.yaml
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.obj["kind"]

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    @property
    def namespace(self) -> str | None:
        return self.obj["metadata"].get("namespace")


@dataclass
class Rendered:
    raw: dict[str, str]  # template path -> rendered text
    manifests: list[Manifest] = field(default_factory=list)

    def __iter__(self) -> Iterator[Manifest]:
        return iter(self.manifests)

    def of_kind(self, kind: str) -> list[Manifest]:
        return [m for m in self.manifests if m.kind == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [m for m in self.of_kind(kind) if name is None or m.name == name]
        assert len(found) == 1, f"expected exactly one {kind} {name or ''}, got {[m.name for m in found]}"
        return found[0].obj

    @property
    def notes(self) -> str:
        return next((text for path, text in self.raw.items() if path.endswith("NOTES.txt")), "")

    def text(self, template: str) -> str:
        return next(text for path, text in self.raw.items() if path.endswith("/templates/" + template))

    # Deployment conveniences -------------------------------------------------------------
    @property
    def deployment(self) -> dict[str, Any]:
        return self.one("Deployment")

    @property
    def container(self) -> dict[str, Any]:
        containers = self.deployment["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1, containers
        return containers[0]

    @property
    def env(self) -> dict[str, dict[str, Any]]:
        entries = self.container.get("env", [])
        names = [e["name"] for e in entries]
        assert len(names) == len(set(names)), f"duplicate env vars: {names}"
        return {e["name"]: e for e in entries}

    @property
    def args(self) -> list[str]:
        return list(self.container.get("args", []))

    def flag(self, name: str) -> str | None:
        """Value of `--name=value` or `--name value` in the container args, None when absent."""
        args = self.args
        for i, arg in enumerate(args):
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
            if arg == name:
                assert i + 1 < len(args), f"{name} has no value in {args}"
                return args[i + 1]
        return None


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture(scope="session")
def chart() -> Iterator[helm_python.Chart]:
    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded


def render_chart(
    chart: helm_python.Chart,
    values: dict[str, Any] | None = None,
    *,
    namespace: str = RELEASE_NAMESPACE,
    name: str = RELEASE_NAME,
) -> Rendered:
    raw = chart.render(values or {}, name=name, namespace=namespace, is_install=True)
    rendered = Rendered(raw=raw)
    for path in sorted(raw):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(raw[path]):
            if doc:
                rendered.manifests.append(Manifest(source=path, obj=doc))
    return rendered


@pytest.fixture(scope="session")
def render(chart: helm_python.Chart):
    """render(values=None, namespace=..., name=...) -> Rendered."""

    def _render(values: dict[str, Any] | None = None, **kwargs: Any) -> Rendered:
        return render_chart(chart, values, **kwargs)

    return _render
