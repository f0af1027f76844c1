"""Alerts for the self-hosted registry VM, sent to one email channel: its data disk filling up, and the
registry not answering.

Disk usage: Container-Optimized OS runs no Ops Agent; with `google-monitoring-enabled=true` (COS 88+) its
built-in node-problem-detector exports `compute.googleapis.com/guest/disk/bytes_used` (labels
device_name, fs_type, mount_option, state = used | free) for every attached block device
(cloud.google.com/container-optimized-os/docs/how-to/monitoring; node-problem-detector
pkg/exporters/stackdriver/stackdriver_exporter.go maps disk/bytes_used to that type). The data disk is
the VM's second disk: sdb (SCSI) or nvme0n2 (NVMe machine types); mounted without a partition table.

Registry down: the VM has no public address, so a private uptime check (Cloud Monitoring's VPC checkers,
through a Service Directory endpoint on the VM's internal address) opens a TCP connection to the
registry port every minute."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.project_services import MONITORING, RESOURCE_MANAGER, SERVICE_DIRECTORY, ProjectServices
from components.registry_network import RegistryNetwork
from components.registry_vm import RegistryVm
from components.settings import AlertSettings

DATA_DISK_DEVICES = "sdb|nvme0n2"
# compute.googleapis.com/guest/disk/bytes_used, as Cloud Monitoring's PromQL names it.
DISK_METRIC = "compute_googleapis_com:guest_disk_bytes_used"


# How long a metric may be missing before its absence alerts.
ABSENT_MINUTES = 30


def check_passed_filter(check_id: str) -> str:
    # The check id alone selects its series, whichever resource type they carry.
    return f'metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND metric.label.check_id="{check_id}"'


@dataclass(frozen=True)
class RegistryMonitoringArgs:
    project: str
    region: str
    alerts: AlertSettings
    vm: RegistryVm
    network: RegistryNetwork
    registry_port: int
    disk_storage: bool
    services: ProjectServices


def disk_usage_query(instance_ids: list[str], percent: int) -> str:
    """Used bytes over used + free, per instance and device, above the threshold."""
    selector = (f'{{monitored_resource="gce_instance",instance_id=~"{"|".join(instance_ids)}",'
                f'device_name=~"{DATA_DISK_DEVICES}"')
    used = f'sum by (instance_id, device_name) ({DISK_METRIC}{selector},state="used"}})'
    total = f'sum by (instance_id, device_name) ({DISK_METRIC}{selector},state=~"used|free"}})'
    return f"100 * {used} / {total} > {percent}"


def disk_metric_absent_query(instance_ids: list[str]) -> str:
    """True when the data disk's usage stopped arriving: a silent agent must not look like a healthy disk."""
    selector = (f'{{monitored_resource="gce_instance",instance_id=~"{"|".join(instance_ids)}",'
                f'device_name=~"{DATA_DISK_DEVICES}",state="used"}}')
    return f"absent({DISK_METRIC}{selector})"


