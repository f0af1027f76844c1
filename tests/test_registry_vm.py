"""The self-hosted registry VM under mocks: COS and Shielded VM, its own least-privilege service
account, secrets only in Secret Manager, a data disk that outlives the instance, IAP-only firewall."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.harness import StackRun, is_secret, run_stack, unwrap

NS = "image-sharing"
INSTANCE = "gcp:compute/instance:Instance"
DISK = "gcp:compute/disk:Disk"
FIREWALL = "gcp:compute/firewall:Firewall"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
SA_MEMBER = "serviceAccount:registry-vm@image-sharing-dev.iam.gserviceaccount.com"
TLS = {f"{NS}:registryTlsCert": "-----CERT-----", f"{NS}:registryTlsKey": "-----KEY-----"}


def with_vm(secrets: dict[str, str] | None = None, **values: Any) -> StackRun:
    return run_stack("dev", overrides={f"{NS}:registryVm": values}, secrets=secrets)


def user_data(run: StackRun, name: str = "registry-0") -> dict[str, Any]:
    text = run.one(INSTANCE, name).inputs["metadata"]["user-data"]
    assert text.startswith("#cloud-config\n")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_instance_is_shielded_cos_with_its_own_account(dev: StackRun) -> None:
    vm = dev.one(INSTANCE, "registry-0").inputs
    assert vm["bootDisk"]["initializeParams"]["image"] == "cos-cloud/cos-stable"
    assert vm["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableVtpm": True,
                                            "enableIntegrityMonitoring": True}
    assert vm["serviceAccount"] == {"email": "registry-vm@image-sharing-dev.iam.gserviceaccount.com",
                                    "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
    assert vm["machineType"] == "e2-micro" and vm["zone"] == "asia-northeast3-a"
    assert vm["tags"] == ["registry"]
    assert vm["allowStoppingForUpdate"] is True
    assert dev.one("gcp:serviceaccount/account:Account").inputs["accountId"] == "registry-vm"


def test_metadata_holds_cloud_init_and_no_secret(dev: StackRun) -> None:
    metadata = dev.one(INSTANCE, "registry-0").inputs["metadata"]
    assert set(metadata) == {"user-data", "enable-oslogin", "block-project-ssh-keys", "google-logging-enabled",
                             "google-monitoring-enabled", "cos-update-strategy"}
    assert not is_secret(metadata["user-data"]), "metadata is readable by anyone who can read the VM"
    assert "gce-container-declaration" not in metadata
    text = metadata["user-data"]
    for leaked in ("mock-password", "$2a$", "REGISTRY_HTTP_SECRET=", "secret:"):
        assert leaked not in text, leaked
    config = yaml.safe_load(user_data(dev)["write_files"][0]["content"])
    assert "secret" not in config["http"]


def test_secrets_live_in_secret_manager_readable_only_by_the_vm(dev: StackRun) -> None:
    assert sorted(s.inputs["secretId"] for s in dev.of_type(SECRET)) == ["registry-htpasswd", "registry-http-secret"]
    for version in dev.of_type(SECRET_VERSION):
        assert is_secret(version.inputs["secretData"])
    htpasswd = unwrap(dev.one(SECRET_VERSION, "registry-htpasswd-version").inputs["secretData"])
    assert htpasswd.startswith("registry:$2a$") and htpasswd.endswith("\n")
    assert {(m.inputs["secretId"], m.inputs["role"], m.inputs["member"]) for m in dev.of_type(SECRET_MEMBER)} == {
        ("registry-htpasswd", "roles/secretmanager.secretAccessor", SA_MEMBER),
        ("registry-http-secret", "roles/secretmanager.secretAccessor", SA_MEMBER)}


def test_service_account_has_only_agent_roles_project_wide(dev: StackRun) -> None:
    assert sorted((m.inputs["role"], m.inputs["member"]) for m in dev.of_type(PROJECT_MEMBER)) == [
        ("roles/logging.logWriter", SA_MEMBER), ("roles/monitoring.metricWriter", SA_MEMBER)]


def test_instance_waits_for_its_grants_and_secrets(dev: StackRun) -> None:
    deps = dev.deps_of(dev.one(INSTANCE, "registry-0"))
    assert {f"{SECRET_VERSION}:registry-htpasswd-version", f"{SECRET_MEMBER}:registry-http-secret-accessor",
            f"{PROJECT_MEMBER}:registry-vm-logging", "gcp:projects/service:Service:compute",
            f"{DISK}:registry-data"} <= deps


def test_data_disk_is_separate_and_survives_the_instance(dev: StackRun, prod: StackRun) -> None:
    disk = dev.one(DISK, "registry-data")
    assert disk.inputs["size"] == 10 and disk.inputs["type"] == "pd-balanced"
    assert disk.protect is True and prod.one(DISK, "registry-data").protect is True
    vm = dev.one(INSTANCE, "registry-0")
    disk_link = "https://www.googleapis.com/compute/v1/projects/p/zones/z/disks/registry-data"  # the mock's
    assert vm.inputs["attachedDisks"] == [{"source": disk_link, "deviceName": "registry-data", "mode": "READ_WRITE"}]
    assert vm.inputs["bootDisk"]["autoDelete"] is True  # only the boot disk goes with the instance
    assert vm.options["deleteBeforeReplace"] is True
    assert "metadata" not in vm.options["replaceOnChanges"]
    assert user_data(dev)["bootcmd"][0][:2] == ["bash", "-c"]


def test_daily_snapshots_kept_after_disk_deletion(dev: StackRun) -> None:
    policy = dev.one("gcp:compute/resourcePolicy:ResourcePolicy").inputs["snapshotSchedulePolicy"]
    assert policy["schedule"] == {"dailySchedule": {"daysInCycle": 1, "startTime": "18:00"}}
    assert policy["retentionPolicy"] == {"maxRetentionDays": 7, "onSourceDiskDelete": "KEEP_AUTO_SNAPSHOTS"}
    attachment = dev.one("gcp:compute/diskResourcePolicyAttachment:DiskResourcePolicyAttachment")
    assert attachment.inputs["disk"] == "registry-data"


def test_gcs_mode_shares_a_private_versioned_bucket() -> None:
    run = with_vm(storage="gcs", bucketName="acme-registry-images", instances=2)
    assert run.of_type(DISK) == []
    assert sorted(i.name for i in run.of_type(INSTANCE)) == ["registry-0", "registry-1"]
    bucket = run.one("gcp:storage/bucket:Bucket")
    assert {k: bucket.inputs[k] for k in ("name", "location", "uniformBucketLevelAccess", "publicAccessPrevention",
                                          "versioning", "forceDestroy")} == {
        "name": "acme-registry-images", "location": "ASIA-NORTHEAST3", "uniformBucketLevelAccess": True,
        "publicAccessPrevention": "enforced", "versioning": {"enabled": True}, "forceDestroy": False}
    grant = run.one("gcp:storage/bucketIAMMember:BucketIAMMember").inputs
    assert (grant["role"], grant["member"]) == ("roles/storage.objectAdmin", SA_MEMBER)
    config = yaml.safe_load(user_data(run)["write_files"][0]["content"])
    assert config["storage"]["gcs"]["bucket"] == "acme-registry-images"
    assert "bootcmd" not in user_data(run)
    assert "storage.googleapis.com" in run.outputs["enabledApis"]


def test_bucket_is_protected_in_prod() -> None:
    run = run_stack("prod", overrides={f"{NS}:registryVm": {"storage": "gcs", "bucketName": "acme-registry"}})
    assert run.one("gcp:storage/bucket:Bucket").protect is True


def test_image_pulled_through_the_docker_hub_cache_when_there_is_one() -> None:
    run = run_stack("dev", overrides={f"{NS}:artifactRegistry": {"dockerHubProxy": True}})
    unit = next(f["content"] for f in user_data(run)["write_files"] if f["path"].endswith("registry.service"))
    assert " asia-northeast3-docker.pkg.dev/image-sharing-dev/images-dockerhub/library/registry:2.8.3\n" in unit
    grant = run.one("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember", "proxy-reader-registry-vm")
    assert (grant.inputs["repository"], grant.inputs["role"], grant.inputs["member"]) == (
        "images-dockerhub", "roles/artifactregistry.reader", SA_MEMBER)


def test_vm_off_creates_no_compute() -> None:
    run = with_vm(enabled=False)
    assert not [r for r in run.resources if r.type.startswith("gcp:compute") or "secretmanager" in r.type]
    assert "selfHostedRegistry" not in run.outputs and "registryPassword" not in run.outputs


def test_outputs_give_the_tunnel_and_the_walkthrough_commands(dev: StackRun) -> None:
    out = dev.outputs["selfHostedRegistry"]
    assert out["address"] == "localhost:5000" and out["username"] == "registry"
    assert out["commands"]["tunnel"] == ("gcloud compute start-iap-tunnel registry-0 5000 "
                                         "--local-host-port=localhost:5000 --zone asia-northeast3-a "
                                         "--project image-sharing-dev")
    assert list(out["commands"]) == ["tunnel", "login", "build", "tag", "push", "rm", "pull"]
    assert "--password-stdin" in out["commands"]["login"]
    assert "registryPassword" in dev.secret_outputs


def test_disk_type_is_config() -> None:
    run = with_vm(diskType="pd-standard")
    assert run.one(DISK).inputs["type"] == "pd-standard"
    assert run.one(INSTANCE).inputs["bootDisk"]["initializeParams"]["type"] == "pd-standard"


def test_data_disk_is_protected_on_every_stack_unless_replacement_is_allowed(dev: StackRun) -> None:
    """A diskType, zone or region change replaces a disk with a blank one: refused by default."""
    assert dev.one(DISK, "registry-data").protect is True
    assert "snapshot" not in dev.one(DISK, "registry-data").inputs
    run = with_vm(allowDataDiskReplacement=True, dataDiskSnapshot="registry-data-manual")
    disk = run.one(DISK, "registry-data")
    assert disk.protect is False and disk.inputs["snapshot"] == "registry-data-manual"


def test_production_never_replaces_the_data_disk_with_a_blank_one() -> None:
    import pytest

    from stackconfig.reader import SettingsError

    with pytest.raises(SettingsError, match="allowDataDiskReplacement"):
        run_stack("prod", overrides={f"{NS}:registryVm": {"allowDataDiskReplacement": True}})
    run = run_stack("prod", overrides={f"{NS}:registryVm": {"allowDataDiskReplacement": True,
                                                           "dataDiskSnapshot": "projects/p-1234/global/snapshots/s1"}})
    assert run.one(DISK).inputs["snapshot"] == "projects/p-1234/global/snapshots/s1"


def test_bucket_drops_noncurrent_versions() -> None:
    run = with_vm(storage="gcs", bucketName="acme-registry-images", noncurrentVersionDays=3)
    assert run.one("gcp:storage/bucket:Bucket").inputs["lifecycleRules"] == [
        {"action": {"type": "Delete"}, "condition": {"daysSinceNoncurrentTime": 3}}]


def test_restore_commands_name_the_disk(dev: StackRun) -> None:
    out = dev.outputs["registryDataDisk"]
    assert out["disk"] == "registry-data" and out["zone"] == "asia-northeast3-a"
    assert "--source-disk=registry-data --source-disk-zone=asia-northeast3-a" in out["snapshotNow"]
    assert "pulumi config set --path registryVm.dataDiskSnapshot registry-data-restore" in out["restore"]


def test_tls_certificate_without_key_is_refused_whatever_else_is_set() -> None:
    import pytest

    from stackconfig.reader import SettingsError

    for present, missing in (("registryTlsCert", "registryTlsKey"), ("registryTlsKey", "registryTlsCert")):
        with pytest.raises(SettingsError, match=f"{NS}:{missing} = \\(not set\\)"):
            run_stack("dev", secrets={f"{NS}:{present}": "-----PEM-----"})
        with pytest.raises(SettingsError, match=missing):
            run_stack("local", secrets={f"{NS}:{present}": "-----PEM-----"})


def test_garbage_collection_is_scheduled_on_a_single_vm(dev: StackRun) -> None:
    files = {f["path"]: f["content"] for f in user_data(dev)["write_files"]}
    assert "OnCalendar=Sat *-*-* 19:00:00 UTC" in files["/etc/systemd/system/registry-gc.timer"]
    off = with_vm(gcSchedule=None)
    assert not [f for f in user_data(off)["write_files"] if "registry-gc" in f["path"]]
    # Several VMs share a bucket: every VM gets the window units, on the same schedule, for every VM
    # to go read-only and one to collect (tests/test_registry_gc_window.py).
    shared = with_vm(storage="gcs", bucketName="acme-registry-images", instances=2)
    for name in ("registry-0", "registry-1"):
        files = {f["path"]: f["content"] for f in user_data(shared, name)["write_files"]}
        assert "ExecCondition=/bin/bash /etc/registry/gc-window.sh begin acme-registry-images" in files[
            "/etc/systemd/system/registry-gc.service"]
        assert "OnCalendar=Sat *-*-* 19:00:00 UTC" in files["/etc/systemd/system/registry-gc.timer"]
        assert "/etc/systemd/system/registry-mode.timer" in files
    group = with_vm(TLS, storage="gcs", bucketName="acme-registry-images", mode="group",
                    group={"clientRanges": ["10.8.0.0/16"]})
    metadata = group.one("gcp:compute/instanceTemplate:InstanceTemplate").inputs["metadata"]
    template = yaml.safe_load(metadata["user-data"])
    assert {f["path"] for f in template["write_files"]} >= {
        "/etc/systemd/system/registry-gc.service", "/etc/systemd/system/registry-mode.timer",
        "/etc/registry/config-readonly.yml", "/etc/registry/gc-window.sh"}
    daily = with_vm(gcSchedule="*-*-* 02:30:00")
    assert "OnCalendar=*-*-* 02:30:00" in {f["path"]: f["content"] for f in user_data(daily)["write_files"]}[
        "/etc/systemd/system/registry-gc.timer"]


def test_a_snapshot_left_set_after_a_restore_never_rebuilds_the_disk(dev: StackRun) -> None:
    """The provider reads `snapshot` back and it forces a new disk: ignored unless a replacement is allowed."""
    assert dev.one(DISK).options["ignoreChanges"] == ["snapshot"]
    kept = with_vm(dataDiskSnapshot="registry-data-manual")
    assert kept.one(DISK).options["ignoreChanges"] == ["snapshot"]
    assert kept.invokes == [i for i in kept.invokes if i.token != "gcp:compute/getSnapshot:getSnapshot"]
    allowed = with_vm(allowDataDiskReplacement=True, dataDiskSnapshot="projects/p-1234/global/snapshots/s1")
    assert allowed.one(DISK).options["ignoreChanges"] == []
    lookup = [i.args for i in allowed.invokes if i.token == "gcp:compute/getSnapshot:getSnapshot"]
    assert lookup == [{"name": "s1", "project": "p-1234"}]


def test_an_allowed_replacement_refuses_an_old_snapshot() -> None:
    """Left from a restore months ago, it would rebuild the disk without every push since."""
    import pytest

    from components.data_disk_snapshot import StaleSnapshotError
    from tests.harness import registered_by_last_failure

    with pytest.raises(Exception, match=r"stale-1 was taken .* lose everything pushed since") as err:
        with_vm(allowDataDiskReplacement=True, dataDiskSnapshot="stale-1")
    assert "dataDiskSnapshotMaxAgeHours above 720" in str(err.value)
    assert isinstance(err.value, StaleSnapshotError)
    assert DISK + ":registry-data" not in registered_by_last_failure()
    # Going back to that backup on purpose: the bound is raised.
    run = with_vm(allowDataDiskReplacement=True, dataDiskSnapshot="stale-1", dataDiskSnapshotMaxAgeHours=800)
    assert run.one(DISK).inputs["snapshot"] == "stale-1"


def test_restore_steps_stop_snapshot_replace_start_and_protect_again(dev: StackRun) -> None:
    steps = dev.outputs["registryDataDisk"]["restore"]
    where = "--zone=asia-northeast3-a --project=image-sharing-dev"
    assert steps == [
        f"gcloud compute instances stop registry-0 {where}",
        "gcloud compute snapshots create registry-data-restore --source-disk=registry-data "
        "--source-disk-zone=asia-northeast3-a --storage-location=asia-northeast3 --project=image-sharing-dev",
        "pulumi config set --path registryVm.dataDiskSnapshot registry-data-restore",
        "pulumi config set --path registryVm.allowDataDiskReplacement true",
        "pulumi up",
        # after a zone move the instance is in the new zone: the step looks it up
        'gcloud compute instances start registry-0 --zone="$(gcloud compute instances list '
        "--project=image-sharing-dev --filter=name=registry-0 --format='value(zone.basename())')\" "
        "--project=image-sharing-dev",
        "pulumi config set --path registryVm.allowDataDiskReplacement false",
        "pulumi config rm --path registryVm.dataDiskSnapshot",
        "pulumi up",
        "gcloud compute disks list --project=image-sharing-dev --filter=name=registry-data "
        "--format='table(name,zone.basename(),type.basename(),sizeGb,sourceSnapshot.basename())'",
    ]


def test_the_start_step_finds_the_instance_in_whatever_zone_it_now_is(dev: StackRun, tmp_path: Path) -> None:
    """Run by bash with a stand-in gcloud that knows the instance in a new zone: the start goes there."""
    start = dev.outputs["registryDataDisk"]["restore"][5]
    fake = tmp_path / "gcloud"
    fake.write_text('#!/bin/sh\nif [ "$3" = list ]; then echo asia-northeast3-c; else echo "$@"; fi\n')
    fake.chmod(0o755)
    done = subprocess.run(["bash", "-c", start], capture_output=True, text=True, check=True,
                          env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert done.stdout.split() == ["compute", "instances", "start", "registry-0", "--zone=asia-northeast3-c",
                                   "--project=image-sharing-dev"]


def test_an_unprotected_data_disk_is_announced_while_replacement_is_allowed(caplog: Any) -> None:
    import logging

    from components.data_disk_snapshot import replacement_allowed_warning

    with caplog.at_level(logging.WARNING):
        with_vm(dataDiskSnapshot="registry-data-restore")
    assert not [r for r in caplog.records if "allowDataDiskReplacement is on" in r.getMessage()]
    with caplog.at_level(logging.WARNING):
        with_vm(allowDataDiskReplacement=True, dataDiskSnapshot="registry-data-restore")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings.count(replacement_allowed_warning()) == 1
    assert "set it back to false" in replacement_allowed_warning()
