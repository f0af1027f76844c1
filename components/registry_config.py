"""What the self-hosted registry:2 reads, rendered from data: its `config.yml`, the htpasswd line, the
systemd unit and the cloud-init user-data that runs it on Container-Optimized OS.

Pure functions, no Pulumi resources: the VM, the local container and the tests that start the real
registry all use the same renders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.settings import RegistrySettings

# Paths inside the registry container.
CONFIG_PATH = "/etc/docker/registry/config.yml"
DATA_PATH = "/var/lib/registry"
AUTH_DIR = "/auth"
HTPASSWD_PATH = f"{AUTH_DIR}/htpasswd"
TLS_CERT_PATH = f"{AUTH_DIR}/tls.crt"
TLS_KEY_PATH = f"{AUTH_DIR}/tls.key"
DEFAULT_DEBUG_PORT = 5001
# Multiple of 256 KiB, as the gcs driver requires.
GCS_CHUNK_SIZE = 20 * 262_144

# Paths on the VM (Container-Optimized OS: /etc is rewritten by cloud-init each boot, /run is tmpfs,
# extra disks are mounted under /mnt/disks).
VM_CONFIG_DIR = "/etc/registry"
VM_SECRETS_DIR = "/run/registry"
VM_DATA_MOUNT = "/mnt/disks/registry"
DATA_DISK_DEVICE = "registry-data"
UNIT_NAME = "registry.service"
GC_SERVICE = "registry-gc.service"
GC_TIMER = "registry-gc.timer"
FETCH_SECRETS_SCRIPT = Path(__file__).with_name("fetch-secrets.sh")
GC_WINDOW_SCRIPT = Path(__file__).with_name("gc-window.sh")
READONLY_CONFIG = "config-readonly.yml"
MODE_ENV = "/run/registry-mode.env"
MODE_SERVICE = "registry-mode.service"
MODE_TIMER = "registry-mode.timer"
# The shared-bucket collection window (gc-window.sh): every registry reads the window object every
# MODE_POLL_SEC and restarts read-only within its stop timeout; the collector waits GC_SETTLE_SEC
# (more than both) before collecting, is stopped after GC_MAX_SEC, and the window's deadline is
# later still, so no registry writes while a collector runs.
# A stop lets requests in flight finish: the registry drains for DRAIN_TIMEOUT_SEC after SIGTERM, docker
# waits DOCKER_STOP_SEC before SIGKILL, systemd STOP_TIMEOUT_SEC. A Compute Engine VM that is stopped or
# deleted (a rolling replacement) gets about 90 s to shut down in all, which the other units, docker
# and the unmounts share: the registry takes at most 65 of them.
DRAIN_TIMEOUT_SEC = 45
DOCKER_STOP_SEC = 55
STOP_TIMEOUT_SEC = 65
SHUTDOWN_BUDGET_SEC = 90
MODE_POLL_SEC = 60
MODE_JITTER_SEC = 45  # VMs restart into and out of read-only at different moments, not all at once
GC_SETTLE_SEC = 300
# gc-window.sh's curl calls end within CURL_CALL_SEC each (its curl options); a `mode` run makes a few,
# and restarts the registry (a stop of up to STOP_TIMEOUT_SEC, a start that reads the window again).
# Killed past MODE_TIMEOUT_SEC, it has decided the mode already (an unknown window: read-only).
CURL_CALL_SEC = 25
MODE_TIMEOUT_SEC = 300
GC_MAX_SEC = 3300
# The collector's stop (docker run's client), then each ExecStopPost (docker rm -f, end) gets this long.
GC_STOP_TIMEOUT_SEC = 20
GC_WINDOW_SEC = GC_SETTLE_SEC + GC_MAX_SEC + 120
MOUNT_DATA_DISK_SCRIPT = Path(__file__).with_name("mount-data-disk.sh")
DATA_DISK_PATH = f"/dev/disk/by-id/google-{DATA_DISK_DEVICE}"


@dataclass(frozen=True)
class FilesystemStorage:
    rootdirectory: str = DATA_PATH


@dataclass(frozen=True)
class GcsStorage:
    bucket: str
    rootdirectory: str = "/registry"


Storage = FilesystemStorage | GcsStorage


def debug_port(registry: RegistrySettings) -> int:
    """The debug listener's port, never the registry's own (both bind inside one container)."""
    return DEFAULT_DEBUG_PORT if registry.port != DEFAULT_DEBUG_PORT else DEFAULT_DEBUG_PORT + 1


def registry_config(registry: RegistrySettings, storage: Storage, *, http_secret: str | None,
                    tls: bool = False, listen_host: str = "", debug_host: str = "127.0.0.1",
                    read_only: bool = False) -> dict[str, Any]:
    """The registry's configuration. `http_secret=None` leaves it to REGISTRY_HTTP_SECRET (the VM
    fetches it from Secret Manager at start, so it never sits in instance metadata). `debug_host=""`
    listens on every interface of the container: the VM publishes that port on its own loopback.
    `read_only`: pulls served, pushes and deletes refused (while another registry collects)."""
    driver: dict[str, Any]
    if isinstance(storage, GcsStorage):
        # With VM credentials 2.8 cannot sign GCS redirect URLs: serve blobs through the registry.
        driver = {"gcs": {"bucket": storage.bucket, "rootdirectory": storage.rootdirectory,
                          "chunksize": GCS_CHUNK_SIZE}, "redirect": {"disable": True}}
    else:
        driver = {"filesystem": {"rootdirectory": storage.rootdirectory}}
    http: dict[str, Any] = {
        "addr": f"{listen_host}:{registry.port}",
        # On SIGTERM, finish the requests in flight (a layer upload) before exiting.
        "draintimeout": f"{DRAIN_TIMEOUT_SEC}s",
        "headers": {"X-Content-Type-Options": ["nosniff"]},
        # Health and Prometheus metrics: never published beyond a loopback.
        "debug": {"addr": f"{debug_host}:{debug_port(registry)}", "prometheus": {"enabled": True, "path": "/metrics"}},
    }
    if http_secret is not None:
        http["secret"] = http_secret
    if tls:
        http["tls"] = {"certificate": TLS_CERT_PATH, "key": TLS_KEY_PATH}
    return {
        "version": 0.1,
        "log": {"level": "info", "fields": {"service": "registry"}},
        "storage": {
            **driver,
            "delete": {"enabled": registry.delete_enabled},
            "cache": {"blobdescriptor": "inmemory"},
            # Abandoned uploads are removed after a week.
            "maintenance": {"uploadpurging": {"enabled": not read_only, "age": "168h", "interval": "24h",
                                              "dryrun": False},
                            **({"readonly": {"enabled": True}} if read_only else {})},
        },
        "http": http,
        "auth": {"htpasswd": {"realm": "registry", "path": HTPASSWD_PATH}},
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (file contents in user-data) as literal blocks: readable in the console."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_yaml(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


def htpasswd(username: str, bcrypt_hash: str) -> str:
    """One htpasswd entry; registry:2 accepts bcrypt hashes only."""
    if not bcrypt_hash.startswith(("$2a$", "$2b$", "$2y$")):
        raise ValueError("registry:2 htpasswd entries must be bcrypt hashes")
    return f"{username}:{bcrypt_hash}\n"


def render_unit(sections: dict[str, list[tuple[str, str]]]) -> str:
    """systemd's INI format from data; keys may repeat (ExecStartPre), so each section is a list."""
    return "\n".join(f"[{name}]\n" + "".join(f"{key}={value}\n" for key, value in entries)
                     for name, entries in sections.items())


