"""`helm upgrade` from the previous chart brings the CRDs along (Helm v4 engine, offline).

The previous chart is tests/chart/fixtures/previous/canton-operator: the chart as released before its CRDs
became templates (SOURCE names the commit; test_previous_fixture_is_that_commits_chart checks the copy when git
has the commit). Helm applies crds/ on the first install only; on upgrade it applies the upgrade's manifest,
which is what `Chart.render(..., is_upgrade=True)` returns. So: the CRDs must be in that manifest, as the new
schema, compatible with the old one, kept on uninstall; and the examples must be valid under the new schema.

Nothing here names a field of the Validator schema: the checks walk whatever schema the CRDs have.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import pytest
import yaml

import crd_schema
from conftest import CHART_DIR, DEPLOY_CRD, RELEASE_NAME, RELEASE_NAMESPACE, REPO_ROOT

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "previous"
PREVIOUS_CHART = FIXTURE / "canton-operator"
PREVIOUS_COMMIT = (FIXTURE / "SOURCE").read_text().split()[1]
KEEP = ("helm.sh/resource-policy", "keep")
EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.yaml"))


def yaml_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def rendered_crds(raw: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The CRDs in a rendered manifest (what Helm applies on install and upgrade), by name."""
    out = {}
    for path, text in raw.items():
        if path.endswith((".yaml", ".yml")):
            for doc in yaml_docs(text):
                if doc.get("kind") == "CustomResourceDefinition":
                    assert doc["metadata"]["name"] not in out, f"CRD {doc['metadata']['name']} rendered twice"
                    out[doc["metadata"]["name"]] = doc
    return out


def crds_dir(chart: helm_python.Chart) -> dict[str, dict[str, Any]]:
    """The CRDs in the chart's crds/ directory (applied by Helm on the first install only), by name."""
    return {d["metadata"]["name"]: d for c in chart.crds for d in yaml_docs(c["data"])}


def render(chart: helm_python.Chart, values: dict[str, Any] | None = None, *, upgrade: bool) -> dict[str, str]:
    if upgrade:
        return chart.render(values or {}, name=RELEASE_NAME, namespace=RELEASE_NAMESPACE, revision=2, is_upgrade=True)
    return chart.render(values or {}, name=RELEASE_NAME, namespace=RELEASE_NAMESPACE, revision=1, is_install=True)


@pytest.fixture(scope="module")
def previous() -> Any:
    with helm_python.Chart.load(PREVIOUS_CHART) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def current() -> Any:
    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def old_crds(previous: helm_python.Chart) -> dict[str, dict[str, Any]]:
    """What a release of the previous chart left in the cluster: its crds/ plus any CRD it templated."""
    out = crds_dir(previous) | rendered_crds(render(previous, upgrade=False))
    assert out, "the previous chart has no CRD at all"
    return out


@pytest.fixture(scope="module")
def upgrade_crds(current: helm_python.Chart) -> dict[str, dict[str, Any]]:
    return rendered_crds(render(current, upgrade=True))


def strip_helm_metadata(crd: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(crd)
    out["metadata"] = {"name": crd["metadata"]["name"]}
    return out


# --------------------------------------------------------------------------------------------
# the fixture is the previous chart


def test_previous_fixture_is_that_commits_chart() -> None:
    git = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-tree", "-r", "--name-only", PREVIOUS_COMMIT, "charts/canton-operator"],
        capture_output=True,
        text=True,
    )
    if git.returncode != 0:
        pytest.skip(f"git does not have {PREVIOUS_COMMIT} here (shallow clone or tarball): fixture not compared")
    files = git.stdout.split()
    assert files, f"{PREVIOUS_COMMIT} has no charts/canton-operator"
    copied = sorted(str(p.relative_to(FIXTURE)) for p in PREVIOUS_CHART.rglob("*") if p.is_file())
    assert copied == sorted(f.removeprefix("charts/") for f in files)
    for f in files:
        at_commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "show", f"{PREVIOUS_COMMIT}:{f}"], capture_output=True, check=True
        ).stdout
        assert (FIXTURE / f.removeprefix("charts/")).read_bytes() == at_commit, f"fixture differs from {f}"


