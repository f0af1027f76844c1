"""The self-hosted registry as Google Cloud runs any stateless HTTP service: a regional managed instance
group of identical VMs (the same user-data as the single VM, through an instance template) on shared
GCS storage, autohealed by a health check on the registry, rolled without loss of capacity when the
template changes, autoscaled within bounds, behind one load balancer:

- internal (default): a passthrough TCP load balancer with one private address and a name in the
  stack's private DNS zone; TLS terminates on the VMs (the registryTlsCert secret, issued for that name);
- external: a global HTTPS load balancer with a Google-managed certificate for `domain`, Cloud Armor
  admitting only the configured source ranges; TLS terminates at the load balancer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.gcp_locations import ZONES
from components.project_services import COMPUTE, DNS, ProjectServices
from components.registry_host import RegistryHost, former_parent_alias
from components.registry_network import RegistryNetwork, by_family
from components.settings import RegistryGroupSettings, RegistryVmSettings

# Where Google's health checkers and its load balancers' proxies connect from (documented ranges).
HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
# The registry answers GET / with 200 and an empty body without credentials while its storage is
# healthy (distribution wraps every handler in its health checks); /v2/ would answer 401.
HEALTH_CHECK_PATH = "/"
HEALTHY_STATUS = 200
# Cloud Armor takes at most this many ranges in one rule's match.
ARMOR_RANGES_PER_RULE = 10
ARMOR_DEFAULT_PRIORITY = 2147483647
# The external load balancer's timeout bounds a whole request: a multi-GB layer on a slow link.
BACKEND_TIMEOUT_SEC = 3600
# COS boots, fetches its secrets and pulls the registry image before the first health check counts.
AUTOHEAL_INITIAL_DELAY_SEC = 300
COS_FAMILY, COS_PROJECT = "cos-stable", "cos-cloud"
# A VM leaving the group (rolling replacement, autoscaler, autohealing) gets no new connections, and the
# group waits this long for the ones in flight before deleting it; the registry then drains what is
# left when the VM shuts down (http.draintimeout).
CONNECTION_DRAINING_SEC = 300


def health_check_request() -> tuple[str, int]:
    """What every health check of the group asks, and the status that means healthy."""
    return HEALTH_CHECK_PATH, HEALTHY_STATUS


def armor_rules(ranges: Sequence[str]) -> list[gcp.compute.SecurityPolicyRuleArgsDict]:
    """Allow the configured ranges (in chunks Cloud Armor accepts), deny everything else with 403."""
    chunks = [list(ranges[i:i + ARMOR_RANGES_PER_RULE]) for i in range(0, len(ranges), ARMOR_RANGES_PER_RULE)]
    rules: list[gcp.compute.SecurityPolicyRuleArgsDict] = [
        {"action": "allow", "priority": 1000 + index, "description": "configured source ranges",
         "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": chunk}}}
        for index, chunk in enumerate(chunks)]
    rules.append({"action": "deny(403)", "priority": ARMOR_DEFAULT_PRIORITY, "description": "everyone else",
                  "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}}})
    return rules


@dataclass(frozen=True)
class RegistryGroupArgs:
    project: str
    region: str
    zones: Sequence[str]
    group: RegistryGroupSettings
    port: int
    machine_type: str
    disk_type: str
    boot_image: pulumi.Input[str] | None         # a pinned COS image, not a family (None: today's cos-stable)
    metadata: Mapping[str, pulumi.Input[str]]     # the same user-data the single VM gets
    service_account_email: pulumi.Input[str]
    network: pulumi.Input[str]                    # self links of the registry's network and subnetwork
    subnetwork: pulumi.Input[str]
    network_tag: str
    tls_on_vms: bool                              # the internal load balancer passes TLS through
    services: ProjectServices
    depends_on: Sequence[pulumi.Resource] = ()    # grants and secrets the first boot reads


def group_args(host: RegistryHost, network: RegistryNetwork, *, project: str, region: str, vm: RegistryVmSettings,
               port: int, tls_on_vms: bool, services: ProjectServices) -> RegistryGroupArgs:
    """The group of VMs booting `host`'s user-data in `network`'s subnet."""
    waits: list[pulumi.Resource] = [*services.needs(COMPUTE), *host.waits]
    if network.nat is not None:
        waits.append(network.nat)  # the image may come from the internet
    return RegistryGroupArgs(
        project=project, region=region, zones=ZONES[region], group=vm.group, port=port,
        machine_type=vm.machine_type, disk_type=vm.disk_type, boot_image=None, metadata=host.template_metadata,
        service_account_email=host.service_account.email, network=network.network,
        subnetwork=network.subnetwork, network_tag=network.tag, tls_on_vms=tls_on_vms, services=services,
        depends_on=waits)


def former_group_options(opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
    """The group was once a child of RegistryVm: the alias keeps its URN, and so its children's."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[former_parent_alias()]))


