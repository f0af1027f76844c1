"""Registry VM alerts under mocks: one email channel, a disk-usage policy on the metric COS's
node-problem-detector exports, and a private uptime check on the registry port with its policy."""

from __future__ import annotations

import zlib
from functools import cache
from typing import Any

import pytest
import yaml

from components.registry_monitoring import disk_metric_absent_query, disk_usage_query
from stackconfig.reader import SettingsError
from tests.harness import ROOT, StackRun, run_stack

NS = "image-sharing"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
CHECK = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
FIREWALL = "gcp:compute/firewall:Firewall"


def with_alerts(vm: dict[str, Any] | None = None, secrets: dict[str, str] | None = None, **alerts: Any) -> StackRun:
    return run_stack("dev", overrides={f"{NS}:alerts": alerts, f"{NS}:registryVm": vm or {}}, secrets=secrets)


TLS = {f"{NS}:registryTlsCert": "test-cert", f"{NS}:registryTlsKey": "test-key"}
INTERNAL_GROUP = {"mode": "group", "storage": "gcs", "bucketName": "acme-registry-dev",
                  "group": {"clientRanges": ["10.8.0.0/16"]}}
EXTERNAL_GROUP = {"mode": "group", "storage": "gcs", "bucketName": "acme-registry-dev",
                  "group": {"loadBalancer": "external", "domain": "registry.example.com",
                            "allowedSourceRanges": ["198.51.100.0/24"]}}
# Every shape that builds alerts: (registryVm, secrets).
SHAPE_CONFIGS: dict[str, tuple[dict[str, Any], dict[str, str] | None]] = {
    "single-disk": ({}, None),
    "single-gcs": ({"storage": "gcs", "bucketName": "acme-registry-images", "instances": 2}, None),
    "group-internal": (INTERNAL_GROUP, TLS),
    "group-external": (EXTERNAL_GROUP, None),
}
SHAPES = list(SHAPE_CONFIGS)


@cache
def shape_run(shape: str) -> StackRun:
    vm, secrets = SHAPE_CONFIGS[shape]
    return with_alerts(vm, secrets, email="ops@example.com")


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


def test_gcs_storage_watches_the_bucket_instead_of_a_disk() -> None:
    run = with_alerts(vm={"storage": "gcs", "bucketName": "acme-registry-images"}, email="ops@example.com",
                      bucketSizeGb=20)
    assert sorted(p.name for p in run.of_type(POLICY)) == ["registry-bucket-size", "registry-down"]
    bucket = run.one(POLICY, "registry-bucket-size").inputs["conditions"][0]["conditionThreshold"]
    assert bucket["filter"] == ('metric.type="storage.googleapis.com/storage/total_bytes" AND '
                                'resource.type="gcs_bucket" AND resource.label.bucket_name="acme-registry-images"')
    # GB as the key, the doc and the display name say: 10^9 bytes (20 GiB would be 21.47 GB)
    assert bucket["thresholdValue"] == 20_000_000_000 and bucket["comparison"] == "COMPARISON_GT"
    policy = run.one(POLICY, "registry-bucket-size").inputs
    assert policy["displayName"] == "Registry bucket over 20 GB"
    assert set(run.outputs["registryAlerts"]) == {"bucket", "down"}


def test_group_internal_probes_the_load_balancer_for_a_healthy_backend() -> None:
    run = shape_run("group-internal")
    assert sorted(p.name for p in run.of_type(POLICY)) == ["registry-bucket-size", "registry-down"]
    endpoint = run.one("gcp:servicedirectory/endpoint:Endpoint")
    assert endpoint.name == "registry-lb-endpoint"
    assert endpoint.inputs["address"] == "10.20.0.100" and endpoint.inputs["port"] == 5000  # the ILB's address
    check = run.one(CHECK).inputs
    # GET / through the load balancer: 200 only from a registry whose storage answers (TLS on the VMs).
    assert "tcpCheck" not in check and check["httpCheck"] == {
        "port": 5000, "path": "/", "requestMethod": "GET", "useSsl": True, "validateSsl": False,
        "acceptedResponseStatusCodes": [{"statusValue": 200}]}
    down = run.one(POLICY, "registry-down").inputs["conditions"]
    assert [c["displayName"] for c in down] == ["no healthy backend behind the load balancer for 5 min",
                                                "registry check not reporting for 30 min"]
    # the private checkers reach the group's VMs through the load balancer
    assert run.one(FIREWALL, "registry-uptime-checks").inputs["sourceRanges"] == ["35.199.192.0/19"]


