"""Alerts for the self-hosted registry, in either shape, sent to one email channel.

Single VM (storage=disk): its data disk filling up. Container-Optimized OS runs no Ops Agent; with
`google-monitoring-enabled=true` (COS 88+) its built-in node-problem-detector exports
`compute.googleapis.com/guest/disk/bytes_used` (labels device_name, fs_type, mount_option, state = used |
free) for every attached block device (cloud.google.com/container-optimized-os/docs/how-to/monitoring;
node-problem-detector pkg/exporters/stackdriver/stackdriver_exporter.go maps disk/bytes_used to that type).
The data disk is the VM's second disk: sdb (SCSI) or nvme0n2 (NVMe machine types); no partition table.

Registry down: neither the VMs nor an internal load balancer have a public address, so a private uptime
check (Cloud Monitoring's VPC checkers, through a Service Directory endpoint on the internal address)
probes the registry every minute: a TCP connection to each single VM, or `GET /` through the internal
load balancer, which answers 200 only while a backend's registry and storage are healthy.

External load balancer (group mode): its own request metrics on the `https_lb_rule` resource: the share
of 5xx answers, and 503s (what it answers when no backend is healthy).

GCS storage (either shape): the bucket's size (`storage.googleapis.com/storage/total_bytes`).

Every threshold and absence filter names its metric type and its monitored-resource type: the
Monitoring API refuses one without the resource type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_gcp as gcp

from components.project_services import MONITORING, RESOURCE_MANAGER, SERVICE_DIRECTORY, ProjectServices
from components.settings import AlertSettings

DATA_DISK_DEVICES = "sdb|nvme0n2"
# compute.googleapis.com/guest/disk/bytes_used, as Cloud Monitoring's PromQL names it.
DISK_METRIC = "compute_googleapis_com:guest_disk_bytes_used"
CHECK_PASSED = "monitoring.googleapis.com/uptime_check/check_passed"
# An uptime check's results are written against the monitored resource it checks (Google's metrics
# list names servicedirectory_service among check_passed's resources): the private check's is this one.
CHECKED_RESOURCE = "servicedirectory_service"
LB_REQUESTS = "loadbalancing.googleapis.com/https/request_count"
LB_RESOURCE = "https_lb_rule"
BUCKET_BYTES = "storage.googleapis.com/storage/total_bytes"
BUCKET_RESOURCE = "gcs_bucket"
GB = 10**9  # alerts.bucketSizeGb is in GB (decimal), as Cloud Storage prices and shows sizes
ERROR_MINUTES = 5  # the window the external load balancer's 5xx share is measured over
# How long a metric may be missing before its absence alerts.
ABSENT_MINUTES = 30


def check_passed_filter(check_id: str) -> str:
    return (f'metric.type="{CHECK_PASSED}" AND resource.type="{CHECKED_RESOURCE}" '
            f'AND metric.label.check_id="{check_id}"')


def lb_requests_filter(forwarding_rule: str, response_code: str | None = None) -> str:
    """The external load balancer's requests, all or those of one response code label (e.g.
    `response_code_class=500`, `response_code=503`; both are INT64 labels, compared unquoted)."""
    selected = f" AND metric.label.{response_code}" if response_code else ""
    return (f'metric.type="{LB_REQUESTS}" AND resource.type="{LB_RESOURCE}" '
            f'AND resource.label.forwarding_rule_name="{forwarding_rule}"{selected}')


def bucket_bytes_filter(bucket: str) -> str:
    return (f'metric.type="{BUCKET_BYTES}" AND resource.type="{BUCKET_RESOURCE}" '
            f'AND resource.label.bucket_name="{bucket}"')


@dataclass(frozen=True)
class WatchedInstance:
    """A single-mode VM: its numeric id (the disk metric's label) and internal address (the uptime check's)."""
    instance_id: pulumi.Input[str]
    address: pulumi.Input[str]

    @staticmethod
    def of(instance: gcp.compute.Instance) -> WatchedInstance:
        return WatchedInstance(instance.instance_id,
                               instance.network_interfaces.apply(lambda nics: nics[0].network_ip or ""))


@dataclass(frozen=True)
class WatchedLoadBalancer:
    """The group's load balancer: internal (its private address is probed) or external (its own
    request metrics, selected by the forwarding rule's name)."""
    scheme: Literal["internal", "external"]
    address: pulumi.Input[str]
    forwarding_rule_name: pulumi.Input[str]
    tls: bool = True  # the registry behind an internal load balancer serves TLS itself


