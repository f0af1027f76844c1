"""The registry renders as pure data: what each storage mode, TLS and delete switch produce."""

from __future__ import annotations

import pytest
import yaml

from components.image_refs import via_proxy
from components.registry_config import (
    GCS_CHUNK_SIZE,
    FilesystemStorage,
    GcsStorage,
    VmSecret,
    cloud_init,
    gc_arguments,
    gc_units,
    htpasswd,
    registry_config,
    render_yaml,
    vm_unit,
)
from components.settings import RegistrySettings

SETTINGS = RegistrySettings()
SECRETS = [VmSecret("registry-htpasswd", "htpasswd"), VmSecret("registry-http-secret", "http-secret.env")]


def test_filesystem_config() -> None:
    config = registry_config(SETTINGS, FilesystemStorage(), http_secret="s3cret")
    assert config["version"] == 0.1
    assert config["storage"]["filesystem"] == {"rootdirectory": "/var/lib/registry"}
    assert config["storage"]["delete"] == {"enabled": False}
    assert config["storage"]["maintenance"]["uploadpurging"]["enabled"] is True
    assert "redirect" not in config["storage"]
    assert config["http"]["addr"] == ":5000"
    assert config["http"]["secret"] == "s3cret"
    assert config["http"]["headers"] == {"X-Content-Type-Options": ["nosniff"]}
    assert config["http"]["debug"]["addr"].startswith("127.0.0.1:")
    assert config["auth"] == {"htpasswd": {"realm": "registry", "path": "/auth/htpasswd"}}
    assert config["health"]["storagedriver"]["enabled"] is True
    assert "tls" not in config["http"]


def test_gcs_config_disables_redirects() -> None:
    config = registry_config(SETTINGS, GcsStorage(bucket="my-registry"), http_secret=None)
    storage = config["storage"]
    assert storage["gcs"]["bucket"] == "my-registry"
    assert storage["gcs"]["chunksize"] % 262144 == 0 and storage["gcs"]["chunksize"] == GCS_CHUNK_SIZE
    assert storage["redirect"] == {"disable": True}
    assert "filesystem" not in storage  # exactly one driver
    assert "secret" not in config["http"]


@pytest.mark.parametrize(("port", "debug"), [(5000, 5001), (5001, 5002), (5443, 5001)])
def test_debug_port_never_collides_with_the_registry_port(port: int, debug: int) -> None:
    config = registry_config(RegistrySettings(port=port), FilesystemStorage(), http_secret=None, debug_host="")
    assert config["http"]["addr"] == f":{port}" and config["http"]["debug"]["addr"] == f":{debug}"
    unit = vm_unit(RegistrySettings(port=port), "registry:2.8.3", "proj", SECRETS, disk_storage=True)
    assert f"-p 127.0.0.1:{debug}:{debug}" in unit and f"-p {port}:{port}" in unit


def test_tls_and_delete_switches() -> None:
    config = registry_config(RegistrySettings(delete_enabled=True, port=5443), FilesystemStorage(),
                             http_secret="x", tls=True)
    assert config["http"]["tls"] == {"certificate": "/auth/tls.crt", "key": "/auth/tls.key"}
    assert config["storage"]["delete"] == {"enabled": True}
    assert config["http"]["addr"] == ":5443"


def test_rendered_yaml_round_trips() -> None:
    config = registry_config(SETTINGS, FilesystemStorage(), http_secret="a: b # not a comment")
    assert yaml.safe_load(render_yaml(config)) == config


def test_htpasswd_requires_bcrypt() -> None:
    assert htpasswd("registry", "$2a$10$abc") == "registry:$2a$10$abc\n"
    with pytest.raises(ValueError, match="bcrypt"):
        htpasswd("registry", "plain-password")


@pytest.mark.parametrize(("image", "expected"), [
    ("registry:2.8.3", "HOST/P/cache/library/registry:2.8.3"),
    ("bitnami/registry:2.8.3", "HOST/P/cache/bitnami/registry:2.8.3"),
    ("ghcr.io/acme/registry:2.8.3", "ghcr.io/acme/registry:2.8.3"),
    ("localhost:5000/registry:2.8.3", "localhost:5000/registry:2.8.3"),
])
def test_images_are_pulled_through_the_cache(image: str, expected: str) -> None:
    assert via_proxy(image, "HOST/P/cache") == expected


def test_unit_runs_the_pinned_image_with_config_read_only() -> None:
    unit = vm_unit(SETTINGS, "registry:2.8.3", "proj", SECRETS, disk_storage=True)
    start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert start.endswith(" registry:2.8.3")
    assert "--mount type=bind,source=/etc/registry/config.yml,target=/etc/docker/registry/config.yml,readonly" in start
    assert "--mount type=bind,source=/run/registry,target=/auth,readonly" in start
    # A bind mount refuses a missing source; `-v` would create it in COS's RAM-backed /mnt/disks.
    assert "--mount type=bind,source=/mnt/disks/registry/data,target=/var/lib/registry" in start
    assert " -v " not in start
    assert "-p 5000:5000" in start and "-p 127.0.0.1:5001:5001" in start
    lines = unit.splitlines()
    assert "RequiresMountsFor=/mnt/disks/registry" in lines
    assert "AssertPathIsMountPoint=/mnt/disks/registry" in lines
    assert "Restart=always" in unit.splitlines()
    fetch = next(line for line in unit.splitlines() if "fetch-secrets.sh" in line)
    assert fetch == ("ExecStartPre=/bin/bash /etc/registry/fetch-secrets.sh proj "
                     "registry-htpasswd=/run/registry/htpasswd registry-http-secret=/run/registry/http-secret.env")


