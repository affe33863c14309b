"""Tests of charts/canton-operator with the real Helm v4 engine (helm-python-sdk, `import helm_python`).

Run:  pip install -r tests/chart/requirements.txt && python -m pytest tests/chart -q
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from conftest import (
    CHART_CRD,
    CHART_DIR,
    DEPLOY_CRD,
    KMS_SERVICE_ACCOUNT,
    KMS_VALUE,
    KMS_VALUES,
    NAMESPACED_VALUES,
    OPERATOR_BINARY,
    RELEASE_NAME,
    RELEASE_NAMESPACE,
    REPO_ROOT,
    Rendered,
    deep_merge,
    render_chart,
)

KMS_ENV = (
    "CANTON_TOPOLOGY_KMS_ENABLED",
    "CANTON_TOPOLOGY_KMS_VALUE",
    "CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT",
)
GROUP = "canton-operator.dev"
CRD_NAMES = ("validators.canton-operator.dev", "validatorkeyrotations.canton-operator.dev")
LEASE_NAME = "canton-operator-leader"

# What the operator does against the API (the contract), as (apiGroup, resource, resourceNames, verbs).
WORKLOAD_PERMISSIONS = {
    (GROUP, "validators", (), frozenset({"get", "list", "watch", "patch"})),
    (GROUP, "validators/status", (), frozenset({"get", "patch", "update"})),
    (GROUP, "validatorkeyrotations", (), frozenset({"get", "list", "watch", "create", "patch", "delete"})),
    (GROUP, "validatorkeyrotations/status", (), frozenset({"get", "patch"})),
    ("apps", "deployments", (), frozenset({"get", "list", "watch", "create", "patch", "delete"})),
    ("", "services", (), frozenset({"get", "list", "watch", "create", "patch", "delete"})),
    ("", "serviceaccounts", (), frozenset({"get", "list", "watch", "create", "patch", "delete"})),
    ("networking.k8s.io", "networkpolicies", (), frozenset({"get", "list", "watch", "create", "patch", "delete"})),
    ("batch", "cronjobs", (), frozenset({"get", "list", "watch", "create", "patch", "delete"})),
    ("monitoring.coreos.com", "servicemonitors", (), frozenset({"get", "list", "watch", "create", "patch", "delete"})),
    ("", "pods", (), frozenset({"list", "watch"})),
    ("events.k8s.io", "events", (), frozenset({"create"})),
}
CRD_PERMISSIONS = {
    ("apiextensions.k8s.io", "customresourcedefinitions", CRD_NAMES, frozenset({"get"})),
}
LEASE_PERMISSIONS = {
    ("coordination.k8s.io", "leases", (), frozenset({"create"})),
    ("coordination.k8s.io", "leases", (LEASE_NAME,), frozenset({"get", "update"})),
}

MODES = {
    "default": {},
    "kms": KMS_VALUES,
    "namespaced": NAMESPACED_VALUES,
    "namespaced-kms": deep_merge(NAMESPACED_VALUES, KMS_VALUES),
}


def permissions(role: dict[str, Any]) -> set[tuple[str, str, tuple[str, ...], frozenset[str]]]:
    """Flatten a (Cluster)Role's rules to (group, resource, resourceNames, verbs) tuples."""
    out = set()
    for rule in role.get("rules", []):
        names = tuple(rule.get("resourceNames", ()))
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.add((group, resource, names, frozenset(rule["verbs"])))
    return out


def roles(rendered: Rendered) -> list[dict[str, Any]]:
    return [m.obj for m in rendered if m.kind in ("Role", "ClusterRole")]


# --------------------------------------------------------------------------------------------
# lint


def lint_problems(report: dict[str, Any]) -> list[str]:
    """Errors and warnings of a lint report (info, such as 'icon is recommended', is fine)."""
    return list(report["errors"]) + [
        f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2
    ]


@pytest.mark.parametrize("mode", MODES)
def test_lint_passes_strict(mode: str) -> None:
    report = helm_python.lint(
        CHART_DIR, MODES[mode], strict=True, namespace=RELEASE_NAMESPACE, kube_version="v1.33.0"
    )
    assert report["total_charts_linted"] == 1
    assert lint_problems(report) == []