def test_group_external_watches_the_load_balancers_own_answers() -> None:
    run = shape_run("group-external")
    assert sorted(p.name for p in run.of_type(POLICY)) == ["registry-bucket-size", "registry-down",
                                                           "registry-errors"]
    assert not run.of_type(CHECK) and not run.of_type("gcp:servicedirectory/endpoint:Endpoint")
    # no private checker probes anything, so none is admitted to the registry port
    assert not [r for r in run.of_type(FIREWALL) if r.name.startswith("registry-uptime-checks")]
    rule = "registry-https-5d1e9b0"  # the forwarding rule's auto-generated name (mocks)
    down = run.one(POLICY, "registry-down").inputs["conditions"][0]["conditionThreshold"]
    assert down["filter"] == ('metric.type="loadbalancing.googleapis.com/https/request_count" AND '
                              f'resource.type="https_lb_rule" AND resource.label.forwarding_rule_name="{rule}" '
                              "AND metric.label.response_code=503")
    # request_count is a DELTA metric: the whole window summed, the first evaluation over the threshold fires
    assert down["aggregations"] == [{"alignmentPeriod": "300s", "perSeriesAligner": "ALIGN_DELTA",
                                     "crossSeriesReducer": "REDUCE_SUM",
                                     "groupByFields": ["resource.label.forwarding_rule_name"]}]
    assert down["thresholdValue"] == 0 and down["duration"] == "0s" and down["comparison"] == "COMPARISON_GT"
    errors = run.one(POLICY, "registry-errors").inputs["conditions"][0]["conditionThreshold"]
    assert errors["filter"].endswith("AND metric.label.response_code_class=500")
    assert errors["denominatorFilter"] == errors["filter"].removesuffix(" AND metric.label.response_code_class=500")
    assert errors["thresholdValue"] == 0.05 and errors["duration"] == "0s"
    assert errors["aggregations"] == errors["denominatorAggregations"] == down["aggregations"]
    assert set(run.outputs["registryAlerts"]) == {"bucket", "down", "errors"}


def fires(condition: dict[str, Any], numerator: dict[int, float], denominator: dict[int, float] | None = None,
          minutes: int = 30) -> bool:
    """Cloud Monitoring's threshold evaluation, as its docs describe it, for a DELTA metric with one point
    per minute that saw requests (none otherwise): at each minute the aligner looks back one alignment
    period (no point in it: no value, so no violation); the condition fires once every evaluation over
    the last `duration` was a violation."""
    [aggregation] = condition["aggregations"]
    period = int(aggregation["alignmentPeriod"].removesuffix("s")) // 60
    duration = int(condition["duration"].removesuffix("s")) // 60

    def aligned(points: dict[int, float], now: int) -> float | None:
        window = [v for t, v in points.items() if now - period < t <= now]
        if not window:
            return None
        total = sum(window)
        return total / (period * 60) if aggregation["perSeriesAligner"] == "ALIGN_RATE" else total

    def violated(now: int) -> bool:
        value = aligned(numerator, now)
        if value is not None and denominator is not None:
            whole = aligned(denominator, now)
            value = value / whole if whole else None
        return value is not None and value > condition["thresholdValue"]

    return any(all(violated(now - back) for back in range(duration + 1)) for now in range(minutes))