class RegistryMonitoring(pulumi.ComponentResource):
    """Exposes `channel`, `policies` (name -> AlertPolicy) and `uptime_check`."""

    def __init__(self, name: str, args: RegistryMonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:registry:RegistryMonitoring", name, None, opts)
        self._args = args
        assert args.alerts.email is not None, "RegistryMonitoring needs alerts.email"
        monitoring = args.services.needs(MONITORING)
        self.channel = gcp.monitoring.NotificationChannel(
            "registry-alerts-email", project=args.project, type="email",
            display_name=f"Registry alerts ({args.alerts.email})", labels={"email_address": args.alerts.email},
            opts=self._opts(depends_on=monitoring))
        self.policies: dict[str, gcp.monitoring.AlertPolicy] = {}
        if args.disk_storage:
            self._disk_policy(monitoring)
        self.uptime_check = self._uptime_check()
        self._down_policy(monitoring)
        self.register_outputs({"policies": list(self.policies)})

    def _opts(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on)

    def _disk_policy(self, monitoring: list[pulumi.Resource]) -> None:
        args = self._args
        ids = pulumi.Output.all(*(i.instance_id for i in args.vm.instances.values()))
        percent = args.alerts.disk_usage_percent
        self.policies["disk"] = gcp.monitoring.AlertPolicy(
            "registry-disk-usage", project=args.project, combiner="OR", severity="WARNING",
            display_name=f"Registry data disk over {percent}% full",
            conditions=[{
                "display_name": f"data disk used > {percent}%",
                "condition_prometheus_query_language": {
                    "query": ids.apply(lambda values: disk_usage_query(list(values), percent)),
                    "duration": "600s", "evaluation_interval": "60s"},
            }, {
                "display_name": f"data disk usage not reported for {ABSENT_MINUTES} min",
                "condition_prometheus_query_language": {
                    "query": ids.apply(lambda values: disk_metric_absent_query(list(values))),
                    "duration": f"{ABSENT_MINUTES * 60}s", "evaluation_interval": "60s"},
            }],
            documentation={"mime_type": "text/markdown", "content": (
                "The self-hosted registry's data disk is filling up. Run garbage collection "
                "(`sudo systemctl start registry-gc.service` on the VM), delete unused tags, or raise "
                "`registryVm.diskSizeGb` and `pulumi up` (the filesystem grows at the next boot).")},
            notification_channels=[self.channel.id], opts=self._opts(depends_on=monitoring))

    def _uptime_check(self) -> gcp.monitoring.UptimeCheckConfig:
        """A private TCP check: Service Directory names the VMs' internal addresses for the checkers."""
        args = self._args
        directory = args.services.needs(SERVICE_DIRECTORY)
        namespace = gcp.servicedirectory.Namespace(
            "registry-namespace", project=args.project, location=args.region, namespace_id="registry",
            opts=self._opts(depends_on=directory))
        service = gcp.servicedirectory.Service(
            "registry-service", service_id="registry", namespace=namespace.id, opts=self._opts())
        number = gcp.organizations.get_project_output(project_id=args.project).number
        network_name = args.network.network.apply(lambda network_id: network_id.rsplit("/", 1)[-1])
        endpoints = [
            gcp.servicedirectory.Endpoint(
                f"{instance_name}-endpoint", endpoint_id=instance_name, service=service.id,
                address=instance.network_interfaces.apply(lambda nics: nics[0].network_ip or ""),
                port=args.registry_port,
                network=pulumi.Output.concat("projects/", number, "/locations/global/networks/", network_name),
                opts=self._opts())
            for instance_name, instance in args.vm.instances.items()]
        # Cloud Monitoring's service agent reads the namespace and reaches the network through it.
        agent = gcp.projects.ServiceIdentity(
            "monitoring-agent", project=args.project, service=MONITORING,
            opts=self._opts(depends_on=args.services.needs(MONITORING)))
        member = agent.email.apply(lambda email: f"serviceAccount:{email}")
        grants: list[pulumi.Resource] = [
            gcp.servicedirectory.NamespaceIamMember(
                "monitoring-agent-directory-viewer", name=namespace.id, role="roles/servicedirectory.viewer",
                member=member, opts=self._opts()),
            gcp.projects.IAMMember(
                "monitoring-agent-network-access", project=args.project,
                role="roles/servicedirectory.pscAuthorizedService", member=member,
                opts=self._opts(depends_on=args.services.needs(RESOURCE_MANAGER))),
        ]
        return gcp.monitoring.UptimeCheckConfig(
            "registry-port-check", project=args.project, display_name="Registry port answers",
            checker_type="VPC_CHECKERS", period="60s", timeout="10s",
            monitored_resource={"type": "servicedirectory_service", "labels": {
                "project_id": args.project, "location": args.region, "namespace_name": "registry",
                "service_name": "registry"}},
            tcp_check={"port": args.registry_port},
            opts=self._opts(depends_on=[*endpoints, *grants, *args.services.needs(MONITORING)]))

    def _down_policy(self, monitoring: list[pulumi.Resource]) -> None:
        args = self._args
        minutes = args.alerts.registry_down_minutes
        self.policies["down"] = gcp.monitoring.AlertPolicy(
            "registry-down", project=args.project, combiner="OR", severity="CRITICAL",
            display_name="Registry not answering",
            conditions=[{
                "display_name": f"registry port closed for {minutes} min",
                "condition_threshold": {
                    "filter": self.uptime_check.uptime_check_id.apply(check_passed_filter),
                    "aggregations": [{"alignment_period": "60s", "per_series_aligner": "ALIGN_FRACTION_TRUE",
                                      "cross_series_reducer": "REDUCE_MEAN",
                                      "group_by_fields": ["metric.label.check_id"]}],
                    "comparison": "COMPARISON_LT", "threshold_value": 0.5,
                    "duration": f"{minutes * 60}s", "trigger": {"count": 1},
                },
            }, {
                # No result at all (checkers cannot resolve the endpoint, the check was removed) is no
                # failed result: without this condition the policy would stay silent.
                "display_name": f"registry port check not reporting for {ABSENT_MINUTES} min",
                "condition_absent": {
                    "filter": self.uptime_check.uptime_check_id.apply(check_passed_filter),
                    "aggregations": [{"alignment_period": "300s", "per_series_aligner": "ALIGN_COUNT",
                                      "cross_series_reducer": "REDUCE_SUM",
                                      "group_by_fields": ["metric.label.check_id"]}],
                    "duration": f"{ABSENT_MINUTES * 60}s", "trigger": {"count": 1},
                },
            }],
            documentation={"mime_type": "text/markdown", "content": (
                "The self-hosted registry does not accept connections. On the VM: "
                "`sudo systemctl status registry.service` and `sudo journalctl -u registry.service`; "
                "a failed mount assertion means the data disk did not mount (see the restore procedure).")},
            notification_channels=[self.channel.id], opts=self._opts(depends_on=monitoring))
