"""The registry's network (keys under registryVm: network, subnetwork, subnetCidr, sshSourceRanges,
directAccessCidrs, cloudNat, flowLogs): the flow logs' settings and the rules that tie the keys together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from components import checks
from stackconfig.reader import Problem, setting

if TYPE_CHECKING:
    from components.settings.stack import Settings


@dataclass(frozen=True)
class FlowLogSettings:
    enabled: bool | None = setting(
        None, doc="VPC flow logs on the subnet the stack creates (CIS GCP 3.8). Unset: on in production "
                  "(where false is refused).")
    sampling_percent: int = setting(50, check=checks.in_range(1, 100, " %"),
                                    doc="Share of the flows reported (the API's flowSampling x 100).")
    aggregation_interval: Literal["INTERVAL_5_SEC", "INTERVAL_30_SEC", "INTERVAL_1_MIN", "INTERVAL_5_MIN",
                                  "INTERVAL_10_MIN", "INTERVAL_15_MIN"] = setting(
        "INTERVAL_5_MIN", doc="How long a connection's flows are aggregated into one entry (longer: fewer logs).")
    metadata: Literal["INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA"] = setting(
        "INCLUDE_ALL_METADATA", doc="Add the VMs' names, zones and other metadata to each entry.")


def cross_checks(s: Settings, ns: str, problems: list[Problem]) -> None:
    vm = s.registry_vm
    if not s.uses_registry_vm:
        return
    if (vm.network is None) != (vm.subnetwork is None):
        given, other = ("network", "subnetwork") if vm.subnetwork is None else ("subnetwork", "network")
        problems.append(Problem(f"{ns}:registryVm.{other}", None,
                                f"the {other} too when registryVm.{given} is set (an existing network is "
                                "named with its subnetwork), or neither: the stack then creates its own VPC"))
    if vm.network is None:
        for key, ranges in (("sshSourceRanges", vm.ssh_source_ranges),
                            ("directAccessCidrs", vm.direct_access_cidrs)):
            v6 = [r for r in ranges if checks.cidr(r) is None and ":" in r]
            if v6:
                problems.append(Problem(
                    f"{ns}:registryVm.{key}", v6,
                    "IPv4 ranges only: the subnet the stack creates is IPv4-only, so IPv6 sources reach "
                    "nothing; remove them, or name an existing dual-stack registryVm.network and subnetwork"))
    if vm.network is None and s.production and vm.flow_logs.enabled is False:
        # The policy pack's prod-subnet-flow-logs rule would refuse the subnet at preview: say so here.
        problems.append(Problem(f"{ns}:registryVm.flowLogs.enabled", False,
                                "true or unset with production: true: a production subnet records its flows "
                                "(CIS GCP 3.8; the policy rule prod-subnet-flow-logs refuses it otherwise); "
                                "lower registryVm.flowLogs.samplingPercent to cut their cost"))
    if vm.network is not None and vm.flow_logs.enabled:
        problems.append(Problem(f"{ns}:registryVm.flowLogs.enabled", True,
                                "unset or false with an existing registryVm.network: its subnetwork's flow logs "
                                "are set where that network is managed (`gcloud compute networks subnets "
                                "update SUBNET --region REGION --enable-flow-logs`)"))
