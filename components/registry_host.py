"""What every self-hosted registry machine needs, whichever shape runs it: its service account and
the few roles it holds, its secrets in Secret Manager (and the accessor grant on each), the shared
bucket when images live in GCS, the grant that lets it pull its own image, and the rendered
user-data (config, units, garbage collection). `RegistryVm` (VMs with a data disk or the bucket) and
`RegistryGroup` (template, managed group, load balancer) each take one `RegistryHost` side by side.

These resources used to be children of `RegistryVm`; each carries an alias to that former parent, so
moving them here renames nothing in GCP and replaces nothing (the bucket above all)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.artifact_repository import ArtifactRepository
from components.image_refs import ArtifactRepositoryRef, artifact_registry_repository, image_host, via_proxy
from components.names import build_cache_id, docker_hub_proxy_id
from components.project_services import (
    ARTIFACT_REGISTRY,
    IAM,
    RESOURCE_MANAGER,
    SECRET_MANAGER,
    STORAGE,
    ProjectServices,
)
from components.registry_config import (
    FilesystemStorage,
    GcsStorage,
    VmSecret,
    cloud_init,
    gc_units,
    registry_config,
    render_yaml,
    vm_unit,
)
from components.registry_credentials import RegistryCredentials
from components.settings import RegistrySettings, RegistryVmSettings

PROJECT_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
# Where these resources lived before the host was a component of its own (see the module docstring).
FORMER_PARENT = ("registry-vm", "image-sharing:registry:RegistryVm")


def former_parent_alias() -> pulumi.Alias:
    """An alias naming the former RegistryVm parent: same name and type, so the same cloud resource."""
    name, type_ = FORMER_PARENT
    return pulumi.Alias(parent=pulumi.resource.create_urn(name, type_))


@dataclass(frozen=True)
class RegistryHostArgs:
    project: str
    region: str
    vm: RegistryVmSettings
    registry: RegistrySettings
    credentials: RegistryCredentials
    services: ProjectServices
    protect: bool
    tls_cert: pulumi.Output[str] | None = None
    tls_key: pulumi.Output[str] | None = None
    repository: ArtifactRepository | None = None  # its Docker Hub cache, if any, serves the image


class RegistryHost(pulumi.ComponentResource):
    """Exposes `service_account`, `member`, `waits` (grants and secret versions a first boot reads),
    `secret_versions`, `bucket` (storage=gcs, else None), `metadata` (what every registry VM's metadata
    holds) and `template_metadata` (the same plus the secrets' versions, so a group rolls on a change)."""

    def __init__(self, name: str, args: RegistryHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:registry:RegistryHost", name, None, opts)
        self._args = args
        vm, services = args.vm, args.services

        self.service_account = gcp.serviceaccount.Account(
            "registry-vm", project=args.project, account_id="registry-vm",
            display_name="Self-hosted registry VM (managed by Pulumi)",
            opts=self._opts(depends_on=services.needs(IAM)))
        self.member = self.service_account.email.apply(lambda email: f"serviceAccount:{email}")
        # Only what a VM's agents write; everything else is granted on a single resource below.
        self.waits: list[pulumi.Resource] = [
            gcp.projects.IAMMember(f"registry-vm-{role.split('/')[1].split('.')[0]}", project=args.project,
                                   role=role, member=self.member,
                                   opts=self._opts(depends_on=services.needs(RESOURCE_MANAGER)))
            for role in PROJECT_ROLES]
        vm_secrets = self._secrets()

        self.disk_storage = vm.storage == "disk"
        storage: FilesystemStorage | GcsStorage
        self.bucket: gcp.storage.Bucket | None = None
        if self.disk_storage:
            storage = FilesystemStorage()
        else:
            assert vm.bucket_name is not None  # settings validation guarantees it
            storage = GcsStorage(bucket=vm.bucket_name)
            self.waits.append(self._bucket(vm.bucket_name))

        image, gcr_host = self._image()
        tls = args.tls_cert is not None
        config_yml = render_yaml(registry_config(args.registry, storage, http_secret=None, tls=tls, debug_host=""))
        schedule = vm.gc_schedule
        # On one disk the VM stops its own registry to collect; on a bucket shared by several VMs (or a
        # group), a collection window turns every registry read-only and one VM collects.
        shared = vm.bucket_name if not self.disk_storage and schedule else None
        readonly_yml = None if shared is None else render_yaml(registry_config(
            args.registry, storage, http_secret=None, tls=tls, debug_host="", read_only=True))
        disk_storage = self.disk_storage
        user_data = pulumi.Output.from_input(image).apply(lambda ref: cloud_init(
            config_yml, vm_unit(args.registry, ref, args.project, vm_secrets, disk_storage, gcr_host, shared),
            disk_storage, gc_units(args.registry, ref, disk_storage, schedule, gcr_host, shared) if schedule else None,
            readonly_yml))
        # A changed config is an in-place metadata update, applied at the next restart (single) or a
        # new template rolled out to the group.
        # COS would download its updates from the internet, which the VM cannot reach: they are
        # off, and an update is rolled by replacing the instance (docs/self-hosted-registry.md).
        self.metadata: dict[str, pulumi.Input[str]] = {
            "user-data": user_data, "enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE",
            "google-logging-enabled": "true", "google-monitoring-enabled": "true",
            "cos-update-strategy": "update_disabled"}
        # The template also names the secrets' versions, so a new htpasswd or http secret rolls out to
        # every VM of a group at once (a group with two http secrets would refuse uploads that cross
        # instances).
        versions = pulumi.Output.all(*(v.name for v in self.secret_versions)).apply(" ".join)
        self.template_metadata: dict[str, pulumi.Input[str]] = {**self.metadata, "registry-secret-versions": versions}
        self.register_outputs({"serviceAccount": self.service_account.email})

    def _opts(self, depends_on: list[pulumi.Resource] | None = None, protect: bool = False) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on, protect=protect,
                                      aliases=[former_parent_alias()])

    def _image(self) -> tuple[pulumi.Input[str], str | None]:
        """The registry image as the VM pulls it, and the Artifact Registry host to log in to (if any)."""
        args = self._args
        image: pulumi.Input[str] = args.registry.image
        gcr_host = image_host(args.registry.image)
        if gcr_host is not None and not gcr_host.endswith(".pkg.dev"):
            gcr_host = None  # another registry, reached through Cloud NAT without Google credentials
        repo = args.repository
        if repo is not None and repo.proxy_path is not None and image_host(args.registry.image) is None:
            self.waits.append(repo.grant("registry-vm", self.member, "reader", proxy=True))
            image = repo.proxy_path.apply(lambda path: via_proxy(args.registry.image, path))
            gcr_host = repo.host
        source = artifact_registry_repository(args.registry.image)
        if source is not None:
            self.waits.append(self._image_reader(source))
        return image, gcr_host

    def _image_reader(self, source: ArtifactRepositoryRef) -> pulumi.Resource:
        """Reader on the Artifact Registry repository the image comes from, and nothing wider: additive
        (a member, never the repository's policy), in whichever project holds it."""
        args = self._args
        if args.repository is not None and args.repository.ref == source:
            return args.repository.grant("registry-vm-image", self.member, "reader")  # the stack's own
        same_project = source.project == args.project
        waits = args.services.needs(ARTIFACT_REGISTRY) if same_project else []
        own = self._stack_repository(source)
        return gcp.artifactregistry.RepositoryIamMember(
            "registry-vm-image-reader", project=source.project, location=source.location,
            repository=source.repository, role="roles/artifactregistry.reader", member=self.member,
            # No alias: a resource this stack never had before. After the repository if the stack makes
            # it (its Docker Hub cache, its build cache): a grant on a repository not yet there is a 404.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*waits, *([own] if own else [])]))

    def _stack_repository(self, source: ArtifactRepositoryRef) -> pulumi.Resource | None:
        """The stack's own repository resource `source` names, other than the main one, if any."""
        repo = self._args.repository
        if repo is None or (source.location, source.project) != (repo.ref.location, repo.ref.project):
            return None
        own: dict[str, pulumi.Resource | None] = {docker_hub_proxy_id(repo.ref.repository): repo.proxy,
                                                  build_cache_id(repo.ref.repository): repo.cache}
        return own.get(source.repository)

    def _secrets(self) -> list[VmSecret]:
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
        self.secret_versions: list[gcp.secretmanager.SecretVersion] = []
        for secret_id, _, plain in values:
            value: pulumi.Output[str] = pulumi.Output.secret(plain)
            secret = gcp.secretmanager.Secret(
                secret_id, project=args.project, secret_id=secret_id, replication={"auto": {}},
                opts=self._opts(depends_on=args.services.needs(SECRET_MANAGER)))
            version = gcp.secretmanager.SecretVersion(
                f"{secret_id}-version", secret=secret.id, secret_data=value, opts=self._opts())
            self.secret_versions.append(version)
            self.waits.append(version)
            self.waits.append(gcp.secretmanager.SecretIamMember(
                f"{secret_id}-accessor", project=args.project, secret_id=secret.secret_id,
                role="roles/secretmanager.secretAccessor", member=self.member, opts=self._opts()))
        return [VmSecret(secret_id, file_name) for secret_id, file_name, _ in values]

    def _bucket(self, bucket_name: str) -> pulumi.Resource:
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
            member=self.member, opts=self._opts())
