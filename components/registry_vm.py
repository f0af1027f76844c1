"""registry:2 on Container-Optimized OS VMs, one shape of the self-hosted registry: private (IAP only
by default), each VM booting the host's user-data, images on a separate protected disk with daily
snapshots (one VM) or in the host's bucket. The group shape is `RegistryGroup`; both take a
`RegistryHost` (account, secrets, user-data)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.data_disk_snapshot import replacement_allowed_warning, verified_snapshot
from components.project_services import COMPUTE, ProjectServices
from components.registry_config import DATA_DISK_DEVICE
from components.registry_host import RegistryHost
from components.registry_network import RegistryNetwork
from components.settings import RegistryVmSettings

COS_IMAGE = "cos-cloud/cos-stable"
SNAPSHOT_START_UTC = "18:00"  # 03:00 in Seoul: the quiet hours of the default region


@dataclass(frozen=True)
class RegistryVmArgs:
    project: str
    region: str
    zone: str
    vm: RegistryVmSettings
    host: RegistryHost          # account, secrets, metadata and the bucket (storage=gcs)
    services: ProjectServices
    network: RegistryNetwork    # where the instances attach (subnetwork, tag, reserved addresses, NAT)


class RegistryVm(pulumi.ComponentResource):
    """Exposes `instances` (name -> Instance), `zone`, `service_account` (the host's) and `disk`
    (storage=disk)."""

    def __init__(self, name: str, args: RegistryVmArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:registry:RegistryVm", name, None, opts)
        self._args = args
        vm, services, host = args.vm, args.services, args.host
        self.zone = args.zone
        self.service_account = host.service_account

        attached: list[gcp.compute.InstanceAttachedDiskArgsDict] = []
        if vm.storage == "disk":
            self.disk = self._data_disk()
            attached = [{"source": self.disk.self_link, "device_name": DATA_DISK_DEVICE, "mode": "READ_WRITE"}]

        network = args.network
        waits: list[pulumi.Resource] = [*services.needs(COMPUTE), *host.waits]
        if network.nat is not None:
            waits.append(network.nat)  # the image may come from the internet
        self.instances: dict[str, gcp.compute.Instance] = {}
        for index in range(vm.instances):
            instance_name = f"registry-{index}"
            address = network.address(index)
            self.instances[instance_name] = gcp.compute.Instance(
                instance_name,
                name=instance_name,
                project=args.project,
                zone=args.zone,
                machine_type=vm.machine_type,
                # A machine type change stops and updates the VM instead of replacing it.
                allow_stopping_for_update=True,
                boot_disk={"auto_delete": True,
                           "initialize_params": {"image": COS_IMAGE, "size": 10, "type": vm.disk_type}},
                attached_disks=attached,
                shielded_instance_config={"enable_secure_boot": True, "enable_vtpm": True,
                                          "enable_integrity_monitoring": True},
                service_account={"email": host.service_account.email,
                                 "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
                # No public address: Google APIs through Private Google Access, people through IAP.
                # Only direct (TLS) access gets one, reserved, so it outlives the instance.
                network_interfaces=[{"subnetwork": network.subnetwork,
                                     "access_configs": [{"nat_ip": address}] if address is not None else []}],
                tags=[network.tag],
                metadata=host.metadata,
                opts=self._opts(
                    depends_on=waits,
                    # The fixed name and the READ_WRITE data disk cannot be held by two VMs at once.
                    delete_before_replace=True),
            )
        self.register_outputs({"instances": list(self.instances), "zone": self.zone})

    def _opts(self, depends_on: list[pulumi.Resource] | None = None, protect: bool = False,
              delete_before_replace: bool = False) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on, protect=protect,
                                      delete_before_replace=delete_before_replace)

    def _data_disk(self) -> gcp.compute.Disk:
        """A disk of its own: it outlives the instance and is snapshotted daily. A change of type, zone
        or snapshot replaces a disk with a new one, so it is protected on every stack: such a change is
        refused unless allowDataDiskReplacement says the data is in a snapshot (or may go)."""
        args = self._args
        vm = args.vm
        # `snapshot` forces a new disk and is read back: left set after a restore, it must never rebuild
        # the disk later, and an allowed replacement uses it only when recent (data_disk_snapshot.py).
        snapshot: pulumi.Input[str] | None = vm.data_disk_snapshot
        if vm.allow_data_disk_replacement and vm.data_disk_snapshot is not None:
            snapshot = verified_snapshot(vm.data_disk_snapshot, args.project, vm.data_disk_snapshot_max_age_hours)
        opts = self._opts(depends_on=args.services.needs(COMPUTE), protect=not vm.allow_data_disk_replacement)
        if not vm.allow_data_disk_replacement:
            opts.ignore_changes = ["snapshot"]
        disk = gcp.compute.Disk(
            "registry-data", project=args.project, zone=args.zone, size=vm.disk_size_gb, type=vm.disk_type,
            snapshot=snapshot, opts=opts)
        if vm.allow_data_disk_replacement:
            pulumi.log.warn(replacement_allowed_warning(), resource=disk)
        policy = gcp.compute.ResourcePolicy(
            "registry-data-snapshots", project=args.project, region=args.region,
            snapshot_schedule_policy={
                "schedule": {"daily_schedule": {"days_in_cycle": 1, "start_time": SNAPSHOT_START_UTC}},
                "retention_policy": {"max_retention_days": args.vm.snapshot_retention_days,
                                     "on_source_disk_delete": "KEEP_AUTO_SNAPSHOTS"},
                "snapshot_properties": {"storage_locations": args.region},
            },
            opts=self._opts(depends_on=args.services.needs(COMPUTE)))
        gcp.compute.DiskResourcePolicyAttachment(
            "registry-data-snapshots", project=args.project, zone=args.zone, disk=disk.name, name=policy.name,
            opts=self._opts())
        return disk