@dataclass(frozen=True)
class VmSecret:
    """A Secret Manager secret the unit fetches into /run/registry before each start."""
    secret_id: str
    file_name: str


def bind(source: str, target: str, read_only: bool = False) -> str:
    """`--mount type=bind` refuses a missing source; `-v` would create it (on COS: in RAM)."""
    return f"--mount type=bind,source={source},target={target}" + (",readonly" if read_only else "")


def vm_unit(registry: RegistrySettings, image: str, project: str, secrets: list[VmSecret],
            disk_storage: bool, gcr_registry: str | None = None, shared_bucket: str | None = None) -> str:
    """The systemd unit that runs the pinned registry image; `docker -p` opens its port on COS.
    The debug listener (health, metrics) is published on the VM's loopback only. With a
    `shared_bucket`, the config it mounts is the one the collection window asks for (gc-window.sh
    writes REGISTRY_CONFIG before each start), so a VM that boots during a window starts read-only."""
    fetch = " ".join([f"/bin/bash {VM_CONFIG_DIR}/fetch-secrets.sh {project}",
                      *(f"{s.secret_id}={VM_SECRETS_DIR}/{s.file_name}" for s in secrets)])
    debug = debug_port(registry)
    run = ["/usr/bin/docker run --rm --name registry",
           f"--stop-timeout {DOCKER_STOP_SEC}",
           f"-p {registry.port}:{registry.port}",
           f"-p 127.0.0.1:{debug}:{debug}",
           f"--env-file {VM_SECRETS_DIR}/http-secret.env",
           bind(f"{VM_CONFIG_DIR}/{'${REGISTRY_CONFIG}' if shared_bucket else 'config.yml'}", CONFIG_PATH,
                read_only=True),
           bind(VM_SECRETS_DIR, AUTH_DIR, read_only=True)]
    if disk_storage:
        run.append(bind(f"{VM_DATA_MOUNT}/data", DATA_PATH))
    run.append(image)
    unit: list[tuple[str, str]] = [("Description", "Docker Distribution registry (registry:2)"),
                                   ("Wants", "network-online.target"),
                                   ("After", "network-online.target docker.service"),
                                   ("Requires", "docker.service"), *_data_mount(disk_storage)]
    service: list[tuple[str, str]] = []
    if gcr_registry:
        # Pulls through the Artifact Registry cache with the VM's service account.
        service += [("Environment", "HOME=/home/registry"),
                    ("ExecStartPre", "/bin/mkdir -p /home/registry"),
                    ("ExecStartPre", f"/usr/bin/docker-credential-gcr configure-docker --registries={gcr_registry}")]
    service.append(("ExecStartPre", fetch))
    if shared_bucket:
        service += [("Environment", "REGISTRY_CONFIG=config.yml"), ("EnvironmentFile", f"-{MODE_ENV}"),
                    ("ExecStartPre", f"/bin/bash {VM_CONFIG_DIR}/gc-window.sh mode {shared_bucket} --at-start")]
    service += [
        ("ExecStartPre", "-/usr/bin/docker rm -f registry"),
        ("ExecStart", " ".join(run)),
        ("ExecStop", f"/usr/bin/docker stop -t {DOCKER_STOP_SEC} registry"),
        ("TimeoutStopSec", str(STOP_TIMEOUT_SEC)),
        ("Restart", "always"),
        ("RestartSec", "5"),
    ]
    return render_unit({"Unit": unit, "Service": service, "Install": [("WantedBy", "multi-user.target")]})


