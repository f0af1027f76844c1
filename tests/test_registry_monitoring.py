"""Registry VM alerts under mocks: one email channel, a disk-usage policy on the metric COS's
node-problem-detector exports, and a private uptime check on the registry port with its policy."""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from components.config_schema import SettingsError
from components.registry_monitoring import disk_metric_absent_query, disk_usage_query
from tests.harness import StackRun, run_stack

NS = "image-sharing"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
CHECK = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
FIREWALL = "gcp:compute/firewall:Firewall"


def with_alerts(vm: dict[str, Any] | None = None, **alerts: Any) -> StackRun:
    return run_stack("dev", overrides={f"{NS}:alerts": alerts, f"{NS}:registryVm": vm or {}})


def test_no_email_no_monitoring(dev: StackRun) -> None:
    assert not [r for r in dev.resources if r.type.startswith(("gcp:monitoring", "gcp:servicedirectory"))]
    assert "monitoring.googleapis.com" not in dev.outputs["enabledApis"]


def test_disk_usage_alert_to_the_email_channel() -> None:
    run = with_alerts(email="ops@example.com", diskUsagePercent=85)
    channel = run.one(CHANNEL).inputs
    assert channel["type"] == "email" and channel["labels"] == {"email_address": "ops@example.com"}
    disk = run.one(POLICY, "registry-disk-usage").inputs
    assert disk["notificationChannels"] == ["registry-alerts-email-id"]
    query = disk["conditions"][0]["conditionPrometheusQueryLanguage"]["query"]
    assert "compute_googleapis_com:guest_disk_bytes_used" in query and query.endswith("> 85")
    assert 'device_name=~"sdb|nvme0n2"' in query and 'state="used"' in query
    assert {"monitoring.googleapis.com", "servicedirectory.googleapis.com"} <= set(run.outputs["enabledApis"])
    assert set(run.outputs["registryAlerts"]) == {"disk", "down"}


def test_registry_down_is_a_private_uptime_check_on_the_registry_port() -> None:
    run = with_alerts(email="ops@example.com", registryDownMinutes=3)
    check = run.one(CHECK).inputs
    assert check["checkerType"] == "VPC_CHECKERS" and check["tcpCheck"] == {"port": 5000}
    assert check["monitoredResource"] == {"type": "servicedirectory_service", "labels": {
        "project_id": "image-sharing-dev", "location": "asia-northeast3", "namespace_name": "registry",
        "service_name": "registry"}}
    endpoint = run.one("gcp:servicedirectory/endpoint:Endpoint").inputs
    assert endpoint["address"] == "10.20.0.2" and endpoint["port"] == 5000
    assert endpoint["network"] == "projects/123456789012/locations/global/networks/registry-network-id"
    down = run.one(POLICY, "registry-down").inputs["conditions"][0]["conditionThreshold"]
    assert 'metric.label.check_id="registry-port-check-check-id"' in down["filter"]
    assert down["duration"] == "180s" and down["comparison"] == "COMPARISON_LT"
    rule = run.one(FIREWALL, "registry-uptime-checks").inputs
    assert rule["sourceRanges"] == ["35.199.192.0/19"] and rule["allows"] == [{"protocol": "tcp", "ports": ["5000"]}]
    roles = {m.inputs["role"] for m in run.resources if "monitoring-agent" in m.name and "role" in m.inputs}
    assert roles == {"roles/servicedirectory.viewer", "roles/servicedirectory.pscAuthorizedService"}


def test_gcs_storage_has_no_disk_alert() -> None:
    run = with_alerts(vm={"storage": "gcs", "bucketName": "acme-registry-images"}, email="ops@example.com")
    assert [p.name for p in run.of_type(POLICY)] == ["registry-down"]


def test_bad_alert_values_are_refused() -> None:
    with pytest.raises(SettingsError) as err:
        with_alerts(email="not-an-address", diskUsagePercent=100)
    assert "alerts.email" in str(err.value) and "alerts.diskUsagePercent" in str(err.value)


def test_disk_query_selects_the_instances_and_the_data_disk() -> None:
    query = disk_usage_query(["111", "222"], 80)
    assert query.startswith("100 * sum by (instance_id, device_name) (compute_googleapis_com:guest_disk_bytes_used{")
    assert 'instance_id=~"111|222"' in query and query.endswith(" > 80")


def test_disk_query_is_valid_promql() -> None:
    import promql_parser

    parsed = promql_parser.parse(disk_usage_query(["4000000000000000001"], 80))
    assert "compute_googleapis_com:guest_disk_bytes_used" in str(parsed)
    with pytest.raises(Exception, match="parenthesis"):
        promql_parser.parse(disk_usage_query(["1"], 80).replace(") /", " /"))


def test_missing_data_alerts_too() -> None:
    """A silent agent or uptime check is no healthy registry: each policy also fires on absence."""
    run = with_alerts(email="ops@example.com")
    disk = run.one(POLICY, "registry-disk-usage").inputs
    assert disk["combiner"] == "OR" and len(disk["conditions"]) == 2
    absent = disk["conditions"][1]["conditionPrometheusQueryLanguage"]
    instance_id = str(4_000_000_000_000_000_000 + zlib.crc32(b"registry-0"))  # what the mocks answer
    assert absent["query"] == disk_metric_absent_query([instance_id])
    assert absent["query"].startswith("absent(compute_googleapis_com:guest_disk_bytes_used{")
    assert 'state="used"' in absent["query"] and absent["duration"] == "1800s"
    down = run.one(POLICY, "registry-down").inputs
    assert down["combiner"] == "OR" and len(down["conditions"]) == 2
    missing = down["conditions"][1]["conditionAbsent"]
    assert missing["filter"] == down["conditions"][0]["conditionThreshold"]["filter"]
    assert 'metric.type="monitoring.googleapis.com/uptime_check/check_passed"' in missing["filter"]
    assert missing["duration"] == "1800s"


def test_absence_query_is_valid_promql() -> None:
    import promql_parser

    parsed = promql_parser.parse(disk_metric_absent_query(["4000000000000000001"]))
    assert isinstance(parsed, promql_parser.Call) and parsed.func.name == "absent"
    with pytest.raises(Exception, match=r"parenthesis|unexpected|expected"):
        promql_parser.parse(disk_metric_absent_query(["1"])[:-1])
