"""The self-hosted registry's network: its own VPC and subnet (Private Google Access on, so Secret
Manager, Artifact Registry, logging and monitoring are reached without a public address), or a network
the user brings; the ingress rules for SSH and the registry port; optional Cloud NAT for outbound
internet; a reserved address when the registry is reached directly (TLS) rather than through IAP.

A component of its own so that other ways of running the registry (one VM today, a managed instance
group later) attach to the same network through the handle it exposes."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.project_services import COMPUTE, ProjectServices
from components.settings import IAP_RANGE, FlowLogSettings, RegistryVmSettings

NETWORK_TAG = "registry"
# Where private uptime checks (Service Directory's private network access) come from.
UPTIME_CHECK_RANGE = "35.199.192.0/19"


@dataclass(frozen=True)
class RegistryNetworkArgs:
    project: str
    region: str
    vm: RegistryVmSettings
    registry_port: int
    services: ProjectServices
    uptime_checks: bool = False  # admit Cloud Monitoring's private uptime checkers to the registry port
    flow_logs: FlowLogSettings | None = None  # VPC flow logs on the subnet the stack creates


def by_family(ranges: tuple[str, ...] | list[str]) -> dict[str, list[str]]:
    """GCP allows one IP family per firewall rule: {"": IPv4 ranges, "-v6": IPv6 ranges}, empty ones left out."""
    families = {"": [r for r in ranges if ipaddress.ip_network(r).version == 4],
                "-v6": [r for r in ranges if ipaddress.ip_network(r).version == 6]}
    return {suffix: sources for suffix, sources in families.items() if sources}


def flow_log_config(flow_logs: FlowLogSettings | None) -> gcp.compute.SubnetworkLogConfigArgsDict | None:
    """The subnet's log_config: absent turns flow logs off."""
    if flow_logs is None:
        return None
    return {"aggregation_interval": flow_logs.aggregation_interval,
            "flow_sampling": flow_logs.sampling_percent / 100, "metadata": flow_logs.metadata}


class RegistryNetwork(pulumi.ComponentResource):
    """Exposes `network` and `subnetwork` (ids the instances attach to), `tag` (the target tag the
    rules admit), `nat` (the Cloud NAT, if any), `firewalls` and `address(index)` (a reserved
    external address per instance when direct access is configured, else None)."""

    def __init__(self, name: str, args: RegistryNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:registry:RegistryNetwork", name, None, opts)
        vm = args.vm
        self._args = args
        self.tag = NETWORK_TAG
        compute = args.services.needs(COMPUTE)
        self.network: pulumi.Output[str]
        self.subnetwork: pulumi.Output[str]
        if vm.network is not None and vm.subnetwork is not None:
            # Brought by the user (auto or custom mode): we only add rules to it.
            self.network = pulumi.Output.from_input(f"projects/{args.project}/global/networks/{vm.network}")
            self.subnetwork = pulumi.Output.from_input(
                f"projects/{args.project}/regions/{args.region}/subnetworks/{vm.subnetwork}")
        else:
            # A network of its own: no pre-made rule (default-allow-internal, default-allow-ssh) applies.
            network = gcp.compute.Network(
                "registry-network", project=args.project, auto_create_subnetworks=False,
                description="Self-hosted registry (managed by Pulumi)",
                opts=pulumi.ResourceOptions(parent=self, depends_on=compute))
            subnet = gcp.compute.Subnetwork(
                "registry-subnet", project=args.project, region=args.region, network=network.id,
                ip_cidr_range=vm.subnet_cidr, private_ip_google_access=True,
                # Changed in place (subnetworks.patch), never a replacement.
                log_config=flow_log_config(args.flow_logs),
                # A region change replaces it; a new subnet with the same range in the same VPC is
                # refused while the old one exists, so the old goes first (docs/self-hosted-registry.md).
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))
            self.network, self.subnetwork = network.id, subnet.id

        self.firewalls = self._firewalls(compute)
        self.nat: gcp.compute.RouterNat | None = self._nat() if vm.cloud_nat else None
        self._addresses: dict[int, gcp.compute.Address] = {}
        if vm.direct_access_cidrs:
            # Clients and the TLS certificate name one address: it must survive a VM replacement.
            for index in range(vm.instances):
                self._addresses[index] = gcp.compute.Address(
                    f"registry-{index}-address", project=args.project, region=args.region,
                    address_type="EXTERNAL", network_tier="PREMIUM",
                    description="Direct (TLS) access to the self-hosted registry",
                    opts=pulumi.ResourceOptions(parent=self, depends_on=compute))
        self.register_outputs({"network": self.network, "subnetwork": self.subnetwork})

    def address(self, index: int) -> pulumi.Output[str] | None:
        reserved = self._addresses.get(index)
        return reserved.address if reserved is not None else None

    def _firewalls(self, compute: list[pulumi.Resource]) -> list[gcp.compute.Firewall]:
        """SSH and the registry port from IAP's range plus configured sources; one rule per family,
        none for an empty list (a rule without sources would admit the whole internet)."""
        args = self._args
        rules = {
            "registry-ssh": (list(args.vm.ssh_source_ranges), "22"),
            "registry-port": ([IAP_RANGE, *args.vm.direct_access_cidrs], str(args.registry_port)),
            "registry-uptime-checks": ([UPTIME_CHECK_RANGE] if args.uptime_checks else [], str(args.registry_port)),
        }
        created = []
        for rule_name, (sources, port) in rules.items():
            for suffix, family in by_family(sources).items():
                created.append(gcp.compute.Firewall(
                    rule_name + suffix, project=args.project, network=self.network, direction="INGRESS",
                    source_ranges=family, target_tags=[NETWORK_TAG],
                    allows=[{"protocol": "tcp", "ports": [port]}],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=compute)))
        return created

    def _nat(self) -> gcp.compute.RouterNat:
        """Outbound internet for the registry's subnet only, for images outside Google."""
        args = self._args
        router = gcp.compute.Router(
            "registry-router", project=args.project, region=args.region, network=self.network,
            # A region move replaces router and NAT with the subnet; the NAT names the old subnet, which
            # cannot be deleted while it does, so these go first too.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))
        return gcp.compute.RouterNat(
            "registry-nat", project=args.project, region=args.region, router=router.name,
            nat_ip_allocate_option="AUTO_ONLY", source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[{"name": self.subnetwork, "source_ip_ranges_to_nats": ["ALL_IP_RANGES"]}],
            log_config={"enable": True, "filter": "ERRORS_ONLY"},
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True))