class RegistryGroup(pulumi.ComponentResource):
    """Exposes `address` (the load balancer's IP), `hostname` (the name clients use) and `manager`
    (its auto-generated `name` is what gcloud's instance-group commands take)."""

    def __init__(self, name: str, args: RegistryGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:registry:RegistryGroup", name, None, opts)
        self._args = args
        g = args.group
        if not args.zones:
            raise ValueError("a regional group needs the zones of its region")
        compute = args.services.needs(COMPUTE)
        boot_image = args.boot_image
        if boot_image is None:
            # A pinned image, not the family: every VM of the group boots the same COS, and a new
            # release becomes a new template, rolled out by the next `pulumi up`.
            boot_image = gcp.compute.get_image_output(family=COS_FAMILY, project=COS_PROJECT,
                                                      opts=pulumi.InvokeOutputOptions(parent=self)).self_link

        self.template = gcp.compute.InstanceTemplate(
            "registry",
            project=args.project,
            # A template cannot change: each change is a new template (new name), then a rolling update.
            name_prefix="registry-",
            machine_type=args.machine_type,
            disks=[{"boot": True, "auto_delete": True, "source_image": boot_image,
                    "disk_size_gb": 10, "disk_type": args.disk_type}],
            network_interfaces=[{"network": args.network, "subnetwork": args.subnetwork}],  # no public address
            service_account={"email": args.service_account_email,
                             "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
            shielded_instance_config={"enable_secure_boot": True, "enable_vtpm": True,
                                      "enable_integrity_monitoring": True},
            tags=[args.network_tag],
            metadata=dict(args.metadata),
            opts=self._opts([*compute, *args.depends_on]))

        path, _ = health_check_request()
        check: gcp.compute.HealthCheckHttpsHealthCheckArgsDict = {"port": args.port, "request_path": path}
        # Serving: the load balancer sends requests only to registries whose storage answers.
        self.health_check = gcp.compute.HealthCheck(
            "registry-serving",
            project=args.project,
            check_interval_sec=10,
            timeout_sec=5,
            healthy_threshold=2,
            unhealthy_threshold=3,
            https_health_check=check if args.tls_on_vms else None,
            http_health_check=None if args.tls_on_vms else {"port": args.port, "request_path": path},
            opts=self._opts(compute))
        # Alive: autohealing recreates a VM only when its registry no longer listens. A storage outage
        # makes every registry answer 503, and recreating the VMs would not mend it.
        self.liveness_check = gcp.compute.HealthCheck(
            "registry-alive",
            project=args.project,
            check_interval_sec=20,
            timeout_sec=10,
            healthy_threshold=1,
            unhealthy_threshold=6,
            tcp_health_check={"port": args.port},
            opts=self._opts(compute))

        self.manager = gcp.compute.RegionInstanceGroupManager(
            "registry",
            project=args.project,
            region=args.region,
            # Auto-named: a replacement (new zones, say) is created before the old group is deleted.
            base_instance_name="registry",
            distribution_policy_zones=list(args.zones),
            versions=[{"name": "registry", "instance_template": self.template.self_link_unique}],
            named_ports=[{"name": "registry", "port": args.port}],
            auto_healing_policies={"health_check": self.liveness_check.id,
                                   "initial_delay_sec": AUTOHEAL_INITIAL_DELAY_SEC},
            # A new template rolls out at once, one new VM per zone before an old one goes.
            update_policy={"type": "PROACTIVE", "minimal_action": "REPLACE",
                           "instance_redistribution_type": "PROACTIVE",
                           "max_surge_fixed": len(args.zones), "max_unavailable_fixed": 0,
                           "replacement_method": "SUBSTITUTE"},
            wait_for_instances=False,
            opts=self._opts(compute))

        gcp.compute.RegionAutoscaler(
            "registry",
            project=args.project,
            region=args.region,
            target=self.manager.id,
            autoscaling_policy={"min_replicas": g.min_instances, "max_replicas": g.max_instances,
                                "cooldown_period": AUTOHEAL_INITIAL_DELAY_SEC,
                                "cpu_utilization": {"target": g.target_cpu_percent / 100}},
            opts=self._opts(compute))

        self._admit("registry-health-checks", "Google's health checkers and load balancer proxies to the registry port",
                    HEALTH_CHECK_RANGES)

        self.internal = g.load_balancer == "internal"
        if self.internal:
            self._internal()
        else:
            self._external()
        self.register_outputs({"address": self.address, "hostname": self.hostname})

    def _opts(self, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _admit(self, name: str, description: str, sources: Sequence[str]) -> None:
        """Ingress to the registry port of the group's VMs, one rule per IP family (GCP's rule)."""
        args = self._args
        for suffix, family in by_family(list(sources)).items():
            gcp.compute.Firewall(
                name + suffix,
                project=args.project,
                network=args.network,
                direction="INGRESS",
                description=description,
                source_ranges=family,
                target_tags=[args.network_tag],
                allows=[{"protocol": "tcp", "ports": [str(args.port)]}],
                opts=self._opts(args.services.needs(COMPUTE)))

    def _internal(self) -> None:
        """One private address in the registry's subnet, a passthrough TCP load balancer, a private name."""
        args, g = self._args, self._args.group
        compute = args.services.needs(COMPUTE)
        backend = gcp.compute.RegionBackendService(
            "registry",
            project=args.project,
            region=args.region,
            load_balancing_scheme="INTERNAL",
            protocol="TCP",
            health_checks=self.health_check.id,
            connection_draining_timeout_sec=CONNECTION_DRAINING_SEC,
            backends=[{"group": self.manager.instance_group, "balancing_mode": "CONNECTION"}],
            opts=self._opts(compute))
        address = gcp.compute.Address(
            "registry-internal",
            project=args.project,
            region=args.region,
            address_type="INTERNAL",
            subnetwork=args.subnetwork,
            purpose="GCE_ENDPOINT",
            opts=self._opts(compute))
        self.forwarding_rule: gcp.compute.ForwardingRule | gcp.compute.GlobalForwardingRule
        self.forwarding_rule = gcp.compute.ForwardingRule(
            "registry-internal",
            project=args.project,
            region=args.region,
            load_balancing_scheme="INTERNAL",
            ip_protocol="TCP",
            ports=[str(args.port)],
            ip_address=address.address,
            backend_service=backend.id,
            # Clients over VPN or Interconnect may attach in another region.
            allow_global_access=True,
            network=args.network,
            subnetwork=args.subnetwork,
            opts=self._opts(compute))
        # Clients inside the VPC (or over VPN / Interconnect) reach the registry port; nobody else.
        self._admit("registry-clients", "Registry clients through the internal load balancer", g.client_ranges)
        zone = gcp.dns.ManagedZone(
            "registry",
            project=args.project,
            dns_name=f"{g.internal_domain}.",
            description="Private name of the self-hosted registry (managed by Pulumi)",
            visibility="private",
            private_visibility_config={"networks": [{"network_url": args.network}]},
            opts=self._opts(args.services.needs(DNS)))
        gcp.dns.RecordSet(
            "registry",
            project=args.project,
            managed_zone=zone.name,
            name=zone.dns_name,
            type="A",
            ttl=300,
            rrdatas=[address.address],
            opts=self._opts())
        self.address: pulumi.Output[str] = address.address
        self.hostname = g.internal_domain

    def _external(self) -> None:
        """A global HTTPS load balancer: Google-managed certificate, Cloud Armor allow-list."""
        args, g = self._args, self._args.group
        assert g.domain is not None  # settings validation guarantees it
        compute = args.services.needs(COMPUTE)
        armor = gcp.compute.SecurityPolicy(
            "registry",
            project=args.project,
            description="Only the configured sources reach the registry (managed by Pulumi)",
            rules=armor_rules(g.allowed_source_ranges),
            opts=self._opts(compute))
        backend = gcp.compute.BackendService(
            "registry",
            project=args.project,
            load_balancing_scheme="EXTERNAL_MANAGED",
            protocol="HTTP",
            port_name="registry",
            timeout_sec=BACKEND_TIMEOUT_SEC,
            health_checks=self.health_check.id,
            connection_draining_timeout_sec=CONNECTION_DRAINING_SEC,
            security_policy=armor.id,
            backends=[{"group": self.manager.instance_group, "balancing_mode": "UTILIZATION",
                       "capacity_scaler": 1.0}],
            opts=self._opts(compute))
        url_map = gcp.compute.URLMap("registry", project=args.project, default_service=backend.id,
                                     opts=self._opts(compute))
        certificate = gcp.compute.ManagedSslCertificate(
            "registry", project=args.project, managed={"domains": [g.domain]}, opts=self._opts(compute))
        tls = gcp.compute.SSLPolicy("registry", project=args.project, profile="MODERN", min_tls_version="TLS_1_2",
                                    opts=self._opts(compute))
        proxy = gcp.compute.TargetHttpsProxy("registry", project=args.project, url_map=url_map.id,
                                             ssl_certificates=[certificate.id], ssl_policy=tls.id,
                                             opts=self._opts(compute))
        address = gcp.compute.GlobalAddress("registry-external", project=args.project, opts=self._opts(compute))
        # Its name selects the load balancer's request metrics (registry_monitoring).
        self.forwarding_rule = gcp.compute.GlobalForwardingRule(
            "registry-https",
            project=args.project,
            load_balancing_scheme="EXTERNAL_MANAGED",
            ip_protocol="TCP",
            port_range="443",
            target=proxy.id,
            ip_address=address.address,
            opts=self._opts(compute))
        self.address = address.address
        self.hostname = g.domain
