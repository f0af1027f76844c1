"""The registry's group mode under mocks: the instance template carries the VM's user-data, the regional
group spreads over the zones and heals from the registry's own health check, template changes roll
out with no loss of capacity, the load balancer's backend is the group, and every firewall source is
a documented range."""

from __future__ import annotations

from typing import Any

import pytest

from components.project_services import ProjectServices, ProjectServicesArgs
from components.registry_group import (
    ARMOR_DEFAULT_PRIORITY,
    HEALTH_CHECK_PATH,
    HEALTH_CHECK_RANGES,
    RegistryGroup,
    RegistryGroupArgs,
    armor_rules,
)
from components.settings import RegistryGroupSettings
from tests.harness import StackRun, run_stack

ZONES = ("asia-northeast3-a", "asia-northeast3-b", "asia-northeast3-c")
NETWORK = "projects/p/global/networks/registry"
SUBNET = "projects/p/regions/asia-northeast3/subnetworks/registry"
METADATA = {"user-data": "#cloud-config\nwrite_files: []\n", "enable-oslogin": "TRUE"}
INTERNAL = RegistryGroupSettings(client_ranges=("10.20.0.0/24", "192.168.10.0/24"))
EXTERNAL = RegistryGroupSettings(load_balancer="external", domain="registry.example.com",
                                 allowed_source_ranges=tuple(f"198.51.{i}.0/24" for i in range(12)))


def run_group(group: RegistryGroupSettings, tls_on_vms: bool) -> StackRun:
    def program() -> None:
        services = ProjectServices("apis", ProjectServicesArgs(
            project="p-123456", apis=("compute.googleapis.com", "dns.googleapis.com")))
        RegistryGroup("registry-group", RegistryGroupArgs(
            project="p-123456", region="asia-northeast3", zones=ZONES, group=group, port=5000,
            machine_type="e2-small", disk_type="pd-balanced", boot_image="cos-cloud/cos-stable",
            metadata=METADATA, service_account_email="registry-vm@p-123456.iam.gserviceaccount.com",
            network=NETWORK, subnetwork=SUBNET, network_tag="registry", tls_on_vms=tls_on_vms,
            services=services))
    return run_stack("dev", program=program)


@pytest.fixture(scope="module")
def internal() -> StackRun:
    return run_group(INTERNAL, tls_on_vms=True)


@pytest.fixture(scope="module")
def external() -> StackRun:
    return run_group(EXTERNAL, tls_on_vms=False)


def test_template_carries_the_vm_metadata_and_no_public_address(internal: StackRun) -> None:
    template = internal.one("gcp:compute/instanceTemplate:InstanceTemplate").inputs
    assert template["metadata"] == METADATA
    assert template["namePrefix"] == "registry-"
    assert template["networkInterfaces"] == [{"network": NETWORK, "subnetwork": SUBNET}]
    assert template["tags"] == ["registry"]
    assert template["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableVtpm": True,
                                                  "enableIntegrityMonitoring": True}


def test_regional_group_heals_and_rolls_without_losing_capacity(internal: StackRun) -> None:
    manager = internal.one("gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager")
    inputs = manager.inputs
    assert inputs["distributionPolicyZones"] == list(ZONES)
    assert inputs["versions"][0]["instanceTemplate"].endswith("/instanceTemplates/registry-1")
    policy = inputs["updatePolicy"]
    assert (policy["type"], policy["maxUnavailableFixed"], policy["maxSurgeFixed"]) == ("PROACTIVE", 0, len(ZONES))
    # Autohealing asks only whether the registry listens; serving health (storage) is the load balancer's.
    assert inputs["autoHealingPolicies"]["healthCheck"] == "registry-alive-id"
    assert "name" not in inputs  # auto-named, so a replacement can be created before the old group goes
    assert inputs["namedPorts"] == [{"name": "registry", "port": 5000}]
    scaler = internal.one("gcp:compute/regionAutoscaler:RegionAutoscaler").inputs
    assert scaler["target"] == "registry-id"
    assert scaler["autoscalingPolicy"]["minReplicas"] == 2
    assert scaler["autoscalingPolicy"]["maxReplicas"] == 4
    assert scaler["autoscalingPolicy"]["cpuUtilization"] == {"target": 0.6}


def test_health_checks_ask_the_registry_what_it_answers(internal: StackRun, external: StackRun) -> None:
    check = "gcp:compute/healthCheck:HealthCheck"
    passthrough = internal.one(check, "registry-serving").inputs
    assert passthrough["httpsHealthCheck"] == {"port": 5000, "requestPath": HEALTH_CHECK_PATH}
    assert "httpHealthCheck" not in passthrough
    terminated = external.one(check, "registry-serving").inputs
    assert terminated["httpHealthCheck"] == {"port": 5000, "requestPath": HEALTH_CHECK_PATH}
    alive = internal.one(check, "registry-alive").inputs
    assert alive["tcpHealthCheck"] == {"port": 5000}
    assert alive["checkIntervalSec"] * alive["unhealthyThreshold"] >= 120  # slower to give up than to serve


