"""The registry's network under mocks: its own VPC and subnet with Private Google Access, no public
address on the VM, IAP-only ingress with one rule per IP family, optional Cloud NAT, a reserved address
for direct access, or a network the user brings."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from stackconfig.reader import SettingsError
from tests.harness import StackRun, run_stack

NS = "image-sharing"
INSTANCE = "gcp:compute/instance:Instance"
FIREWALL = "gcp:compute/firewall:Firewall"
NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
ADDRESS = "gcp:compute/address:Address"
NAT = "gcp:compute/routerNat:RouterNat"
IAP = "35.235.240.0/20"
TLS = {f"{NS}:registryTlsCert": "-----CERT-----", f"{NS}:registryTlsKey": "-----KEY-----"}


def with_vm(secrets: dict[str, str] | None = None, ar: dict[str, Any] | None = None, **values: Any) -> StackRun:
    overrides: dict[str, Any] = {f"{NS}:registryVm": values}
    if ar is not None:
        overrides[f"{NS}:artifactRegistry"] = ar
    return run_stack("dev", overrides=overrides, secrets=secrets)


def rules(run: StackRun) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in run.of_type(FIREWALL)}


def test_own_vpc_with_private_google_access_and_no_public_address(dev: StackRun) -> None:
    network = dev.one(NETWORK, "registry-network")
    assert network.inputs["autoCreateSubnetworks"] is False
    subnet = dev.one(SUBNET, "registry-subnet").inputs
    assert subnet["privateIpGoogleAccess"] is True and subnet["ipCidrRange"] == "10.20.0.0/24"
    assert subnet["network"] == "registry-network-id" and subnet["region"] == "asia-northeast3"
    nic = dev.one(INSTANCE, "registry-0").inputs["networkInterfaces"]
    assert nic == [{"subnetwork": "registry-subnet-id", "accessConfigs": []}]
    assert dev.of_type(ADDRESS) == [] and dev.of_type(NAT) == []
    assert "registryDirectAddresses" not in dev.outputs


def test_ingress_only_from_iap_on_the_registry_network(dev: StackRun) -> None:
    found = rules(dev)
    assert set(found) == {"registry-ssh", "registry-port"}
    assert found["registry-ssh"]["sourceRanges"] == [IAP]
    assert found["registry-ssh"]["allows"] == [{"protocol": "tcp", "ports": ["22"]}]
    assert found["registry-port"]["sourceRanges"] == [IAP]
    assert found["registry-port"]["allows"] == [{"protocol": "tcp", "ports": ["5000"]}]
    for rule in found.values():
        assert rule["direction"] == "INGRESS" and rule["targetTags"] == ["registry"]
        assert rule["network"] == "registry-network-id"
    assert dev.one(INSTANCE).inputs["tags"] == ["registry"]


def test_cos_updates_are_off_because_the_vm_has_no_internet(dev: StackRun) -> None:
    assert dev.one(INSTANCE).inputs["metadata"]["cos-update-strategy"] == "update_disabled"


def test_registry_image_comes_through_the_docker_hub_cache_by_default(dev: StackRun) -> None:
    assert [r.name for r in dev.of_type("gcp:artifactregistry/repository:Repository")] == [
        "repository", "dockerhub-proxy"]
    unit = next(f["content"] for f in yaml.safe_load(dev.one(INSTANCE).inputs["metadata"]["user-data"])["write_files"]
                if f["path"].endswith("registry.service"))
    assert " asia-northeast3-docker.pkg.dev/image-sharing-dev/images-dockerhub/library/registry:2.8.3\n" in unit


def test_without_a_cache_or_nat_the_image_cannot_be_pulled_so_it_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"artifactRegistry\.dockerHubProxy") as err:
        with_vm(ar={"dockerHubProxy": False})
    assert "cloudNat" in str(err.value)
    with pytest.raises(SettingsError, match=r"artifactRegistry\.dockerHubProxy"):
        with_vm(ar={"enabled": False})
    with pytest.raises(SettingsError, match=r"registry\.image"):
        run_stack("dev", overrides={f"{NS}:registry": {"image": "ghcr.io/acme/registry:2.8.3"}})


def test_cloud_nat_lets_the_vm_pull_from_docker_hub_itself() -> None:
    run = with_vm(ar={"enabled": False}, cloudNat=True)
    nat = run.one(NAT).inputs
    assert nat["natIpAllocateOption"] == "AUTO_ONLY"
    assert nat["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    assert nat["subnetworks"] == [{"name": "registry-subnet-id", "sourceIpRangesToNats": ["ALL_IP_RANGES"]}]
    assert run.one("gcp:compute/router:Router").inputs["network"] == "registry-network-id"
    assert f"{NAT}:registry-nat" in run.deps_of(run.one(INSTANCE))
    assert " registry:2.8.3\n" in run.one(INSTANCE).inputs["metadata"]["user-data"]


def test_an_existing_custom_mode_network_is_used_as_named() -> None:
    run = with_vm(network="corp-vpc", subnetwork="corp-seoul")
    assert run.of_type(NETWORK) == [] and run.of_type(SUBNET) == []
    assert run.one(INSTANCE).inputs["networkInterfaces"][0]["subnetwork"] == (
        "projects/image-sharing-dev/regions/asia-northeast3/subnetworks/corp-seoul")
    assert {r["network"] for r in rules(run).values()} == {"projects/image-sharing-dev/global/networks/corp-vpc"}


def test_network_without_subnetwork_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"registryVm\.subnetwork = \(not set\)"):
        with_vm(network="corp-vpc")


def test_ipv4_and_ipv6_sources_get_separate_rules_and_an_empty_list_none() -> None:
    run = with_vm(network="corp-vpc", subnetwork="corp-seoul", sshSourceRanges=["203.0.113.0/24", "2001:db8::/48"])
    found = rules(run)
    assert found["registry-ssh"]["sourceRanges"] == ["203.0.113.0/24"]
    assert found["registry-ssh-v6"]["sourceRanges"] == ["2001:db8::/48"]
    assert found["registry-ssh-v6"]["allows"] == [{"protocol": "tcp", "ports": ["22"]}]
    closed = with_vm(sshSourceRanges=[])
    assert set(rules(closed)) == {"registry-port"}  # a rule without sources would admit the internet


@pytest.mark.parametrize(("key", "value", "ok"), [
    ("sshSourceRanges", ["10.0.0.0/8"], True),
    ("sshSourceRanges", ["10.0.0.0/7"], False),
    ("directAccessCidrs", ["64.0.0.0/2"], False),
    ("sshSourceRanges", ["2001:db8::/32"], True),
    ("sshSourceRanges", ["2000::/3"], False),
])
def test_ranges_wider_than_a_slash_8_are_refused(key: str, value: list[str], ok: bool) -> None:
    existing = {"network": "corp-vpc", "subnetwork": "corp-seoul"}  # IPv6 sources need a dual-stack subnet
    if ok:
        with_vm(**existing, **{key: value})
    else:
        with pytest.raises(SettingsError, match=f"registryVm.{key}.*or narrower"):
            with_vm(secrets=TLS, **existing, **{key: value})


def test_ipv6_sources_are_refused_on_the_stacks_own_ipv4_only_subnet() -> None:
    with pytest.raises(SettingsError) as err:
        with_vm(secrets=TLS, sshSourceRanges=["203.0.113.0/24", "2001:db8::/48"],
                directAccessCidrs=["2001:db8:2::/48"])
    message = str(err.value)
    assert 'registryVm.sshSourceRanges = ["2001:db8::/48"]' in message and "IPv4 ranges only" in message
    assert 'registryVm.directAccessCidrs = ["2001:db8:2::/48"]' in message
    assert "dual-stack" in message


def test_direct_access_reserves_an_address_and_exports_it() -> None:
    run = with_vm(secrets=TLS, directAccessCidrs=["203.0.113.0/24"])
    assert rules(run)["registry-port"]["sourceRanges"] == [IAP, "203.0.113.0/24"]
    address = run.one(ADDRESS, "registry-0-address").inputs
    assert address["addressType"] == "EXTERNAL" and address["region"] == "asia-northeast3"
    nic = run.one(INSTANCE).inputs["networkInterfaces"][0]
    assert nic["accessConfigs"] == [{"natIp": "198.51.100.7"}]
    assert run.outputs["registryDirectAddresses"] == {"registry-0": "198.51.100.7"}


def test_a_region_move_deletes_subnet_router_and_nat_before_creating_them() -> None:
    """The new subnet has the old one's range in the same VPC: GCP refuses it while the old exists."""
    run = with_vm(ar={"enabled": False}, cloudNat=True)
    for type_ in (SUBNET, "gcp:compute/router:Router", NAT):
        assert run.one(type_).options["deleteBeforeReplace"] is True, type_
    # The instance, attached to the subnet, goes first as well (its zone moves with the region).
    assert run.one(INSTANCE).options["deleteBeforeReplace"] is True


