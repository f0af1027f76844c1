"""The walkthrough's `docker run -d -p 5000:5000 --restart always --name registry registry:2`, made
private and durable on the user's own Docker: pinned image, data in a named volume (kept when the
container is replaced), htpasswd auth, published on 127.0.0.1 only."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.registry_config import (
    CONFIG_PATH,
    DATA_PATH,
    HTPASSWD_PATH,
    FilesystemStorage,
    debug_port,
    registry_config,
    render_yaml,
)
from components.registry_credentials import RegistryCredentials
from components.settings import RegistrySettings

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class LocalRegistryArgs:
    registry: RegistrySettings
    credentials: RegistryCredentials


class LocalRegistry(pulumi.ComponentResource):
    """Exposes `address` (what `docker login/tag/push` use) and `container`."""

    def __init__(self, name: str, args: LocalRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:registry:LocalRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        port = args.registry.port
        image = docker.RemoteImage("registry-image", name=args.registry.image, keep_locally=True, opts=child)
        volume = docker.Volume("registry-data", name="registry-data", opts=child)
        config: pulumi.Output[str] = pulumi.Output.secret(args.credentials.http_secret.apply(
            lambda secret: render_yaml(registry_config(args.registry, FilesystemStorage(), http_secret=secret))))
        self.container = docker.Container(
            "registry",
            name="registry",
            image=image.image_id,
            restart="always",
            ports=[{"internal": port, "external": port, "ip": LOOPBACK}],
            volumes=[{"volume_name": volume.name, "container_path": DATA_PATH}],
            uploads=[
                {"file": CONFIG_PATH, "content": config},
                {"file": HTPASSWD_PATH, "content": args.credentials.htpasswd},
            ],
            # `pulumi up` returns (and the sample image is pushed) only once the registry answers.
            healthcheck={
                "tests": ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{debug_port(args.registry)}/debug/health"],
                "interval": "5s", "timeout": "3s", "retries": 5, "start_period": "2s",
            },
            wait=True,
            wait_timeout=60,
            opts=child,
        )
        self.address = f"localhost:{port}"
        self.register_outputs({"address": self.address})