def _firewalls(run: StackRun) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in run.of_type("gcp:compute/firewall:Firewall")}


def test_firewall_sources_are_the_documented_ranges(internal: StackRun, external: StackRun) -> None:
    rules = _firewalls(internal)
    assert sorted(rules) == ["registry-clients", "registry-health-checks"]
    assert rules["registry-health-checks"]["sourceRanges"] == list(HEALTH_CHECK_RANGES)
    assert rules["registry-clients"]["sourceRanges"] == list(INTERNAL.client_ranges)
    for rule in rules.values():
        assert rule["allows"] == [{"protocol": "tcp", "ports": ["5000"]}]
        assert rule["targetTags"] == ["registry"]
    # The external load balancer's traffic arrives from Google's proxies: no client rule at all.
    assert sorted(_firewalls(external)) == ["registry-health-checks"]


def test_internal_load_balancer_serves_the_group_at_a_private_name(internal: StackRun) -> None:
    backend = internal.one("gcp:compute/regionBackendService:RegionBackendService")
    assert backend.inputs["backends"] == [{"group": "https://www.googleapis.com/compute/v1/projects/p/regions/r/"
                                                    "instanceGroups/registry", "balancingMode": "CONNECTION"}]
    assert backend.inputs["loadBalancingScheme"] == "INTERNAL"
    assert backend.inputs["healthChecks"] == "registry-serving-id"
    rule = internal.one("gcp:compute/forwardingRule:ForwardingRule").inputs
    assert (rule["ipAddress"], rule["ports"], rule["backendService"]) == ("10.20.0.100", ["5000"], "registry-id")
    assert rule["allowGlobalAccess"] is True  # VPN and Interconnect clients of other regions
    assert internal.one("gcp:compute/address:Address").inputs["subnetwork"] == SUBNET
    zone = internal.one("gcp:dns/managedZone:ManagedZone").inputs
    assert (zone["dnsName"], zone["visibility"]) == ("registry.internal.", "private")
    assert "name" not in zone
    assert zone["privateVisibilityConfig"] == {"networks": [{"networkUrl": NETWORK}]}
    record = internal.one("gcp:dns/recordSet:RecordSet").inputs
    assert (record["name"], record["type"], record["rrdatas"]) == ("registry.internal.", "A", ["10.20.0.100"])