def test_helm_engine_is_v4() -> None:
    assert helm_python.helm_sdk_version().startswith("v4."), helm_python.helm_sdk_version()


def test_chart_metadata(chart: helm_python.Chart) -> None:
    meta = chart.metadata
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "canton-operator"
    assert meta["appVersion"] == "0.1.0"


def test_app_version_matches_cargo_package_version(chart: helm_python.Chart) -> None:
    cargo = tomllib.loads((REPO_ROOT / "Cargo.toml").read_text())
    assert chart.metadata["appVersion"] == cargo["package"]["version"]


def test_values_schema_is_valid_draft7(chart: helm_python.Chart) -> None:
    import jsonschema

    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    assert chart.schema is not None
    chart.validate_schema(chart.values)  # the defaults themselves pass


# --------------------------------------------------------------------------------------------
# Deployment: default render


def test_default_render_objects(render) -> None:
    rendered = render()
    kinds = sorted((m.kind, m.name) for m in rendered)
    assert kinds == sorted(
        [
            ("Deployment", "canton-operator"),
            ("ServiceAccount", "canton-operator"),
            ("Service", "canton-operator-metrics"),
            ("ClusterRole", "canton-operator-crd-reader"),
            ("ClusterRoleBinding", "canton-operator-crd-reader"),
            ("ClusterRole", "canton-operator"),
            ("ClusterRoleBinding", "canton-operator"),
            ("Role", "canton-operator-leader-election"),
            ("RoleBinding", "canton-operator-leader-election"),
            ("CustomResourceDefinition", "validators.canton-operator.dev"),
            ("CustomResourceDefinition", "validatorkeyrotations.canton-operator.dev"),
        ]
    )


def test_default_render_kms_env_disabled(render) -> None:
    env = render().env
    for name in KMS_ENV:
        assert name in env, f"{name} missing from the operator's env"
        assert isinstance(env[name]["value"], str), env[name]
    assert env["CANTON_TOPOLOGY_KMS_ENABLED"]["value"] == "false"
    assert env["CANTON_TOPOLOGY_KMS_VALUE"]["value"] == ""
    assert env["CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT"]["value"] == ""


def test_default_render_downward_api_env(render) -> None:
    env = render().env
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_default_render_security_context(render) -> None:
    rendered = render()
    pod = rendered.deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = rendered.container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in sc or sc["privileged"] is False


def test_default_render_image_args_ports_probes(render) -> None:
    rendered = render()
    c = rendered.container
    assert c["image"] == "ghcr.io/canton-operator/canton-operator:0.1.0"
    assert rendered.args[0] == "run"
    assert rendered.flag("--metrics-addr") == "0.0.0.0:8080"
    assert rendered.flag("--log-format") in ("text", "json")
    assert rendered.flag("--lease-name") == LEASE_NAME
    assert rendered.flag("--lease-namespace") == RELEASE_NAMESPACE
    assert rendered.flag("--namespace") is None, "all-namespaces mode must not pass --namespace"
    assert rendered.flag("--max-concurrent-rollouts") == "1", "one validator restarts at a time"
    assert c["ports"] == [{"name": "http-metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    assert rendered.deployment["spec"]["replicas"] == 1


def test_operator_runs_as_its_own_service_account(render) -> None:
    rendered = render(KMS_VALUES)
    pod = rendered.deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == rendered.one("ServiceAccount")["metadata"]["name"]
    assert pod["serviceAccountName"] != KMS_SERVICE_ACCOUNT


def test_recommended_labels_and_selectors(render) -> None:
    rendered = render()
    for m in rendered:
        labels = m.obj["metadata"]["labels"]
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
            "app.kubernetes.io/part-of",
            "app.kubernetes.io/component",
            "helm.sh/chart",
        ):
            assert key in labels, f"{m.kind}/{m.name} lacks label {key}"
        assert labels["app.kubernetes.io/instance"] == RELEASE_NAME
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    dep = rendered.deployment
    selector = dep["spec"]["selector"]["matchLabels"]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert "app.kubernetes.io/version" not in selector, "selectors are immutable: no version in them"
    service = rendered.one("Service")
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"] == [
        {"name": "http-metrics", "port": 8080, "targetPort": "http-metrics", "protocol": "TCP"}
    ]