def _data_mount(disk_storage: bool) -> list[tuple[str, str]]:
    """Never start on the boot disk's tmpfs: the data disk must be mounted (bootcmd mounts it)."""
    return [("RequiresMountsFor", VM_DATA_MOUNT), ("AssertPathIsMountPoint", VM_DATA_MOUNT)] if disk_storage else []


def gc_arguments(config_path: str) -> list[str]:
    """`registry garbage-collect`: blobs no manifest references any more (those of manifests deleted by
    digest through the API). Never `--delete-untagged`: on Distribution 2.8 it deletes the platform
    manifests of every tagged image index (they carry no tag of their own; distribution#3004, fixed
    in v3 only), and `docker buildx` pushes an index for almost every image."""
    return ["garbage-collect", config_path]


def gc_units(registry: RegistrySettings, image: str, disk_storage: bool, schedule: str,
             gcr_registry: str | None = None, shared_bucket: str | None = None) -> dict[str, str]:
    """A timer and a oneshot service that collect with the same image and config. On its own disk the
    VM stops its registry, collects, and starts it again whatever happened. With a `shared_bucket`,
    every VM's timer fires on the same schedule; the first to open the window (gc-window.sh begin)
    collects once every registry has gone read-only, the others skip; `registry-mode.timer` keeps each
    registry's mode in step with the window. Output goes to the journal, and on to Cloud Logging."""
    run = ["/usr/bin/docker run --rm --name registry-gc",
           bind(f"{VM_CONFIG_DIR}/config.yml", CONFIG_PATH, read_only=True)]
    if disk_storage:
        run.append(bind(f"{VM_DATA_MOUNT}/data", DATA_PATH))
    run += [image, *gc_arguments(CONFIG_PATH)]
    service: list[tuple[str, str]] = [("Type", "oneshot")]
    if gcr_registry:
        service.append(("Environment", "HOME=/home/registry"))
    if shared_bucket is None:
        service += [("ExecStartPre", f"systemctl stop {UNIT_NAME}"),
                    ("ExecStartPre", "-/usr/bin/docker rm -f registry-gc"),
                    ("ExecStart", " ".join(run)),
                    ("ExecStopPost", f"systemctl start --no-block {UNIT_NAME}")]
        description = "Registry garbage collection (the registry is stopped meanwhile)"
        # Persistent: a run missed while the VM was off happens at the next boot.
        timer = [("OnCalendar", schedule), ("Persistent", "true")]
    else:
        window = f"/bin/bash {VM_CONFIG_DIR}/gc-window.sh"
        service += [("ExecCondition", f"{window} begin {shared_bucket}"),
                    ("ExecStartPre", f"/bin/sleep {GC_SETTLE_SEC}"),
                    # The handshake: every registry that beats has acknowledged this window read-only.
                    ("ExecStartPre", f"{window} check {shared_bucket}"),
                    ("ExecStartPre", "-/usr/bin/docker rm -f registry-gc"),
                    ("ExecStart", " ".join(run)),
                    # Stopped before the window's deadline: no registry writes while it runs.
                    ("TimeoutStartSec", str(GC_SETTLE_SEC + GC_MAX_SEC)),
                    ("TimeoutStopSec", str(GC_STOP_TIMEOUT_SEC)),
                    ("ExecStopPost", "-/usr/bin/docker rm -f registry-gc"),
                    ("ExecStopPost", f"{window} end {shared_bucket}")]
        description = "Registry garbage collection (every registry on the bucket read-only meanwhile)"
        # Not Persistent: a late run would only open a window of its own, but there is no need.
        timer = [("OnCalendar", schedule), ("AccuracySec", "1s")]
    units = {
        GC_SERVICE: render_unit({
            "Unit": [("Description", description),
                     ("Requires", "docker.service"), ("After", f"docker.service {UNIT_NAME}"),
                     *_data_mount(disk_storage)],
            "Service": service,
        }),
        GC_TIMER: render_unit({
            "Unit": [("Description", "Scheduled registry garbage collection")],
            "Timer": timer,
            "Install": [("WantedBy", "timers.target")],
        }),
    }
    if shared_bucket is not None:
        units[MODE_SERVICE] = render_unit({
            "Unit": [("Description", "Registry read-only while a collection window is open on the bucket"),
                     ("After", UNIT_NAME)],
            "Service": [("Type", "oneshot"),
                        ("ExecStart", f"/bin/bash {VM_CONFIG_DIR}/gc-window.sh mode {shared_bucket}"),
                        # A oneshot has no start timeout by default: a hung run would keep the mode.
                        ("TimeoutStartSec", str(MODE_TIMEOUT_SEC))],
        })
        units[MODE_TIMER] = render_unit({
            "Unit": [("Description", "Check the collection window every minute")],
            "Timer": [("OnActiveSec", str(MODE_POLL_SEC)), ("OnUnitActiveSec", str(MODE_POLL_SEC)),
                      ("AccuracySec", "1s"), ("RandomizedDelaySec", str(MODE_JITTER_SEC))],
            "Install": [("WantedBy", "timers.target")],
        })
    return units