def test_external_load_balancer_has_a_managed_certificate_and_an_allow_list(external: StackRun) -> None:
    backend = external.one("gcp:compute/backendService:BackendService").inputs
    assert backend["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    assert backend["backends"][0]["group"].endswith("/instanceGroups/registry")
    assert backend["securityPolicy"] == "registry-id"
    certificate = external.one("gcp:compute/managedSslCertificate:ManagedSslCertificate").inputs
    assert certificate["managed"] == {"domains": ["registry.example.com"]}
    rule = external.one("gcp:compute/globalForwardingRule:GlobalForwardingRule").inputs
    assert (rule["portRange"], rule["loadBalancingScheme"]) == ("443", "EXTERNAL_MANAGED")
    assert external.one("gcp:compute/targetHttpsProxy:TargetHttpsProxy").inputs["sslPolicy"] == "registry-id"
    tls = external.one("gcp:compute/sSLPolicy:SSLPolicy").inputs
    assert (tls["profile"], tls["minTlsVersion"]) == ("MODERN", "TLS_1_2")
    assert backend["timeoutSec"] >= 3600
    policy = external.one("gcp:compute/securityPolicy:SecurityPolicy").inputs
    allowed = [r for r in policy["rules"] if r["action"] == "allow"]
    assert [len(r["match"]["config"]["srcIpRanges"]) for r in allowed] == [10, 2]
    admitted = [cidr for r in allowed for cidr in r["match"]["config"]["srcIpRanges"]]
    assert admitted == list(EXTERNAL.allowed_source_ranges)
    last = policy["rules"][-1]
    assert (last["action"], last["priority"], last["match"]["config"]["srcIpRanges"]) == (
        "deny(403)", ARMOR_DEFAULT_PRIORITY, ["*"])


def test_armor_rules_chunk_within_the_limit() -> None:
    rules = armor_rules([f"203.0.113.{i}/32" for i in range(21)])
    assert [len(r["match"]["config"]["src_ip_ranges"]) for r in rules[:-1]] == [10, 10, 1]  # type: ignore[index]
    assert len({r["priority"] for r in rules}) == len(rules)


def test_every_group_resource_waits_for_its_api(internal: StackRun) -> None:
    compute_waiters = {r.name for r in internal.custom
                       if r.type.startswith("gcp:compute/") and internal.deps_of(r) & {
                           "gcp:projects/service:Service:compute"}}
    assert {"registry", "registry-internal", "registry-health-checks", "registry-clients"} <= compute_waiters
    zone = internal.one("gcp:dns/managedZone:ManagedZone")
    assert "gcp:projects/service:Service:dns" in internal.deps_of(zone)


def test_group_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(Exception) as refused:
        run_stack("dev", overrides={"image-sharing:registryVm": {
            "mode": "group", "group": {"minInstances": 5, "maxInstances": 2, "loadBalancer": "external"}}})
    message = str(refused.value)
    for expected in ('registryVm.storage = \'disk\': expected "gcs" in group mode',
                     "registryVm.group.minInstances = 5: expected at most group.maxInstances (2)",
                     "registryVm.group.domain = (not set)",
                     "registryVm.group.allowedSourceRanges = []"):
        assert expected in message


def test_internal_group_needs_tls_and_client_ranges() -> None:
    with pytest.raises(Exception) as refused:
        run_stack("dev", overrides={"image-sharing:registryVm": {
            "mode": "group", "storage": "gcs", "bucketName": "acme-registry-dev"}})
    message = str(refused.value)
    assert "registryVm.group.clientRanges = []" in message
    assert "registryTlsCert = (value hidden): expected a certificate and key for registry.internal" in message


def test_external_group_refuses_vm_tls_and_several_single_instances() -> None:
    with pytest.raises(Exception) as refused:
        run_stack("dev", overrides={"image-sharing:registryVm": {
            "mode": "group", "storage": "gcs", "bucketName": "acme-registry-dev", "instances": 2,
            "group": {"loadBalancer": "external", "domain": "registry.example.com",
                      "allowedSourceRanges": ["198.51.100.0/24"]}}},
            secrets={"image-sharing:registryTlsCert": "pem-cert-value",
                     "image-sharing:registryTlsKey": "pem-key-value"})
    message = str(refused.value)
    assert "registryTlsCert = (value hidden): expected unset with the external load balancer" in message
    assert "registryVm.instances = 2: expected 1 (unset) in group mode" in message
    assert "pem-cert-value" not in message and "pem-key-value" not in message


def test_the_group_boots_the_single_vms_user_data() -> None:
    """One renderer: the template's user-data is the single VM's, byte for byte, for the same storage and
    TLS (the single VM's garbage-collection timer is off here: a group never collects on its own)."""
    storage = {"storage": "gcs", "bucketName": "acme-registry-dev", "gcSchedule": None}
    tls = {"image-sharing:registryTlsCert": "pem-cert", "image-sharing:registryTlsKey": "pem-key"}
    single = run_stack("dev", overrides={"image-sharing:registryVm": storage}, secrets=tls)
    group = run_stack("dev", overrides={"image-sharing:registryVm": {
        **storage, "mode": "group", "group": {"clientRanges": ["10.8.0.0/16"]}}}, secrets=tls)
    instance = single.one("gcp:compute/instance:Instance", "registry-0").inputs["metadata"]
    template = group.one("gcp:compute/instanceTemplate:InstanceTemplate").inputs["metadata"]
    assert "registry.service" in instance["user-data"]
    assert template["user-data"] == instance["user-data"]
    assert {k: v for k, v in template.items() if k != "registry-secret-versions"} == instance
    assert not group.of_type("gcp:compute/instance:Instance")


def test_a_new_secret_version_rolls_the_group() -> None:
    run = run_stack("dev", overrides={"image-sharing:registryVm": {
        "mode": "group", "storage": "gcs", "bucketName": "acme-registry-dev",
        "group": {"loadBalancer": "external", "domain": "registry.example.com",
                  "allowedSourceRanges": ["198.51.100.0/24"]}}})
    versions = run.one("gcp:compute/instanceTemplate:InstanceTemplate").inputs["metadata"]["registry-secret-versions"]
    assert versions.split() == [f"projects/123456789012/secrets/{s}/versions/1"
                                for s in ("registry-htpasswd", "registry-http-secret")]


def test_client_ranges_of_both_families_get_a_rule_each() -> None:
    """GCP refuses a firewall rule that mixes IPv4 and IPv6 sources."""
    run = run_group(RegistryGroupSettings(client_ranges=("10.20.0.0/24", "fd20:a::/48")), tls_on_vms=True)
    rules = _firewalls(run)
    assert rules["registry-clients"]["sourceRanges"] == ["10.20.0.0/24"]
    assert rules["registry-clients-v6"]["sourceRanges"] == ["fd20:a::/48"]


def test_a_replaced_vm_drains_before_it_goes(internal: StackRun, external: StackRun) -> None:
    """Rolling replacement: the load balancer stops sending a leaving VM new connections and the group
    waits for those in flight, longer than the registry's own drain at shutdown."""
    from components.registry_config import DRAIN_TIMEOUT_SEC
    from components.registry_group import CONNECTION_DRAINING_SEC

    assert CONNECTION_DRAINING_SEC > DRAIN_TIMEOUT_SEC
    backends = [internal.one("gcp:compute/regionBackendService:RegionBackendService"),
                external.one("gcp:compute/backendService:BackendService")]
    assert [b.inputs["connectionDrainingTimeoutSec"] for b in backends] == [CONNECTION_DRAINING_SEC] * 2