def test_values_are_applied(render) -> None:
    rendered = render(
        {
            "replicas": 3,
            "logFormat": "text",
            "image": {"tag": "0.2.0-rc.1"},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"podAntiAffinity": {}},
            "resources": {"requests": {"cpu": "100m"}},
            "leaderElection": {"leaseName": "my-lease"},
            "metrics": {"service": {"enabled": False}},
            "maxConcurrentRollouts": 0,
        }
    )
    pod = rendered.deployment["spec"]["template"]["spec"]
    assert rendered.flag("--max-concurrent-rollouts") == "0"
    assert rendered.deployment["spec"]["replicas"] == 3
    assert rendered.flag("--log-format") == "text"
    assert rendered.flag("--lease-name") == "my-lease"
    assert rendered.container["image"].endswith(":0.2.0-rc.1")
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert pod["affinity"] == {"podAntiAffinity": {}}
    # Helm coalesces maps: the override wins key by key, the other defaults stay.
    assert rendered.container["resources"] == {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
    assert rendered.of_kind("Service") == []
    lease_role = rendered.one("Role", "canton-operator-leader-election")
    assert ("coordination.k8s.io", "leases", ("my-lease",), frozenset({"get", "update"})) in permissions(
        lease_role
    )


def test_minimum_release_becomes_one_flag(render) -> None:
    assert render().flag("--minimum-release") is None
    only = render({"minimumRelease": {"version": "0.8.0"}})
    assert only.flag("--minimum-release") == "0.8.0"
    dated = render({"minimumRelease": {"version": "0.8.0", "from": "2026-12-15"}})
    assert dated.flag("--minimum-release") == "0.8.0@2026-12-15"
    timed = render({"minimumRelease": {"version": "0.8.0", "from": "2026-12-15T12:00:00Z"}})
    assert timed.flag("--minimum-release") == "0.8.0@2026-12-15T12:00:00Z"


@pytest.mark.parametrize(
    ("minimum", "field"),
    [
        ({"version": "0.8"}, "/minimumRelease/version"),
        ({"version": "v0.8.0"}, "/minimumRelease/version"),
        ({"version": "0.8.0", "from": "15.12.2026"}, "/minimumRelease/from"),
        ({"from": "2026-12-15"}, "/minimumRelease/version"),
        ({"version": "0.8.0", "when": "2026-12-15"}, "when"),
    ],
    ids=["two-parts", "v-prefix", "bad-date", "date-without-version", "unknown-key"],
)
def test_schema_refuses_a_bad_minimum_release(chart, minimum: dict[str, Any], field: str) -> None:
    message = refusal(chart, {"minimumRelease": minimum})
    assert field in message, message


def test_image_digest_wins_over_tag(render) -> None:
    digest = "sha256:" + "a" * 64
    rendered = render({"image": {"tag": "ignored", "digest": digest}})
    assert rendered.container["image"] == f"ghcr.io/canton-operator/canton-operator@{digest}"


def test_operator_service_account_values(render) -> None:
    rendered = render({"serviceAccount": {"annotations": {"example.com/owner": "platform"}}})
    sa = rendered.one("ServiceAccount")
    assert sa["metadata"]["annotations"] == {"example.com/owner": "platform"}

    rendered = render({"serviceAccount": {"create": False, "name": "pre-made"}})
    assert rendered.of_kind("ServiceAccount") == []
    assert rendered.deployment["spec"]["template"]["spec"]["serviceAccountName"] == "pre-made"
    for binding in rendered.of_kind("ClusterRoleBinding") + rendered.of_kind("RoleBinding"):
        assert binding.obj["subjects"] == [
            {"kind": "ServiceAccount", "name": "pre-made", "namespace": RELEASE_NAMESPACE}
        ]


# --------------------------------------------------------------------------------------------
# KMS values -> the seed's three environment variables


def test_kms_enabled_render_has_seed_env(render) -> None:
    env = render(KMS_VALUES).env
    assert env["CANTON_TOPOLOGY_KMS_ENABLED"] == {"name": "CANTON_TOPOLOGY_KMS_ENABLED", "value": "true"}
    assert env["CANTON_TOPOLOGY_KMS_VALUE"] == {"name": "CANTON_TOPOLOGY_KMS_VALUE", "value": KMS_VALUE}
    assert env["CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT"] == {
        "name": "CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT",
        "value": KMS_SERVICE_ACCOUNT,
    }


@pytest.mark.parametrize(
    "value",
    [
        KMS_VALUE,
        '{ type = "gcp", location-id = "us-east1", project-id = "p", key-ring-id = "r" }',
        '{\n  type = "aws"\n  region = "eu-west-1"\n  # a comment: with "quotes"\n}',
        "{ type = driver, name = \"x\", config = { path = \"C:\\\\keys\", tag = '#1' } }",
        "{ type = \"aws\", region = \"eu-west-1\", note = \"ünïcödé & <tags> {{ not a template }}\" }",
    ],
    ids=["seed", "gcp", "multiline", "backslash", "unicode-and-braces"],
)
def test_kms_value_reaches_env_verbatim(render, value: str) -> None:
    values = deep_merge(KMS_VALUES, {"kms": {"value": value}})
    assert render(values).env["CANTON_TOPOLOGY_KMS_VALUE"]["value"] == value


def test_kms_notes_name_the_service_account(render) -> None:
    notes = render(KMS_VALUES).notes
    assert KMS_SERVICE_ACCOUNT in notes
    assert "ENABLED" in notes


# --------------------------------------------------------------------------------------------
# values.schema.json refusals (the same check `helm install` / `helm template` run)


def refusal(chart: helm_python.Chart, values: dict[str, Any]) -> str:
    """Assert that Helm refuses `values` when rendering (as install does); return the message."""
    with pytest.raises(helm_python.HelmValuesError) as render_err:
        chart.render(values, name=RELEASE_NAME, namespace=RELEASE_NAMESPACE)
    with pytest.raises(helm_python.HelmValuesError) as validate_err:
        chart.validate_schema(values)
    report = helm_python.lint(CHART_DIR, values, namespace=RELEASE_NAMESPACE)
    assert report["errors"], f"lint accepted {values}"
    return str(render_err.value) + "\n" + str(validate_err.value)


@pytest.mark.parametrize(
    "kms",
    [
        {"enabled": True, "value": KMS_VALUE},  # serviceAccount left at its default ""
        {"enabled": True, "value": KMS_VALUE, "serviceAccount": ""},
        {"enabled": True, "value": KMS_VALUE, "serviceAccount": None},  # removes the key: missing
    ],
    ids=["default-empty", "empty", "missing"],
)
def test_schema_refuses_kms_without_service_account(chart, kms: dict[str, Any]) -> None:
    message = refusal(chart, {"kms": kms})
    assert "serviceAccount" in message, message
    assert "/kms" in message


@pytest.mark.parametrize(
    "kms",
    [
        {"enabled": True, "serviceAccount": KMS_SERVICE_ACCOUNT},
        {"enabled": True, "serviceAccount": KMS_SERVICE_ACCOUNT, "value": ""},
        {"enabled": True, "serviceAccount": KMS_SERVICE_ACCOUNT, "value": None},
        {"enabled": True, "serviceAccount": KMS_SERVICE_ACCOUNT, "value": "  \n\t"},
    ],
    ids=["default-empty", "empty", "missing", "whitespace"],
)
def test_schema_refuses_kms_without_value(chart, kms: dict[str, Any]) -> None:
    message = refusal(chart, {"kms": kms})
    assert re.search(r"/kms/value|property 'value'", message), message


def test_schema_refuses_kms_without_both_names_both(chart) -> None:
    message = refusal(chart, {"kms": {"enabled": True}})
    assert "serviceAccount" in message and "/kms/value" in message, message


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"kms": {"enabled": "true", "value": KMS_VALUE, "serviceAccount": "a"}}, "/kms/enabled"),
        ({"kms": {"enabled": True, "value": KMS_VALUE, "serviceaccount": "a"}}, "serviceaccount"),
        ({"kms": {"enabled": True, "value": KMS_VALUE, "serviceAccount": "Not_A_Name"}}, "/kms/serviceAccount"),
        ({"kms": {"enabled": False, "value": 42}}, "/kms/value"),
        ({"replicas": "two"}, "/replicas"),
        ({"replicas": -1}, "/replicas"),
        ({"logFormat": "xml"}, "/logFormat"),
        ({"watchNamespace": "Team_A"}, "/watchNamespace"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"serviceAccount": {"create": "yes"}}, "/serviceAccount/create"),
        ({"metrics": {"service": {"port": 70000}}}, "/metrics/service/port"),
        ({"replica": 2}, "replica"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_schema_validates_types(chart, values: dict[str, Any], field: str) -> None:
    message = refusal(chart, values)
    assert field in message, message


def test_schema_accepts_kms_disabled_with_leftover_values(render) -> None:
    env = render({"kms": {"enabled": False, "value": KMS_VALUE, "serviceAccount": "x"}}).env
    assert env["CANTON_TOPOLOGY_KMS_ENABLED"]["value"] == "false"


def test_template_guard_when_schema_is_skipped(tmp_path: Path) -> None:
    """`--skip-schema-validation` must still not deploy an operator that refuses to provision."""
    copy_dir = tmp_path / "canton-operator"
    shutil.copytree(CHART_DIR, copy_dir)
    (copy_dir / "values.schema.json").unlink()
    with helm_python.Chart.load(copy_dir) as no_schema:
        assert no_schema.schema is None
        with pytest.raises(helm_python.HelmRenderError, match="kms.serviceAccount is required"):
            no_schema.render({"kms": {"enabled": True, "value": KMS_VALUE}})
        with pytest.raises(helm_python.HelmRenderError, match="kms.value is required"):
            no_schema.render({"kms": {"enabled": True, "serviceAccount": KMS_SERVICE_ACCOUNT, "value": " "}})
        rendered = render_chart(no_schema, KMS_VALUES)
        assert rendered.env["CANTON_TOPOLOGY_KMS_ENABLED"]["value"] == "true"


# --------------------------------------------------------------------------------------------
# RBAC


@pytest.mark.parametrize("mode", MODES)
def test_rbac_has_no_wildcards_and_no_secrets(render, mode: str) -> None:
    for role in roles(render(MODES[mode])):
        for rule in role["rules"]:
            for key in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert "*" not in rule.get(key, []), f"wildcard in {role['metadata']['name']}: {rule}"
                assert not any("*" in item for item in rule.get(key, [])), rule
            assert not any(r == "secrets" or r.startswith("secrets/") for r in rule["resources"]), rule
            assert "escalate" not in rule["verbs"] and "bind" not in rule["verbs"] and "impersonate" not in rule["verbs"]


@pytest.mark.parametrize("mode", MODES)
def test_rbac_leases_only_in_namespaced_role_of_release_namespace(render, mode: str) -> None:
    rendered = render(MODES[mode])
    for role in rendered.of_kind("ClusterRole"):
        assert not any(p[1] == "leases" for p in permissions(role.obj)), role.name
    lease_roles = [m for m in rendered.of_kind("Role") if any(p[1] == "leases" for p in permissions(m.obj))]
    assert [m.name for m in lease_roles] == ["canton-operator-leader-election"]
    lease_role = lease_roles[0]
    assert lease_role.namespace == RELEASE_NAMESPACE
    assert permissions(lease_role.obj) == LEASE_PERMISSIONS
    binding = rendered.one("RoleBinding", "canton-operator-leader-election")
    assert binding["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "canton-operator-leader-election",
    }


def test_rbac_cluster_mode_is_exactly_the_contract(render) -> None:
    rendered = render()
    crd_reader = rendered.one("ClusterRole", "canton-operator-crd-reader")
    assert permissions(crd_reader) == CRD_PERMISSIONS
    workloads = rendered.one("ClusterRole", "canton-operator")
    assert permissions(workloads) == WORKLOAD_PERMISSIONS
    assert {m.kind for m in rendered if m.name == "canton-operator" and "Role" in m.kind} == {
        "ClusterRole",
        "ClusterRoleBinding",
    }


def test_rbac_namespaced_mode_uses_role_in_watched_namespace(render) -> None:
    rendered = render(NAMESPACED_VALUES)
    assert rendered.flag("--namespace") == "team-a"

    role = rendered.one("Role", "canton-operator")
    assert role["metadata"]["namespace"] == "team-a"
    assert permissions(role) == WORKLOAD_PERMISSIONS
    binding = rendered.one("RoleBinding", "canton-operator")
    assert binding["metadata"]["namespace"] == "team-a"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "canton-operator"}
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "canton-operator", "namespace": RELEASE_NAMESPACE}
    ]

    # Only the CRD read stays cluster-wide.
    cluster_roles = rendered.of_kind("ClusterRole")
    assert [m.name for m in cluster_roles] == ["canton-operator-crd-reader"]
    assert permissions(cluster_roles[0].obj) == CRD_PERMISSIONS
    assert [m.name for m in rendered.of_kind("ClusterRoleBinding")] == ["canton-operator-crd-reader"]
    assert "team-a" in rendered.notes