def test_gcs_unit_mounts_no_disk_and_proxy_unit_configures_credentials() -> None:
    unit = vm_unit(SETTINGS, "H/p/c/library/registry:2.8.3", "proj", SECRETS, disk_storage=False, gcr_registry="H")
    assert "/mnt/disks" not in unit and "RequiresMountsFor" not in unit
    assert "ExecStartPre=/usr/bin/docker-credential-gcr configure-docker --registries=H" in unit.splitlines()


def test_cloud_init_has_no_secret_and_mounts_only_with_a_disk() -> None:
    unit = vm_unit(SETTINGS, "registry:2.8.3", "proj", SECRETS, disk_storage=True)
    config = render_yaml(registry_config(SETTINGS, FilesystemStorage(), http_secret=None))
    with_disk = yaml.safe_load(cloud_init(config, unit, disk_storage=True).split("\n", 1)[1])
    assert list(with_disk) == ["bootcmd", "write_files", "runcmd"]
    script = with_disk["bootcmd"][0]
    assert script[:2] == ["bash", "-c"] and script[3:] == [
        "mount-data-disk", "/dev/disk/by-id/google-registry-data", "/mnt/disks/registry"]
    assert script[2].index("fsck.ext4 -p") < script[2].index("mount -o") < script[2].index("resize2fs")
    assert [f["path"] for f in with_disk["write_files"]] == [
        "/etc/registry/config.yml", "/etc/registry/fetch-secrets.sh", "/etc/systemd/system/registry.service"]
    assert with_disk["runcmd"] == [["systemctl", "daemon-reload"], ["systemctl", "start", "registry.service"]]
    without = yaml.safe_load(cloud_init(config, unit, disk_storage=False).split("\n", 1)[1])
    assert "bootcmd" not in without


def test_garbage_collection_stops_the_registry_collects_and_starts_it_again() -> None:
    units = gc_units(RegistrySettings(delete_enabled=True), "registry:2.8.3", True, "Sat *-*-* 19:00:00 UTC")
    service, timer = units["registry-gc.service"].splitlines(), units["registry-gc.timer"].splitlines()
    assert service.index("ExecStartPre=systemctl stop registry.service") < next(
        i for i, line in enumerate(service) if line.startswith("ExecStart="))
    start = next(line for line in service if line.startswith("ExecStart="))
    assert start.endswith(" registry:2.8.3 garbage-collect /etc/docker/registry/config.yml")
    assert "--mount type=bind,source=/mnt/disks/registry/data,target=/var/lib/registry" in start
    # Started again whatever the collector did (ExecStopPost runs after a failure too).
    assert "ExecStopPost=systemctl start --no-block registry.service" in service
    assert "Type=oneshot" in service and "AssertPathIsMountPoint=/mnt/disks/registry" in service
    assert "OnCalendar=Sat *-*-* 19:00:00 UTC" in timer and "Persistent=true" in timer


def test_collection_never_deletes_untagged_manifests() -> None:
    """Distribution 2.8's --delete-untagged deletes the platform manifests of tagged indexes
    (tests/test_registry_gc.py shows it with the real registry)."""
    assert gc_arguments("/c.yml") == ["garbage-collect", "/c.yml"]
    for settings in (RegistrySettings(), RegistrySettings(delete_enabled=True)):
        assert "--delete-untagged" not in gc_units(settings, "registry:2.8.3", True, "daily")["registry-gc.service"]


def test_cloud_init_writes_and_starts_the_timer() -> None:
    unit = vm_unit(SETTINGS, "registry:2.8.3", "proj", SECRETS, disk_storage=True)
    config = render_yaml(registry_config(SETTINGS, FilesystemStorage(), http_secret=None))
    units = gc_units(SETTINGS, "registry:2.8.3", True, "daily")
    data = yaml.safe_load(cloud_init(config, unit, True, units).split("\n", 1)[1])
    assert [f["path"] for f in data["write_files"]][-2:] == [
        "/etc/systemd/system/registry-gc.service", "/etc/systemd/system/registry-gc.timer"]
    assert data["runcmd"][-1] == ["systemctl", "start", "registry.service", "registry-gc.timer"]


@pytest.mark.parametrize("shared_bucket", [None, "acme-registry-dev"])
def test_collection_pulls_its_image_with_the_registrys_credential_helper(shared_bucket: str | None) -> None:
    """An image from Artifact Registry: registry.service configures docker-credential-gcr under a HOME
    of its own; the collector's `docker run` of the same image must look there for credentials too."""
    image = "europe-docker.pkg.dev/p-123456/base/registry:2.8.3"
    unit = vm_unit(SETTINGS, image, "proj", SECRETS, False, "europe-docker.pkg.dev", shared_bucket)
    home = [line for line in unit.splitlines() if line.startswith("Environment=HOME=")]
    assert home == ["Environment=HOME=/home/registry"]
    assert "ExecStartPre=/usr/bin/docker-credential-gcr configure-docker --registries=europe-docker.pkg.dev" in unit
    service = gc_units(SETTINGS, image, False, "daily", "europe-docker.pkg.dev", shared_bucket)["registry-gc.service"]
    assert home[0] in service.splitlines()
    assert f" {image} garbage-collect " in service
    without = gc_units(SETTINGS, "registry:2.8.3", False, "daily", None, shared_bucket)["registry-gc.service"]
    assert "HOME=" not in without
