"""The operator's own monitoring in the chart, rendered with the real Helm engine: the alerts
(files/prometheus-rules.yaml, which promtool checks in tests/alerts.rs) as a PrometheusRule, the fleet
dashboard as a Grafana sidecar ConfigMap, and a ServiceMonitor for the operator; none of them by default."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import CHART_DIR, RELEASE_NAMESPACE

RULES_FILE = CHART_DIR / "files" / "prometheus-rules.yaml"
DASHBOARD_FILE = CHART_DIR / "files" / "grafana-dashboard.json"
DEFAULT_RUNBOOKS = "https://github.com/canton-operator/canton-operator/blob/main/docs/troubleshooting.md"

ALL_ON = {
    "monitoring": {"prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}},
    "metrics": {"serviceMonitor": {"enabled": True}},
}


def test_nothing_is_rendered_by_default(render) -> None:
    rendered = render()
    assert not rendered.of_kind("PrometheusRule")
    assert not rendered.of_kind("ServiceMonitor")
    assert not [m for m in rendered.of_kind("ConfigMap") if "dashboard" in m.name]


def test_the_prometheus_rule_is_the_tested_rule_file(render) -> None:
    rule = render(ALL_ON).one("PrometheusRule")
    assert rule["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert rule["metadata"]["labels"]["app.kubernetes.io/name"] == "canton-operator"
    assert rule["spec"]["groups"] == yaml.safe_load(RULES_FILE.read_text())["groups"]
    alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert len(alerts) == 8, alerts
    # Alert templates reach Prometheus as written, not evaluated by Helm.
    assert "{{ $labels.validator }}" in json.dumps(rule["spec"])


def test_labels_and_runbook_base_can_be_set(render) -> None:
    values = {
        "monitoring": {
            "prometheusRule": {
                "enabled": True,
                "labels": {"release": "kube-prometheus-stack"},
                "runbookBaseUrl": "https://wiki.example/canton/troubleshooting",
            }
        }
    }
    rule = render(values).one("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    urls = [r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert all(u.startswith("https://wiki.example/canton/troubleshooting#") for u in urls), urls


def test_the_dashboard_is_a_sidecar_config_map(render) -> None:
    values = {"monitoring": {"grafanaDashboard": {
        "enabled": True, "namespace": "grafana", "annotations": {"grafana_folder": "Canton"},
    }}}
    cm = render(values).one("ConfigMap", "canton-operator-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "grafana"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Canton"}
    dashboard = json.loads(cm["data"]["canton-operator.json"])
    assert dashboard == json.loads(DASHBOARD_FILE.read_text())
    assert dashboard["uid"] == "canton-operator-fleet"
    # Every panel asks the data source the user picks.
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_operator_s_service_monitor_selects_its_metrics_service(render) -> None:
    rendered = render({"metrics": {"serviceMonitor": {"enabled": True, "interval": "30s"}}})
    monitor = rendered.one("ServiceMonitor")
    service = rendered.one("Service", "canton-operator-metrics")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    port = monitor["spec"]["endpoints"][0]
    assert port == {"port": "http-metrics", "path": "/metrics", "interval": "30s"}
    assert any(p["name"] == "http-metrics" for p in service["spec"]["ports"])
    # No metrics Service, no ServiceMonitor.
    off = render({"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}})
    assert not off.of_kind("ServiceMonitor")


@pytest.mark.parametrize(
    "values",
    [
        {"monitoring": {"prometheusRule": {"runbookBaseUrl": "wiki/troubleshooting"}}},
        {"monitoring": {"grafanaDashboard": {"labels": {"grafana_dashboard": 1}}}},
        {"metrics": {"serviceMonitor": {"interval": "30 seconds"}}},
    ],
)
def test_the_schema_refuses_wrong_monitoring_values(chart, values) -> None:
    import helm_python

    with pytest.raises(helm_python.HelmValuesError):
        chart.render(values, name="canton-operator", namespace=RELEASE_NAMESPACE, is_install=True)