def test_a_503_now_and_then_fires_the_no_backend_alert() -> None:
    """An idle registry's users meet the 503s a few times in the window, not every minute."""
    down = shape_run("group-external").one(POLICY, "registry-down").inputs["conditions"][0]["conditionThreshold"]
    assert fires(down, {3: 1, 6: 2})
    assert fires(down, {10: 1})
    assert not fires(down, {})  # no request at all: no series, no alert (docs/self-hosted-registry.md)


def test_a_5xx_share_over_the_window_fires_the_errors_alert() -> None:
    errors = shape_run("group-external").one(POLICY, "registry-errors").inputs["conditions"][0]["conditionThreshold"]
    requests = {minute: 10 for minute in range(30)}
    assert fires(errors, {4: 3, 6: 2}, requests)  # 5 of 50 in 5 min: 10% > 5%, though 2 minutes had no 5xx
    assert not fires(errors, {4: 1}, requests)    # 1 of 50: 2%


def test_the_no_backend_window_follows_registry_down_minutes() -> None:
    run = with_alerts(EXTERNAL_GROUP, None, email="ops@example.com", registryDownMinutes=15)
    down = run.one(POLICY, "registry-down").inputs["conditions"][0]["conditionThreshold"]
    assert down["aggregations"][0]["alignmentPeriod"] == "900s" and down["duration"] == "0s"
    assert fires(down, {2: 1}) and fires(down, {14: 1})


def test_bad_new_alert_values_are_refused() -> None:
    with pytest.raises(SettingsError) as err:
        with_alerts(email="ops@example.com", errorRatePercent=0, bucketSizeGb=-1)
    assert "alerts.errorRatePercent" in str(err.value) and "alerts.bucketSizeGb" in str(err.value)


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


SHAPE_ROWS = {"single-disk": "single VM, `storage: disk`", "single-gcs": "single VM(s), `storage: gcs`",
              "group-internal": "group, internal load balancer", "group-external": "group, external load balancer"}


def cost_rows() -> dict[str, tuple[int, int, int]]:
    """docs/costs.md's alert table: shape -> (policies, conditions, uptime checks)."""
    rows = {}
    for line in (ROOT / "docs" / "costs.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0] in SHAPE_ROWS.values():
            rows[cells[0]] = (int(cells[1].split()[0]), int(cells[2]), int(cells[3]))
    return rows


def counted(resources: list[tuple[str, dict[str, Any]]]) -> tuple[int, int, int]:
    policies = [inputs for type_, inputs in resources if type_ == POLICY]
    return (len(policies), sum(len(p["conditions"]) for p in policies),
            sum(1 for type_, _ in resources if type_ == CHECK))


@pytest.mark.parametrize("shape", SHAPES)
def test_costs_doc_counts_the_conditions_each_shape_creates(shape: str) -> None:
    run = shape_run(shape)
    assert cost_rows()[SHAPE_ROWS[shape]] == counted([(r.type, r.inputs) for r in run.resources])


def test_costs_doc_agrees_with_every_inventory_that_has_alerts() -> None:
    """The reviewed inventories (stacks and docs examples) create what the table says for their shape."""
    seen = 0
    for path in sorted((ROOT / "tests" / "inventories").glob("*.yaml")):
        listed = yaml.safe_load(path.read_text())["resources"]
        resources = [(key.split("::")[0], inputs) for key, inputs in listed.items()]
        if not any(type_ == POLICY for type_, _ in resources):
            continue
        seen += 1
        vms = [i for t, i in resources if t == "gcp:compute/instance:Instance"]
        rules = [t for t, _ in resources if t.endswith("ForwardingRule")]
        disk = any(t == "gcp:compute/disk:Disk" for t, _ in resources)
        shape = ("single-disk" if vms and disk else "single-gcs" if vms else
                 "group-external" if "gcp:compute/globalForwardingRule:GlobalForwardingRule" in rules
                 else "group-internal")
        assert cost_rows()[SHAPE_ROWS[shape]] == counted(resources), path.name
    assert seen >= 2, "the inventories should show alerts in both shapes"
