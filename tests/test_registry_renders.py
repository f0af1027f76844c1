"""Golden renders of the registry's files (components/registry_config.py, apart from garbage collection):
the whole config, unit and user-data, word for word. Docker Distribution ignores a config key it does not
know and systemd warns and goes on past a misspelled one, so a changed key, path or flag would fail
nowhere else before a VM runs it; here any change fails and is made on purpose."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components import image_refs
from components import registry_config as rc
from components.registry_config import FilesystemStorage, GcsStorage, VmSecret
from components.settings import RegistrySettings

SECRETS = [VmSecret("registry-htpasswd", "htpasswd"), VmSecret("registry-http-secret", "http-secret.env")]
COMMON: dict[str, Any] = {
    "cache": {"blobdescriptor": "inmemory"},
    "maintenance": {"uploadpurging": {"enabled": True, "age": "168h", "interval": "24h", "dryrun": False}},
}
TAIL: dict[str, Any] = {
    "auth": {"htpasswd": {"realm": "registry", "path": "/auth/htpasswd"}},
    "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
}
HEAD: dict[str, Any] = {"version": 0.1, "log": {"level": "info", "fields": {"service": "registry"}}}
METRICS = {"enabled": True, "path": "/metrics"}


def test_filesystem_config_in_full() -> None:
    assert rc.registry_config(RegistrySettings(), FilesystemStorage(), http_secret=None) == {
        **HEAD,
        "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}, "delete": {"enabled": False}, **COMMON},
        "http": {"addr": ":5000", "draintimeout": "45s", "headers": {"X-Content-Type-Options": ["nosniff"]},
                 "debug": {"addr": "127.0.0.1:5001", "prometheus": METRICS}},
        **TAIL,
    }


def test_gcs_tls_config_in_full() -> None:
    config = rc.registry_config(RegistrySettings(delete_enabled=True, port=5443), GcsStorage(bucket="b"),
                                http_secret="s", tls=True, listen_host="0.0.0.0", debug_host="")
    assert config == {
        **HEAD,
        "storage": {"gcs": {"bucket": "b", "rootdirectory": "/registry", "chunksize": 5242880},
                    "redirect": {"disable": True}, "delete": {"enabled": True}, **COMMON},
        "http": {"addr": "0.0.0.0:5443", "draintimeout": "45s", "headers": {"X-Content-Type-Options": ["nosniff"]},
                 "debug": {"addr": ":5001", "prometheus": METRICS}, "secret": "s",
                 "tls": {"certificate": "/auth/tls.crt", "key": "/auth/tls.key"}},
        **TAIL,
    }
    assert list(config) == ["version", "log", "storage", "http", "auth", "health"]  # the order the docs show


@pytest.mark.parametrize(("port", "debug"), [(5000, 5001), (5001, 5002), (5002, 5001), (65535, 5001)])
def test_debug_port(port: int, debug: int) -> None:
    assert rc.debug_port(RegistrySettings(port=port)) == debug


def test_filesystem_storage_root_can_move() -> None:
    config = rc.registry_config(RegistrySettings(), FilesystemStorage("/data"), http_secret=None)
    assert config["storage"]["filesystem"] == {"rootdirectory": "/data"}
    assert rc.registry_config(RegistrySettings(), GcsStorage("b", "/r"), http_secret=None)["storage"]["gcs"][
        "rootdirectory"] == "/r"


def test_render_yaml_keeps_order_and_writes_file_contents_as_literal_blocks() -> None:
    assert rc.render_yaml({"b": "x\ny\n", "a": "plain", "c": [1, {"d": True}]}) == (
        "b: |\n  x\n  y\na: plain\nc:\n- 1\n- d: true\n")
    words = "w " * 55
    assert rc.render_yaml({"k": words}) == f"k: '{words}'\n"  # 115 characters: one line (width 120, not 80)


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_htpasswd_takes_each_bcrypt_prefix(prefix: str) -> None:
    assert rc.htpasswd("registry", f"{prefix}10$abc") == f"registry:{prefix}10$abc\n"


@pytest.mark.parametrize("value", ["$1$abc", "$5$abc", "plain", "{SHA}abc"])
def test_htpasswd_refuses_other_hashes(value: str) -> None:
    with pytest.raises(ValueError, match=r"^registry:2 htpasswd entries must be bcrypt hashes$"):
        rc.htpasswd("registry", value)


def test_render_unit() -> None:
    assert rc.render_unit({"A": [("k", "v"), ("k", "w")], "B": []}) == "[A]\nk=v\nk=w\n\n[B]\n"


def test_bind() -> None:
    assert rc.bind("/a", "/b") == "--mount type=bind,source=/a,target=/b"
    assert rc.bind("/a", "/b", read_only=True) == "--mount type=bind,source=/a,target=/b,readonly"


RUN = ("ExecStart=/usr/bin/docker run --rm --name registry --stop-timeout 55 -p 5000:5000 -p 127.0.0.1:5001:5001 "
       "--env-file /run/registry/http-secret.env "
       "--mount type=bind,source=/etc/registry/config.yml,target=/etc/docker/registry/config.yml,readonly "
       "--mount type=bind,source=/run/registry,target=/auth,readonly ")
TAIL_OF_UNIT = """ExecStop=/usr/bin/docker stop -t 55 registry
TimeoutStopSec=65
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
"""


def test_vm_unit_with_a_data_disk_in_full() -> None:
    assert rc.vm_unit(RegistrySettings(), "registry:2.8.3", "proj", SECRETS, disk_storage=True) == f"""[Unit]
