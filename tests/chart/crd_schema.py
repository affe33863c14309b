"""CRD schema helpers for the chart tests: structural compatibility of two CRD versions, and the conversion of a
CRD's structural schema (openAPIV3Schema) to a JSON Schema a validator such as `jsonschema` can check objects with.

Both are general: they walk whatever schema they are given, so fields added to the CRD need no test change.
"""

from __future__ import annotations

import copy
from typing import Any, Iterator

# A property path: ("spec", "kms", "aws", "region"); "[]" stands for the items of an array and "{}" for the
# values of a map (additionalProperties).
Path = tuple[str, ...]
ITEMS = "[]"
VALUES = "{}"


def schema_nodes(schema: dict[str, Any], path: Path = ()) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every (path, schema) of a structural schema, the root included, depth first."""
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from schema_nodes(sub, path + (name,))
    if isinstance(schema.get("items"), dict):
        yield from schema_nodes(schema["items"], path + (ITEMS,))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from schema_nodes(schema["additionalProperties"], path + (VALUES,))


def property_paths(schema: dict[str, Any]) -> dict[Path, dict[str, Any]]:
    return dict(schema_nodes(schema))


def _type(node: dict[str, Any]) -> str | None:
    if node.get("x-kubernetes-int-or-string"):
        return "int-or-string"
    return node.get("type")


def _versions(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in crd["spec"]["versions"]}


def incompatibilities(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why objects valid under the `old` CRD could be refused or lose data under `new` (empty: compatible).

    Checked, for every version the old CRD serves: the new CRD still serves it; every property path of the old
    schema is still in the new one with the same type; no object of the old schema requires a property it did
    not require (a new one or an old optional one); a field that was nullable still is; and the old storage
    version is still served (objects in etcd are stored in it).
    """
    problems: list[str] = []
    if old["metadata"]["name"] != new["metadata"]["name"]:
        return [f"different CRDs: {old['metadata']['name']} and {new['metadata']['name']}"]
    for field in ("group", "scope"):
        if old["spec"][field] != new["spec"][field]:
            problems.append(f"spec.{field} changed: {old['spec'][field]!r} -> {new['spec'][field]!r}")
    if old["spec"]["names"]["kind"] != new["spec"]["names"]["kind"]:
        problems.append("spec.names.kind changed")
    old_versions, new_versions = _versions(old), _versions(new)
    for name, old_version in old_versions.items():
        if not old_version.get("served"):
            continue
        new_version = new_versions.get(name)
        if new_version is None or not new_version.get("served"):
            problems.append(f"version {name} is no longer served")
            continue
        old_paths = property_paths(old_version["schema"]["openAPIV3Schema"])
        new_paths = property_paths(new_version["schema"]["openAPIV3Schema"])
        for path, old_node in old_paths.items():
            where = f"{name}: {'.'.join(path) or '<root>'}"
            new_node = new_paths.get(path)
            if new_node is None:
                problems.append(f"{where} was removed")
                continue
            if _type(old_node) != _type(new_node):
                problems.append(f"{where} changed type: {_type(old_node)} -> {_type(new_node)}")
            newly_required = set(new_node.get("required", [])) - set(old_node.get("required", []))
            for req in sorted(newly_required):
                problems.append(f"{where}.{req} is required now (objects without it become invalid)")
            if old_node.get("nullable") and not new_node.get("nullable"):
                problems.append(f"{where} is no longer nullable")
    storage = [n for n, v in old_versions.items() if v.get("storage")]
    for name in storage:
        if not new_versions.get(name, {}).get("served"):
            problems.append(f"the old storage version {name} is not served any more")
    return problems


def added_paths(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Property paths the new CRD has and the old one had not (for messages)."""
    out = []
    old_versions = _versions(old)
    for name, new_version in _versions(new).items():
        old_paths = (
            property_paths(old_versions[name]["schema"]["openAPIV3Schema"]) if name in old_versions else {}
        )
        out += [
            f"{name}: {'.'.join(p)}"
            for p in property_paths(new_version["schema"]["openAPIV3Schema"])
            if p not in old_paths
        ]
    return out


def to_json_schema(structural: dict[str, Any], *, root: bool = True) -> dict[str, Any]:
    """A CRD's structural schema as a draft-7 JSON Schema that checks objects the way the API server would.

    - `x-kubernetes-*` keys are dropped, after their meaning is carried over: `int-or-string` allows both types,
      `preserve-unknown-fields` allows any property (and, without a type, any value).
    - `nullable: true` allows null.
    - Objects with `properties` refuse unknown properties (the API server prunes them, and `kubectl apply`
      refuses them with its default strict field validation): a misspelt field in an example is an error.
    - At the root, `apiVersion`, `kind` and `metadata` are allowed (the API server validates them itself).
    CEL rules (`x-kubernetes-validations`) are not evaluated.
    """
    node = copy.deepcopy(structural)
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    if node.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
        if "anyOf" not in node and "oneOf" not in node:
            node["type"] = ["integer", "string"]
    for key in [k for k in node if k.startswith("x-kubernetes-")]:
        del node[key]
    if node.pop("nullable", False):
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]

    if isinstance(node.get("properties"), dict):
        node["properties"] = {k: to_json_schema(v, root=False) for k, v in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        node["items"] = to_json_schema(node["items"], root=False)
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = to_json_schema(node["additionalProperties"], root=False)
    for junctor in ("allOf", "anyOf", "oneOf"):
        if isinstance(node.get(junctor), list):
            node[junctor] = [to_json_schema(s, root=False) for s in node[junctor]]
    if isinstance(node.get("not"), dict):
        node["not"] = to_json_schema(node["not"], root=False)

    if root:
        props = node.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if "properties" in node and "additionalProperties" not in node and not preserve:
        node["additionalProperties"] = False
    return node