# --------------------------------------------------------------------------------------------
# the upgrade applies the CRDs


def test_upgrade_manifest_contains_every_crd(
    current: helm_python.Chart, old_crds: dict[str, Any], upgrade_crds: dict[str, Any]
) -> None:
    generated = {d["metadata"]["name"] for d in yaml_docs(DEPLOY_CRD.read_text())}
    assert set(upgrade_crds) == generated, (
        "the upgrade's manifest must contain every CRD of deploy/crd.yaml (Helm ignores crds/ on upgrade); "
        f"rendered: {sorted(upgrade_crds)}"
    )
    assert set(old_crds) <= set(upgrade_crds), f"CRDs the previous release had: {sorted(old_crds)}"
    # Nothing left in crds/: Helm would create those first, without release ownership, and the templated
    # copies would then conflict with them on install.
    assert crds_dir(current) == {}, f"crds/ still holds {sorted(crds_dir(current))}"
    # The install manifest holds them too, so that a later upgrade patches objects the release owns.
    assert set(rendered_crds(render(current, upgrade=False))) == generated


def test_upgrade_applies_the_new_schema(upgrade_crds: dict[str, Any]) -> None:
    """The CRDs the upgrade applies are deploy/crd.yaml (`canton-operator crd`) exactly, apart from the chart's
    labels and annotations: every field and CEL rule the new release adds reaches the cluster."""
    for generated in yaml_docs(DEPLOY_CRD.read_text()):
        name = generated["metadata"]["name"]
        assert strip_helm_metadata(upgrade_crds[name]) == strip_helm_metadata(generated), name
        extra = set(generated["metadata"]) - {"name"}
        assert not extra, f"deploy/crd.yaml metadata has {extra}: compare them here too"


def test_upgrade_keeps_every_old_property_path(old_crds: dict[str, Any], upgrade_crds: dict[str, Any]) -> None:
    """Existing Validators stay valid: every property path of the previous CRDs' schemas is still there, with
    its type, nothing newly required, the old versions still served."""
    problems = {name: crd_schema.incompatibilities(old, upgrade_crds[name]) for name, old in old_crds.items()}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, problems
    # What the upgrade adds, for the log (`pytest -rA`); no list of expected names: others add fields.
    for name, old in old_crds.items():
        added = crd_schema.added_paths(old, upgrade_crds[name])
        print(f"{name}: {len(added)} property paths added: {added[:20]}")


def leaf_paths(crd: dict[str, Any]) -> list[tuple[str, crd_schema.Path]]:
    out = []
    for version in crd["spec"]["versions"]:
        for path, node in crd_schema.schema_nodes(version["schema"]["openAPIV3Schema"]):
            if path and crd_schema.ITEMS not in path and crd_schema.VALUES not in path and "properties" not in node:
                out.append((version["name"], path))
    return out


def node_at(crd: dict[str, Any], version: str, path: crd_schema.Path) -> tuple[dict[str, Any], str]:
    """(parent schema, property name) of a path in a CRD version."""
    node = next(v for v in crd["spec"]["versions"] if v["name"] == version)["schema"]["openAPIV3Schema"]
    for name in path[:-1]:
        node = node["properties"][name]
    return node, path[-1]