Description=Docker Distribution registry (registry:2)
Wants=network-online.target
After=network-online.target docker.service
Requires=docker.service
RequiresMountsFor=/mnt/disks/registry
AssertPathIsMountPoint=/mnt/disks/registry

[Service]
ExecStartPre=/bin/bash /etc/registry/fetch-secrets.sh proj registry-htpasswd=/run/registry/htpasswd \
registry-http-secret=/run/registry/http-secret.env
ExecStartPre=-/usr/bin/docker rm -f registry
{RUN}--mount type=bind,source=/mnt/disks/registry/data,target=/var/lib/registry registry:2.8.3
{TAIL_OF_UNIT}"""


def test_vm_unit_pulling_through_artifact_registry_in_full() -> None:
    unit = rc.vm_unit(RegistrySettings(), "H/p/c/library/registry:2.8.3", "proj", SECRETS[:1], disk_storage=False,
                      gcr_registry="H")
    assert unit == f"""[Unit]
Description=Docker Distribution registry (registry:2)
Wants=network-online.target
After=network-online.target docker.service
Requires=docker.service

[Service]
Environment=HOME=/home/registry
ExecStartPre=/bin/mkdir -p /home/registry
ExecStartPre=/usr/bin/docker-credential-gcr configure-docker --registries=H
ExecStartPre=/bin/bash /etc/registry/fetch-secrets.sh proj registry-htpasswd=/run/registry/htpasswd
ExecStartPre=-/usr/bin/docker rm -f registry
{RUN}H/p/c/library/registry:2.8.3
{TAIL_OF_UNIT}"""


def test_cloud_init_in_full() -> None:
    units = {"a.service": "A\n", "b.timer": "B\n", "c.timer": "C\n"}
    text = rc.cloud_init("CONFIG\n", "UNIT\n", disk_storage=True, extra_units=units)
    assert text.startswith("#cloud-config\n")
    data = yaml.safe_load(text)
    file = {"permissions": "0644", "owner": "root"}
    assert data == {
        "bootcmd": [["bash", "-c", rc.MOUNT_DATA_DISK_SCRIPT.read_text(), "mount-data-disk",
                     "/dev/disk/by-id/google-registry-data", "/mnt/disks/registry"]],
        "write_files": [
            {"path": "/etc/registry/config.yml", **file, "content": "CONFIG\n"},
            {"path": "/etc/registry/fetch-secrets.sh", "permissions": "0755", "owner": "root",
             "content": rc.FETCH_SECRETS_SCRIPT.read_text()},
            {"path": "/etc/systemd/system/registry.service", **file, "content": "UNIT\n"},
            {"path": "/etc/systemd/system/a.service", **file, "content": "A\n"},
            {"path": "/etc/systemd/system/b.timer", **file, "content": "B\n"},
            {"path": "/etc/systemd/system/c.timer", **file, "content": "C\n"},
        ],
        "runcmd": [["systemctl", "daemon-reload"], ["systemctl", "start", "registry.service", "b.timer", "c.timer"]],
    }
    assert list(data) == ["bootcmd", "write_files", "runcmd"]  # the disk is mounted before anything starts
    assert "fsck.ext4" in data["bootcmd"][0][2] and "fetch-secrets" not in data["bootcmd"][0][2]


def test_cloud_init_without_a_disk_or_extra_units() -> None:
    data = yaml.safe_load(rc.cloud_init("CONFIG\n", "UNIT\n", disk_storage=False))
    assert list(data) == ["write_files", "runcmd"]
    assert data["runcmd"] == [["systemctl", "daemon-reload"], ["systemctl", "start", "registry.service"]]


@pytest.mark.parametrize(("image", "expected"), [
    ("registry:2.8.3", "P/library/registry:2.8.3"),
    ("acme/registry:2.8.3", "P/acme/registry:2.8.3"),
    ("ghcr.io/acme/registry:2.8.3", "ghcr.io/acme/registry:2.8.3"),  # a host: a dot
    ("host:5000/registry:2.8.3", "host:5000/registry:2.8.3"),  # a host: a port
    ("localhost/registry:2.8.3", "localhost/registry:2.8.3"),
    ("team/site.web/registry:1", "P/team/site.web/registry:1"),  # only the first component can be a host
    ("registry@sha256:" + "a" * 64, "P/library/registry@sha256:" + "a" * 64),
])
def test_via_proxy(image: str, expected: str) -> None:
    assert image_refs.via_proxy(image, "P") == expected