@pytest.mark.parametrize("mode", MODES)
def test_rbac_bindings_point_at_rendered_roles_and_the_operator(render, mode: str) -> None:
    rendered = render(MODES[mode])
    sa_name = rendered.deployment["spec"]["template"]["spec"]["serviceAccountName"]
    role_keys = {(m.kind, m.name, m.namespace) for m in rendered if m.kind in ("Role", "ClusterRole")}
    bindings = rendered.of_kind("RoleBinding") + rendered.of_kind("ClusterRoleBinding")
    assert len(bindings) == len(role_keys) == 3
    for b in bindings:
        ref = b.obj["roleRef"]
        ns = b.namespace if ref["kind"] == "Role" else None
        assert (ref["kind"], ref["name"], ns) in role_keys, b.obj
        assert b.obj["subjects"] == [{"kind": "ServiceAccount", "name": sa_name, "namespace": RELEASE_NAMESPACE}]


@pytest.mark.parametrize("mode", ["default", "namespaced"])
def test_rbac_every_rule_says_why(render, mode: str) -> None:
    lines = render(MODES[mode]).text("rbac.yaml").splitlines()
    rule_starts = [i for i, line in enumerate(lines) if line.strip() == "- apiGroups:"]
    assert len(rule_starts) == len(WORKLOAD_PERMISSIONS) + len(CRD_PERMISSIONS) + len(LEASE_PERMISSIONS)
    for i in rule_starts:
        assert lines[i - 1].strip().startswith("# "), f"rule at line {i + 1} has no comment: {lines[i - 1]!r}"


