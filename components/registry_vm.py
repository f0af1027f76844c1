"""registry:2 on a Container-Optimized OS VM: private (IAP only by default), authenticated, its data
on a separate protected disk with daily snapshots or in a bucket, its secrets in Secret Manager."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.artifact_repository import ArtifactRepository
from components.data_disk_snapshot import replacement_allowed_warning, verified_snapshot
from components.gcp_locations import ZONES
from components.project_services import COMPUTE, IAM, RESOURCE_MANAGER, SECRET_MANAGER, STORAGE, ProjectServices
from components.registry_config import (
    DATA_DISK_DEVICE,
    FilesystemStorage,
    GcsStorage,
    VmSecret,
    cloud_init,
    gc_units,
    registry_config,
    render_yaml,
    via_proxy,
    vm_unit,
)
from components.registry_credentials import RegistryCredentials
from components.registry_group import RegistryGroup, RegistryGroupArgs
from components.registry_network import RegistryNetwork
from components.settings import RegistrySettings, RegistryVmSettings, image_host

COS_IMAGE = "cos-cloud/cos-stable"
COS_FAMILY, COS_PROJECT = "cos-stable", "cos-cloud"
PROJECT_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
SNAPSHOT_START_UTC = "18:00"  # 03:00 in Seoul: the quiet hours of the default region


@dataclass(frozen=True)
class RegistryVmArgs:
    project: str
    region: str
    zone: str
    vm: RegistryVmSettings
    registry: RegistrySettings
    credentials: RegistryCredentials
    services: ProjectServices
    protect: bool
    network: RegistryNetwork  # where the instances attach (subnetwork, tag, reserved addresses, NAT)
    tls_cert: pulumi.Output[str] | None = None
    tls_key: pulumi.Output[str] | None = None
    repository: ArtifactRepository | None = None  # its Docker Hub cache, if any, serves the image


class RegistryVm(pulumi.ComponentResource):
    """Exposes `instances` (name -> Instance; none in group mode), `group` (the RegistryGroup in group
    mode, else None), `zone` and `service_account`."""

    def __init__(self, name: str, args: RegistryVmArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:registry:RegistryVm", name, None, opts)
        self._args = args
        vm, services = args.vm, args.services
        self.zone = args.zone

        self.service_account = gcp.serviceaccount.Account(
            "registry-vm", project=args.project, account_id="registry-vm",
            display_name="Self-hosted registry VM (managed by Pulumi)",
            opts=self._opts(depends_on=services.needs(IAM)))
        member = self.service_account.email.apply(lambda email: f"serviceAccount:{email}")
        # Only what a VM's agents write; everything else is granted on a single resource below.
        grants: list[pulumi.Resource] = [
            gcp.projects.IAMMember(f"registry-vm-{role.split('/')[1].split('.')[0]}", project=args.project,
                                   role=role, member=member,
                                   opts=self._opts(depends_on=services.needs(RESOURCE_MANAGER)))
            for role in PROJECT_ROLES]
        secret_waits, vm_secrets = self._secrets(member)
        grants += secret_waits

        disk_storage = vm.storage == "disk"
        storage: FilesystemStorage | GcsStorage
        attached: list[gcp.compute.InstanceAttachedDiskArgsDict] = []
        if disk_storage:
            storage = FilesystemStorage()
            self.disk = self._data_disk()
            attached = [{"source": self.disk.self_link, "device_name": DATA_DISK_DEVICE, "mode": "READ_WRITE"}]
        else:
            assert vm.bucket_name is not None  # settings validation guarantees it
            storage = GcsStorage(bucket=vm.bucket_name)
            grants.append(self._bucket(vm.bucket_name, member))

        image: pulumi.Input[str] = args.registry.image
        gcr_host = image_host(args.registry.image)
        if gcr_host is not None and not gcr_host.endswith(".pkg.dev"):
            gcr_host = None  # another registry, reached through Cloud NAT without Google credentials
        repo = args.repository
        if repo is not None and repo.proxy_path is not None and image_host(args.registry.image) is None:
            grants.append(repo.grant("registry-vm", member, "reader", proxy=True))
            image = repo.proxy_path.apply(lambda path: via_proxy(args.registry.image, path))
            gcr_host = repo.host

        config_yml = render_yaml(registry_config(args.registry, storage, http_secret=None,
                                                 tls=args.tls_cert is not None, debug_host=""))
        # Collection needs every registry writing to the store stopped: with one VM, it stops its own.
        schedule = vm.gc_schedule if vm.instances == 1 and vm.mode == "single" else None
        user_data = pulumi.Output.from_input(image).apply(lambda ref: cloud_init(
            config_yml, vm_unit(args.registry, ref, args.project, vm_secrets, disk_storage, gcr_host),
            disk_storage, gc_units(args.registry, ref, disk_storage, schedule, gcr_host) if schedule else None))

        network = args.network
        waits: list[pulumi.Resource] = [*services.needs(COMPUTE), *grants]
        if network.nat is not None:
            waits.append(network.nat)  # the image may come from the internet
        # A changed config is an in-place metadata update, applied at the next restart (single) or a
        # new template rolled out to the group.
        # COS would download its updates from the internet, which the VM cannot reach: they are
        # off, and an update is rolled by replacing the instance (docs/self-hosted-registry.md).
        metadata: dict[str, pulumi.Input[str]] = {
            "user-data": user_data, "enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE",
            "google-logging-enabled": "true", "google-monitoring-enabled": "true",
            "cos-update-strategy": "update_disabled"}
        self.instances: dict[str, gcp.compute.Instance] = {}
        self.group: RegistryGroup | None = None
        if vm.mode == "group":
            self.group = self._group(metadata, waits)
        for index in range(vm.instances if vm.mode == "single" else 0):
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
                service_account={"email": self.service_account.email,
                                 "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
                # No public address: Google APIs through Private Google Access, people through IAP.
                # Only direct (TLS) access gets one, reserved, so it outlives the instance.
                network_interfaces=[{"subnetwork": network.subnetwork,
                                     "access_configs": [{"nat_ip": address}] if address is not None else []}],
                tags=[network.tag],
                metadata=metadata,
                opts=self._opts(
                    depends_on=waits,
                    # The fixed name and the READ_WRITE data disk cannot be held by two VMs at once.
                    delete_before_replace=True),
            )
        self.register_outputs({"instances": list(self.instances), "zone": self.zone})

    def _group(self, metadata: dict[str, pulumi.Input[str]], waits: list[pulumi.Resource]) -> RegistryGroup:
        """The same user-data through an instance template; the template also names the secrets'
        versions, so a new htpasswd or http secret rolls out to every VM at once (a group with two
        http secrets would refuse uploads that cross instances)."""
        args = self._args
        versions = pulumi.Output.all(*(v.name for v in self._secret_versions)).apply(lambda names: " ".join(names))
        # A pinned image, not the family: every VM of the group boots the same COS, and a new release
        # becomes a new template, rolled out by the next `pulumi up`.
        cos = gcp.compute.get_image_output(family=COS_FAMILY, project=COS_PROJECT,
                                           opts=pulumi.InvokeOutputOptions(parent=self))
        return RegistryGroup("registry-group", RegistryGroupArgs(
            project=args.project, region=args.region, zones=ZONES[args.region], group=args.vm.group,
            port=args.registry.port, machine_type=args.vm.machine_type, disk_type=args.vm.disk_type,
            boot_image=cos.self_link, metadata={**metadata, "registry-secret-versions": versions},
            service_account_email=self.service_account.email, network=args.network.network,
            subnetwork=args.network.subnetwork, network_tag=args.network.tag,
            tls_on_vms=args.tls_cert is not None, services=args.services, depends_on=waits,
        ), pulumi.ResourceOptions(parent=self))

    def _opts(self, depends_on: list[pulumi.Resource] | None = None, protect: bool = False,
              delete_before_replace: bool = False) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on, protect=protect,
                                      delete_before_replace=delete_before_replace)

    def _secrets(self, member: pulumi.Output[str]) -> tuple[list[pulumi.Resource], list[VmSecret]]:
        """Secret Manager holds what must not sit in instance metadata; the VM reads exactly these."""
        args = self._args
        creds = args.credentials
        values: list[tuple[str, str, pulumi.Output[str]]] = [
            ("registry-htpasswd", "htpasswd", creds.htpasswd),
            ("registry-http-secret", "http-secret.env",
             pulumi.Output.concat("REGISTRY_HTTP_SECRET=", creds.http_secret)),
        ]
        if args.tls_cert is not None and args.tls_key is not None:
            values += [("registry-tls-cert", "tls.crt", args.tls_cert),
                       ("registry-tls-key", "tls.key", args.tls_key)]
        waits: list[pulumi.Resource] = []
        self._secret_versions: list[gcp.secretmanager.SecretVersion] = []
        for secret_id, _, plain in values:
            value: pulumi.Output[str] = pulumi.Output.secret(plain)
            secret = gcp.secretmanager.Secret(
                secret_id, project=args.project, secret_id=secret_id, replication={"auto": {}},
                opts=self._opts(depends_on=args.services.needs(SECRET_MANAGER)))
            version = gcp.secretmanager.SecretVersion(
                f"{secret_id}-version", secret=secret.id, secret_data=value, opts=self._opts())
            self._secret_versions.append(version)
            waits.append(version)
            waits.append(gcp.secretmanager.SecretIamMember(
                f"{secret_id}-accessor", project=args.project, secret_id=secret.secret_id,
                role="roles/secretmanager.secretAccessor", member=member, opts=self._opts()))
        return waits, [VmSecret(secret_id, file_name) for secret_id, file_name, _ in values]

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

    def _bucket(self, bucket_name: str, member: pulumi.Output[str]) -> pulumi.Resource:
        """Shared store for several registries; versioned, private, protected in prod."""
        args = self._args
        self.bucket = gcp.storage.Bucket(
            "registry-bucket", project=args.project, name=bucket_name, location=args.region.upper(),
            uniform_bucket_level_access=True, public_access_prevention="enforced",
            versioning={"enabled": True}, force_destroy=False,
            # The gcs driver moves each upload by copy-then-delete: without this rule every layer
            # would be billed twice, forever, as a noncurrent version.
            lifecycle_rules=[{"action": {"type": "Delete"},
                              "condition": {"days_since_noncurrent_time": args.vm.noncurrent_version_days}}],
            opts=self._opts(depends_on=args.services.needs(STORAGE), protect=args.protect))
        return gcp.storage.BucketIAMMember(
            "registry-bucket-object-admin", bucket=self.bucket.name, role="roles/storage.objectAdmin",
            member=member, opts=self._opts())