@pytest.mark.parametrize(("value", "ok"), [
    ("10.20.0.0/24", True), ("172.16.4.0/22", True), ("192.168.8.0/29", True), ("100.64.0.0/10", True),
    ("127.0.0.0/8", False), ("169.254.0.0/16", False), ("0.0.0.0/8", False), ("198.18.0.0/15", False),
    ("203.0.113.0/24", False), ("172.32.0.0/16", False), ("10.0.0.0/30", False), ("fd00::/64", False),
])
def test_subnet_cidr_is_an_rfc1918_or_shared_range(value: str, ok: bool) -> None:
    from components.checks import private_cidr

    assert (private_cidr(value) is None) is ok, value
    if not ok:
        with pytest.raises(SettingsError, match=r"registryVm\.subnetCidr.*10\.0\.0\.0/8, 172\.16\.0\.0/12"):
            with_vm(subnetCidr=value)


def test_flow_logs_on_the_stacks_own_subnet_in_production_only_by_default(dev: StackRun) -> None:
    assert "logConfig" not in dev.one(SUBNET, "registry-subnet").inputs
    prod = run_stack("prod")
    assert prod.one(SUBNET, "registry-subnet").inputs["logConfig"] == {
        "aggregationInterval": "INTERVAL_5_MIN", "flowSampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"}