@dataclass(frozen=True)
class RegistryMonitoringArgs:
    """Handles, not components: monitoring does not care which shape built what it watches."""
    project: str
    region: str
    alerts: AlertSettings
    network: pulumi.Input[str]        # the VPC the registry's private addresses live in (id or self link)
    registry_port: int
    services: ProjectServices
    instances: Mapping[str, WatchedInstance] = field(default_factory=dict)  # single mode
    data_disk: bool = False                        # single mode with storage=disk
    load_balancer: WatchedLoadBalancer | None = None  # group mode
    bucket_name: str | None = None                 # storage=gcs


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
    """Exposes `channel`, `policies` (name -> AlertPolicy) and `uptime_check` (None when nothing is
    probed privately: the external load balancer is watched through its own metrics)."""

    def __init__(self, name: str, args: RegistryMonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:registry:RegistryMonitoring", name, None, opts)
        self._args = args
        assert args.alerts.email is not None, "RegistryMonitoring needs alerts.email"
        assert bool(args.instances) != (args.load_balancer is not None), "one shape: instances or a load balancer"
        monitoring = args.services.needs(MONITORING)
        self._monitoring = monitoring
        self.channel = gcp.monitoring.NotificationChannel(
            "registry-alerts-email", project=args.project, type="email",
            display_name=f"Registry alerts ({args.alerts.email})", labels={"email_address": args.alerts.email},
            opts=self._opts(depends_on=monitoring))
        self.policies: dict[str, gcp.monitoring.AlertPolicy] = {}
        if args.data_disk and args.instances:
            self._disk_policy()
        lb = args.load_balancer
        self.uptime_check: gcp.monitoring.UptimeCheckConfig | None = None
        if lb is not None and lb.scheme == "external":
            self._external_lb_policies(lb)
        else:
            self.uptime_check = self._uptime_check()
            self._down_policy(self.uptime_check)
        if args.bucket_name is not None:
            self._bucket_policy(args.bucket_name)
        self.register_outputs({"policies": list(self.policies)})

    def _opts(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on)

    def _policy(self, name: str, key: str, display_name: str, severity: str,
                conditions: list[gcp.monitoring.AlertPolicyConditionArgsDict], runbook: str) -> None:
        self.policies[key] = gcp.monitoring.AlertPolicy(
            name, project=self._args.project, combiner="OR", severity=severity, display_name=display_name,
            conditions=conditions, documentation={"mime_type": "text/markdown", "content": runbook},
            notification_channels=[self.channel.id], opts=self._opts(depends_on=self._monitoring))

    def _disk_policy(self) -> None:
        args = self._args
        ids = pulumi.Output.all(*(i.instance_id for i in args.instances.values()))
        percent = args.alerts.disk_usage_percent
        self._policy("registry-disk-usage", "disk", f"Registry data disk over {percent}% full", "WARNING", [{
            "display_name": f"data disk used > {percent}%",
            "condition_prometheus_query_language": {
                "query": ids.apply(lambda values: disk_usage_query(list(values), percent)),
                "duration": "600s", "evaluation_interval": "60s"},
        }, {
            "display_name": f"data disk usage not reported for {ABSENT_MINUTES} min",
            "condition_prometheus_query_language": {
                "query": ids.apply(lambda values: disk_metric_absent_query(list(values))),
                "duration": f"{ABSENT_MINUTES * 60}s", "evaluation_interval": "60s"},
        }], "The self-hosted registry's data disk is filling up. Run garbage collection "
            "(`sudo systemctl start registry-gc.service` on the VM), delete unused tags, or raise "
            "`registryVm.diskSizeGb` and `pulumi up` (the filesystem grows at the next boot).")

    def _uptime_check(self) -> gcp.monitoring.UptimeCheckConfig:
        """A private check: Service Directory names the internal addresses (each single VM, or the
        internal load balancer) for Cloud Monitoring's VPC checkers."""
        args = self._args
        directory = args.services.needs(SERVICE_DIRECTORY)
        namespace = gcp.servicedirectory.Namespace(
            "registry-namespace", project=args.project, location=args.region, namespace_id="registry",
            opts=self._opts(depends_on=directory))
        service = gcp.servicedirectory.Service(
            "registry-service", service_id="registry", namespace=namespace.id, opts=self._opts())
        number = gcp.organizations.get_project_output(project_id=args.project).number
        network_name = pulumi.Output.from_input(args.network).apply(lambda network: network.rsplit("/", 1)[-1])
        network = pulumi.Output.concat("projects/", number, "/locations/global/networks/", network_name)
        addresses: dict[str, pulumi.Input[str]] = (
            {name: instance.address for name, instance in args.instances.items()} if args.instances
            else {"registry-lb": args.load_balancer.address} if args.load_balancer else {})
        endpoints = [
            gcp.servicedirectory.Endpoint(
                f"{endpoint}-endpoint", endpoint_id=endpoint, service=service.id, address=address,
                port=args.registry_port, network=network, opts=self._opts())
            for endpoint, address in addresses.items()]
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
        lb = args.load_balancer
        tcp: gcp.monitoring.UptimeCheckConfigTcpCheckArgsDict | None = {"port": args.registry_port}
        http: gcp.monitoring.UptimeCheckConfigHttpCheckArgsDict | None = None
        if lb is not None:
            # Through the load balancer: GET / answers 200 only from a registry whose storage is
            # healthy (a passthrough load balancer with no healthy backend still spreads connections
            # over all of them, so a TCP connect would pass). Checked by address: the certificate's
            # name cannot match, its chain is not checked.
            tcp, http = None, {"port": args.registry_port, "path": "/", "request_method": "GET",
                               "use_ssl": lb.tls, "validate_ssl": False,
                               "accepted_response_status_codes": [{"status_value": 200}]}
        return gcp.monitoring.UptimeCheckConfig(
            "registry-port-check", project=args.project,
            display_name="Registry answers" if lb is not None else "Registry port answers",
            checker_type="VPC_CHECKERS", period="60s", timeout="10s",
            monitored_resource={"type": CHECKED_RESOURCE, "labels": {
                "project_id": args.project, "location": args.region, "namespace_name": "registry",
                "service_name": "registry"}},
            tcp_check=tcp, http_check=http,
            opts=self._opts(depends_on=[*endpoints, *grants, *args.services.needs(MONITORING)]))

    def _down_policy(self, check: gcp.monitoring.UptimeCheckConfig) -> None:
        minutes = self._args.alerts.registry_down_minutes
        what = "no healthy backend behind the load balancer" if self._args.load_balancer else "registry port closed"
        check_filter = check.uptime_check_id.apply(check_passed_filter)
        self._policy("registry-down", "down", "Registry not answering", "CRITICAL", [{
            "display_name": f"{what} for {minutes} min",
            "condition_threshold": {
                "filter": check_filter,
                "aggregations": [{"alignment_period": "60s", "per_series_aligner": "ALIGN_FRACTION_TRUE",
                                  "cross_series_reducer": "REDUCE_MEAN",
                                  "group_by_fields": ["metric.label.check_id"]}],
                "comparison": "COMPARISON_LT", "threshold_value": 0.5,
                "duration": f"{minutes * 60}s", "trigger": {"count": 1},
            },
        }, {
            # No result at all (checkers cannot resolve the endpoint, the check was removed) is no
            # failed result: without this condition the policy would stay silent.
            "display_name": f"registry check not reporting for {ABSENT_MINUTES} min",
            "condition_absent": {
                "filter": check_filter,
                "aggregations": [{"alignment_period": "300s", "per_series_aligner": "ALIGN_COUNT",
                                  "cross_series_reducer": "REDUCE_SUM",
                                  "group_by_fields": ["metric.label.check_id"]}],
                "duration": f"{ABSENT_MINUTES * 60}s", "trigger": {"count": 1},
            },
        }], "The self-hosted registry does not answer. On a VM: "
            "`sudo systemctl status registry.service` and `sudo journalctl -u registry.service`; "
            "a failed mount assertion means the data disk did not mount (see the restore procedure). In "
            "group mode: `gcloud compute backend-services get-health` lists each VM's health.")

    def _external_lb_policies(self, lb: WatchedLoadBalancer) -> None:
        """The external load balancer's own metrics: no probe can pass its Cloud Armor allow-list.

        `https/request_count` is a DELTA metric with a point only for intervals that saw requests, so each
        condition sums the requests over its whole window (one alignment period, ALIGN_DELTA) and fires on
        the first evaluation over the threshold (duration 0): a 60 s rate held for N minutes would need a
        matching request in every minute. With no request at all there is no series and no alert
        (docs/self-hosted-registry.md)."""
        minutes, percent = self._args.alerts.registry_down_minutes, self._args.alerts.error_rate_percent
        rule = pulumi.Output.from_input(lb.forwarding_rule_name)

        def window(seconds: int) -> list[gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgsDict]:
            return [{"alignment_period": f"{seconds}s", "per_series_aligner": "ALIGN_DELTA",
                     "cross_series_reducer": "REDUCE_SUM", "group_by_fields": ["resource.label.forwarding_rule_name"]}]

        self._policy("registry-down", "down", "Registry not answering", "CRITICAL", [{
            "display_name": f"load balancer answered 503 (no healthy backend) in the last {minutes} min",
            "condition_threshold": {
                "filter": rule.apply(lambda name: lb_requests_filter(name, "response_code=503")),
                "aggregations": window(minutes * 60), "comparison": "COMPARISON_GT", "threshold_value": 0,
                "duration": "0s", "trigger": {"count": 1},
            },
        }], "The load balancer has no healthy registry behind it (it answers 503). "
            "`gcloud compute backend-services get-health` lists each VM's health; on a VM, "
            "`sudo journalctl -u registry.service`.")
        self._policy("registry-errors", "errors", f"Registry 5xx above {percent}%", "ERROR", [{
            "display_name": f"5xx answers > {percent}% of the requests of the last {ERROR_MINUTES} min",
            "condition_threshold": {
                "filter": rule.apply(lambda name: lb_requests_filter(name, "response_code_class=500")),
                "aggregations": window(ERROR_MINUTES * 60),
                "denominator_filter": rule.apply(lb_requests_filter),
                "denominator_aggregations": window(ERROR_MINUTES * 60),
                "comparison": "COMPARISON_GT", "threshold_value": percent / 100,
                "duration": "0s", "trigger": {"count": 1},
            },
        }], "The registry answers server errors through the load balancer: storage (the bucket) or a "
            "failing VM. `sudo journalctl -u registry.service` on a VM of the group.")

    def _bucket_policy(self, bucket: str) -> None:
        size_gb = self._args.alerts.bucket_size_gb
        self._policy("registry-bucket-size", "bucket", f"Registry bucket over {size_gb} GB", "WARNING", [{
            "display_name": f"gs://{bucket} holds more than {size_gb} GB",
            "condition_threshold": {
                # Measured once a day and repeated at each 5-minute sample.
                "filter": bucket_bytes_filter(bucket),
                "aggregations": [{"alignment_period": "3600s", "per_series_aligner": "ALIGN_MAX",
                                  "cross_series_reducer": "REDUCE_SUM",
                                  "group_by_fields": ["resource.label.bucket_name"]}],
                "comparison": "COMPARISON_GT", "threshold_value": size_gb * GB,
                "duration": "0s", "trigger": {"count": 1},
            },
        }], "The registry's bucket keeps growing. Garbage collection reclaims unreferenced blobs "
            "(docs/self-hosted-registry.md); deleted and replaced objects stay as noncurrent versions for "
            "`registryVm.noncurrentVersionDays`.")