def test_rbac_can_be_disabled(render) -> None:
    rendered = render({"rbac": {"create": False}})
    assert not [m for m in rendered if m.kind.endswith(("Role", "RoleBinding"))]


# --------------------------------------------------------------------------------------------
# Manifests are valid Kubernetes objects (offline OpenAPI schemas, strict: unknown fields refused)


def _chart_kube_floor() -> str:
    """The oldest Kubernetes the chart declares (`kubeVersion: ">=1.N.0-0"`), as `1.N.0`."""
    declared = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["kubeVersion"]
    match = re.fullmatch(r">=(\d+\.\d+\.\d+)-0", declared)
    assert match, declared
    return match.group(1)


# The floor the chart declares, the release the project is checked on, and the newest.
@pytest.mark.parametrize("kube_version", [_chart_kube_floor(), "1.33.0", "1.37.0"])
@pytest.mark.parametrize("mode", MODES)
def test_rendered_manifests_are_valid_kubernetes(render, mode: str, kube_version: str) -> None:
    for m in render(MODES[mode]):
        try:
            kubernetes_validate.validate(m.obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{m.source}: {m.kind}/{m.name}: {err.message} at {list(err.absolute_path)}")


def test_notes_explain_creating_and_reading_a_validator(render) -> None:
    notes = render().notes
    assert "kind: Validator" in notes
    assert "apiVersion: canton-operator.dev/v1alpha1" in notes
    assert "kubectl apply" in notes
    assert "get validators" in notes
    assert ".status.conditions" in notes


def test_readme_documents_every_value(chart: helm_python.Chart) -> None:
    readme = (CHART_DIR / "README.md").read_text()
    opaque = {"podSecurityContext", "securityContext", "resources"}  # documented as whole objects

    def leaves(values: dict[str, Any], prefix: str = "") -> list[str]:
        out = []
        for key, value in values.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value and path not in opaque:
                out += leaves(value, path + ".")
            else:
                out.append(path)
        return out

    missing = [p for p in leaves(chart.values) if f"`{p}`" not in readme]
    assert not missing, f"README.md values table lacks: {missing}"


# --------------------------------------------------------------------------------------------
# CRD: the chart ships exactly what `canton-operator crd` generates (deploy/crd.yaml), as a template
# (templates/crds.yaml, generated by scripts/sync-chart-crd) so that helm upgrade applies it; see test_upgrade.py


def chart_crds(rendered: Rendered) -> list[dict[str, Any]]:
    """The CRDs of a render (templates/crds.yaml), without the chart's labels and annotations."""
    out = []
    for m in rendered.of_kind("CustomResourceDefinition"):
        assert m.source.endswith("/templates/crds.yaml"), m.source
        obj = dict(m.obj)
        obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in ("labels", "annotations")}
        out.append(obj)
    return out