def mount_data_disk_command() -> list[str]:
    """bootcmd entry: the mount script, inline (bootcmd runs before write_files), with its arguments."""
    return ["bash", "-c", MOUNT_DATA_DISK_SCRIPT.read_text(), "mount-data-disk", DATA_DISK_PATH, VM_DATA_MOUNT]


def cloud_init(config_yml: str, unit: str, disk_storage: bool, extra_units: dict[str, str] | None = None,
               readonly_config_yml: str | None = None) -> str:
    """COS user-data: write the config, the secret fetcher and the units, then start the registry and
    any timer (/etc is rewritten at each boot, so units are started, not enabled). With a read-only
    config (a shared bucket), also that config and the collection window's script."""
    shared = [] if readonly_config_yml is None else [
        {"path": f"{VM_CONFIG_DIR}/{READONLY_CONFIG}", "permissions": "0644", "owner": "root",
         "content": readonly_config_yml},
        {"path": f"{VM_CONFIG_DIR}/gc-window.sh", "permissions": "0755", "owner": "root",
         "content": GC_WINDOW_SCRIPT.read_text()}]
    files = [
        {"path": f"{VM_CONFIG_DIR}/config.yml", "permissions": "0644", "owner": "root", "content": config_yml},
        *shared,
        {"path": f"{VM_CONFIG_DIR}/fetch-secrets.sh", "permissions": "0755", "owner": "root",
         "content": FETCH_SECRETS_SCRIPT.read_text()},
        {"path": f"/etc/systemd/system/{UNIT_NAME}", "permissions": "0644", "owner": "root", "content": unit},
        *({"path": f"/etc/systemd/system/{name}", "permissions": "0644", "owner": "root", "content": content}
          for name, content in (extra_units or {}).items()),
    ]
    data: dict[str, Any] = {}
    if disk_storage:
        data["bootcmd"] = [mount_data_disk_command()]
    data["write_files"] = files
    timers = [name for name in extra_units or {} if name.endswith(".timer")]
    data["runcmd"] = [["systemctl", "daemon-reload"], ["systemctl", "start", UNIT_NAME, *timers]]
    return "#cloud-config\n" + render_yaml(data)