def test_flow_logs_are_configurable() -> None:
    run = with_vm(flowLogs={"enabled": True, "samplingPercent": 10, "aggregationInterval": "INTERVAL_30_SEC",
                            "metadata": "EXCLUDE_ALL_METADATA"})
    assert run.one(SUBNET, "registry-subnet").inputs["logConfig"] == {
        "aggregationInterval": "INTERVAL_30_SEC", "flowSampling": 0.1, "metadata": "EXCLUDE_ALL_METADATA"}
    off = run_stack("dev", overrides={f"{NS}:registryVm": {"flowLogs": {"enabled": False}}})
    assert "logConfig" not in off.one(SUBNET, "registry-subnet").inputs  # production refuses it (test_settings)


@pytest.mark.parametrize(("flow_logs", "message"), [
    ({"samplingPercent": 0}, "registryVm.flowLogs.samplingPercent = 0: expected a number from 1 to 100 %"),
    ({"samplingPercent": 101}, "registryVm.flowLogs.samplingPercent = 101: expected a number from 1 to 100 %"),
    ({"samplingPercent": 0.5}, "registryVm.flowLogs.samplingPercent = 0.5: expected a whole number"),
    ({"aggregationInterval": "5m"},
     'registryVm.flowLogs.aggregationInterval = \'5m\': expected one of "INTERVAL_5_SEC"'),
    ({"metadata": "CUSTOM_METADATA"}, "registryVm.flowLogs.metadata = 'CUSTOM_METADATA': expected one of"),
    ({"sampling": 0.5}, "registryVm.flowLogs.sampling"),
])
def test_bad_flow_log_values_are_refused(flow_logs: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as err:
        with_vm(flowLogs=flow_logs)
    assert message in str(err.value)


def test_flow_logs_cannot_be_asked_of_a_network_the_stack_does_not_own() -> None:
    with pytest.raises(SettingsError, match=r"registryVm\.flowLogs\.enabled = true: expected unset or false"):
        with_vm(network="corp-vpc", subnetwork="corp-seoul", flowLogs={"enabled": True})
    prod = run_stack("prod", overrides={f"{NS}:registryVm": {"network": "corp-vpc", "subnetwork": "corp-seoul"}})
    assert not prod.of_type(SUBNET)