def test_chart_crd_is_generated_from_deploy_crd() -> None:
    assert DEPLOY_CRD.is_file(), (
        "deploy/crd.yaml does not exist: generate it with `cargo run --quiet -- crd > deploy/crd.yaml`, "
        "then run scripts/sync-chart-crd"
    )
    assert CHART_CRD.is_file(), f"{CHART_CRD.relative_to(REPO_ROOT)} missing: run scripts/sync-chart-crd"
    check = subprocess.run([str(REPO_ROOT / "scripts" / "sync-chart-crd"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, "chart CRD template is stale; run scripts/sync-chart-crd\n" + check.stderr[-4000:]


def test_chart_renders_exactly_deploy_crd(render) -> None:
    """What Helm applies is deploy/crd.yaml, document for document, plus labels and annotations."""
    generated = [d for d in yaml.safe_load_all(DEPLOY_CRD.read_text()) if d]
    assert chart_crds(render()) == generated


def test_chart_crd_equals_binary_output(render) -> None:
    if not (OPERATOR_BINARY.is_file() and os.access(OPERATOR_BINARY, os.X_OK)):
        pytest.skip(f"{OPERATOR_BINARY} is not built (cargo build); compared with deploy/crd.yaml only")
    result = subprocess.run([str(OPERATOR_BINARY), "crd"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"canton-operator crd failed ({result.returncode}): {result.stderr[-2000:]}"
    generated = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert generated, f"`canton-operator crd` printed no YAML document (is {OPERATOR_BINARY} stale? cargo build)"
    assert chart_crds(render()) == generated, (
        "chart CRD differs from `canton-operator crd`: regenerate deploy/crd.yaml "
        "(cargo run --quiet -- crd > deploy/crd.yaml) and run scripts/sync-chart-crd"
    )


def test_chart_crd_is_the_validator_contract(chart: helm_python.Chart, render) -> None:
    assert chart.crds == [], "crds/ must stay empty: Helm installs it unowned and never upgrades it"
    docs = chart_crds(render())
    by_name = {d["metadata"]["name"]: d for d in docs}
    assert "validators.canton-operator.dev" in by_name, sorted(by_name)
    for doc in docs:
        kubernetes_validate.validate(doc, "1.33.0", strict=True)
    crd = by_name["validators.canton-operator.dev"]
    spec = crd["spec"]
    assert spec["group"] == GROUP
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "Validator"
    assert spec["names"]["plural"] == "validators"
    version = next(v for v in spec["versions"] if v["name"] == "v1alpha1")
    assert version["served"] and version["storage"]
    assert "status" in version.get("subresources", {})
    # Every CRD the chart ships may be read by the operator (resourceNames of the CRD rule).
    assert set(by_name) <= set(CRD_NAMES), sorted(by_name)


SYNC_TARGET = Path("charts") / "canton-operator" / "templates" / "crds.yaml"


def sync_repo(tmp_path: Path, crd_text: str) -> tuple[Path, str]:
    """A scratch repository with scripts/sync-chart-crd, deploy/crd.yaml = crd_text, and a copy of the chart."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    (root / "deploy").mkdir()
    shutil.copytree(CHART_DIR, root / "charts" / "canton-operator")
    (root / SYNC_TARGET).unlink()
    shutil.copy2(REPO_ROOT / "scripts" / "sync-chart-crd", root / "scripts" / "sync-chart-crd")
    (root / "deploy" / "crd.yaml").write_text(crd_text)
    return root, str(root / "scripts" / "sync-chart-crd")


SCRATCH_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.example.dev
spec:
  group: example.dev
  names: {kind: Thing, plural: things}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: 'Go template text stays text: {{ .Values.crds.enabled }} {{- fail "no" }}'
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    example.dev/owner: team
  labels:
    example.dev/tier: core
  name: others.example.dev
spec:
  group: example.dev
  names: {kind: Other, plural: others}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object}
"""


def test_sync_chart_crd_script(tmp_path: Path) -> None:
    """scripts/sync-chart-crd generates the template from deploy/crd.yaml, and --check detects drift."""
    root, script = sync_repo(tmp_path, SCRATCH_CRD)
    check = subprocess.run([script, "--check"], capture_output=True, text=True)
    assert check.returncode == 1, check
    copy = subprocess.run([script], capture_output=True, text=True)
    assert copy.returncode == 0, copy
    assert subprocess.run([script, "--check"], capture_output=True).returncode == 0
    (root / "deploy" / "crd.yaml").write_text(SCRATCH_CRD.replace("scope: Cluster", "scope: Namespaced"))
    drift = subprocess.run([script, "--check"], capture_output=True, text=True)
    assert drift.returncode == 1 and "scope: Namespaced" in drift.stderr, drift
    assert subprocess.run([script, "--bogus"], capture_output=True).returncode == 2


def test_sync_chart_crd_template_renders_the_crds_verbatim(tmp_path: Path) -> None:
    """The generated template, rendered by Helm: the documents of deploy/crd.yaml unchanged (template syntax in
    them included), the chart's labels and the keep annotation merged into the metadata they already have."""
    root, script = sync_repo(tmp_path, SCRATCH_CRD)
    assert subprocess.run([script], capture_output=True).returncode == 0
    expected = [d for d in yaml.safe_load_all(SCRATCH_CRD) if d]
    with helm_python.Chart.load(root / "charts" / "canton-operator") as scratch:
        for values, keep in (({}, True), ({"crds": {"keep": False}}, False)):
            rendered = render_chart(scratch, values)
            crds = [m.obj for m in rendered.of_kind("CustomResourceDefinition")]
            assert [c["spec"] for c in crds] == [e["spec"] for e in expected]
            for crd, want in zip(crds, expected):
                meta = crd["metadata"]
                assert meta["name"] == want["metadata"]["name"]
                assert want["metadata"].get("labels", {}).items() <= meta["labels"].items()
                assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"
                annotations = meta.get("annotations") or {}
                assert want["metadata"].get("annotations", {}).items() <= annotations.items()
                assert (annotations.get("helm.sh/resource-policy") == "keep") is keep, annotations
        assert render_chart(scratch, {"crds": {"enabled": False}}).of_kind("CustomResourceDefinition") == []


def test_sync_chart_crd_refuses_what_it_cannot_template(tmp_path: Path) -> None:
    for text in ("", "# only a comment\n", "apiVersion: v1\nkind: X\n", SCRATCH_CRD.replace("  labels:\n    example.dev/tier: core\n", "  labels: {a: b}\n")):
        _, script = sync_repo(tmp_path / str(abs(hash(text))), text)
        result = subprocess.run([script], capture_output=True, text=True)
        assert result.returncode == 1, (text, result)


def test_the_operator_tells_its_backup_jobs_its_own_image(render) -> None:
    """The identity backup CronJobs run the operator's image: whatever the chart deploys, digest or tag."""
    env = render({"image": {"repository": "registry.example/canton-operator", "tag": "dev"}}).env
    assert env["CANTON_OPERATOR_IMAGE"]["value"] == "registry.example/canton-operator:dev"
    env = render({"image": {"repository": "registry.example/op", "digest": "sha256:" + "a" * 64}}).env
    assert env["CANTON_OPERATOR_IMAGE"]["value"] == "registry.example/op@sha256:" + "a" * 64