def test_compatibility_check_fails_on_breaking_changes(old_crds: dict[str, Any]) -> None:
    """The check above can fail: removing, retyping or newly requiring any old property is reported."""
    for name, old in old_crds.items():
        paths = leaf_paths(old)
        assert paths, f"{name}: no property to test with"
        for version, path in (paths[0], paths[len(paths) // 2], paths[-1]):
            where = ".".join(path)
            removed = copy.deepcopy(old)
            parent, prop = node_at(removed, version, path)
            del parent["properties"][prop]
            assert any(where in p and "removed" in p for p in crd_schema.incompatibilities(old, removed)), where

            retyped = copy.deepcopy(old)
            parent, prop = node_at(retyped, version, path)
            node = parent["properties"][prop]
            node.pop("x-kubernetes-int-or-string", None)
            node["type"] = "boolean" if node.get("type") != "boolean" else "string"
            assert any(where in p and "type" in p for p in crd_schema.incompatibilities(old, retyped)), where

            required = copy.deepcopy(old)
            parent, prop = node_at(required, version, path)
            if prop not in parent.get("required", []):
                parent["required"] = [*parent.get("required", []), prop]
                assert any(
                    p.endswith(f".{prop} is required now (objects without it become invalid)")
                    for p in crd_schema.incompatibilities(old, required)
                ), where
        unserved = copy.deepcopy(old)
        for v in unserved["spec"]["versions"]:
            v["served"] = False
        assert any("no longer served" in p for p in crd_schema.incompatibilities(old, unserved))
        # and a new optional property is not a problem
        grown = copy.deepcopy(old)
        root = grown["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        root["properties"]["spec"].setdefault("properties", {})["zzNewOptionalField"] = {"type": "string"}
        assert crd_schema.incompatibilities(old, grown) == []
        assert crd_schema.added_paths(old, grown) == [f"{grown['spec']['versions'][0]['name']}: spec.zzNewOptionalField"]


def test_upgrade_with_reuse_values_from_the_previous_release(tmp_path: Path) -> None:
    """`helm upgrade --reuse-values` renders the new templates with the OLD release's values in place of the new
    chart's defaults (Helm's reuseValues: chart.Values = the old coalesced values), so `crds` is absent: the
    CRDs must still be in the upgrade, kept."""
    chart_dir = tmp_path / "canton-operator"
    shutil.copytree(CHART_DIR, chart_dir)
    shutil.copy2(PREVIOUS_CHART / "values.yaml", chart_dir / "values.yaml")
    with helm_python.Chart.load(chart_dir) as reused:
        assert "crds" not in reused.values
        crds = rendered_crds(render(reused, upgrade=True))
    assert set(crds) == {d["metadata"]["name"] for d in yaml_docs(DEPLOY_CRD.read_text())}
    for name, crd in crds.items():
        assert (crd["metadata"].get("annotations") or {}).get(KEEP[0]) == KEEP[1], name


# --------------------------------------------------------------------------------------------
# kept on uninstall


@pytest.mark.parametrize("upgrade", [False, True], ids=["install", "upgrade"])
def test_crds_carry_the_keep_annotation(current: helm_python.Chart, upgrade: bool) -> None:
    crds = rendered_crds(render(current, upgrade=upgrade))
    assert crds
    for name, crd in crds.items():
        annotations = crd["metadata"].get("annotations") or {}
        assert annotations.get(KEEP[0]) == KEEP[1], f"{name} lacks {KEEP[0]}: {KEEP[1]} (uninstall would delete it)"
        labels = crd["metadata"].get("labels") or {}
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", name


def test_crds_values(current: helm_python.Chart) -> None:
    default = render(current, upgrade=True)
    no_keep = rendered_crds(render(current, {"crds": {"keep": False}}, upgrade=True))
    assert set(no_keep) == set(rendered_crds(default))
    for name, crd in no_keep.items():
        assert KEEP[0] not in (crd["metadata"].get("annotations") or {}), name
    disabled = render(current, {"crds": {"enabled": False}}, upgrade=True)
    assert rendered_crds(disabled) == {}
    # Turning the CRDs off changes nothing else.
    for path, text in default.items():
        if not path.endswith("/crds.yaml"):
            assert disabled[path] == text, path


# --------------------------------------------------------------------------------------------
# the examples are valid Validators under the new schema


def example_docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in EXAMPLES:
        for i, doc in enumerate(yaml_docs(path.read_text())):
            if doc.get("apiVersion", "").startswith("canton-operator.dev/"):
                out.append((f"{path.name}#{i}", doc))
    return out


def validator_for(crds: dict[str, Any], obj: dict[str, Any]) -> jsonschema.Draft7Validator:
    group, version = obj["apiVersion"].split("/")
    crd = next(
        (c for c in crds.values() if c["spec"]["group"] == group and c["spec"]["names"]["kind"] == obj["kind"]),
        None,
    )
    assert crd is not None, f"no CRD for {obj['apiVersion']} {obj['kind']}"
    v = next((v for v in crd["spec"]["versions"] if v["name"] == version and v.get("served")), None)
    assert v is not None, f"{crd['metadata']['name']} does not serve {version}"
    schema = crd_schema.to_json_schema(v["schema"]["openAPIV3Schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_examples_exist() -> None:
    assert len(example_docs()) >= len(EXAMPLES) > 0


@pytest.mark.parametrize(("name", "obj"), example_docs(), ids=[n for n, _ in example_docs()])
def test_example_is_valid_under_the_upgraded_crd(upgrade_crds: dict[str, Any], name: str, obj: dict[str, Any]) -> None:
    errors = sorted(validator_for(upgrade_crds, obj).iter_errors(obj), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def test_example_validation_can_fail(upgrade_crds: dict[str, Any]) -> None:
    """The converted schema refuses what the API server would: unknown fields and wrong types, at any depth."""
    for name, obj in example_docs():
        validator = validator_for(upgrade_crds, obj)
        assert not list(validator.iter_errors(obj))
        unknown = copy.deepcopy(obj)
        unknown["spec"]["zzMisspelt"] = True
        assert any("zzMisspelt" in e.message for e in validator.iter_errors(unknown)), name
        # The deepest string in the example, turned into a list, is refused where it is.
        strings = [(p, v) for p, v in walk(obj["spec"], ("spec",)) if isinstance(v, str)]
        assert strings, name
        path, _ = max(strings, key=lambda pv: len(pv[0]))
        broken = copy.deepcopy(obj)
        node = broken
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = ["not", "a", "string"]
        errs = list(validator.iter_errors(broken))
        assert any(tuple(e.absolute_path) == path for e in errs), (name, path, [e.message for e in errs])


def walk(value: Any, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], Any]]:
    out = [(path, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            out += walk(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += walk(v, path + (i,))
    return out


def test_schema_conversion() -> None:
    """x-kubernetes-* keys are dropped and their meaning kept; nullable allows null; unknown fields refused."""
    structural = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [{"rule": "true"}],
                "properties": {
                    "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "size": {"x-kubernetes-int-or-string": True},
                    "note": {"type": "string", "nullable": True},
                    "mode": {"type": "string", "enum": ["a", "b"], "nullable": True},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                    "list": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
                },
            }
        },
    }
    schema = crd_schema.to_json_schema(structural)
    assert "x-kubernetes" not in repr(schema)
    v = jsonschema.Draft7Validator(schema)
    good = {
        "apiVersion": "g/v1",
        "kind": "K",
        "metadata": {"name": "x"},
        "spec": {"port": 1, "size": "10%", "note": None, "mode": None, "free": {"any": [1]}, "tags": {"a": "b"}, "list": [{"n": 1}]},
    }
    assert list(v.iter_errors(good)) == []
    for bad in (
        {"spec": {"port": 1.5}},
        {"spec": {"size": True}},
        {"spec": {"mode": "c"}},
        {"spec": {"tags": {"a": 1}}},
        {"spec": {"list": [{"n": 1, "m": 2}]}},
        {"spec": {"other": 1}},
        {"status": {}},
    ):
        assert list(v.iter_errors(bad)), bad
