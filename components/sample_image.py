"""The sample site image (app/), built for linux/amd64 and pushed to each registry target of the stack.

The tag comes from the build inputs themselves (components/app_source.py), so unchanged inputs mean
`pulumi up` pushes nothing, and a tag never moves (immutable-tag repositories accept it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.app_source import ImageBuild

CONTAINER_PORT = 8080  # app/nginx/default.conf: unprivileged nginx cannot bind below 1024


@dataclass(frozen=True)
class PushTarget:
    """One registry to push to. `repository` is the image path without name and tag."""
    key: str                      # names the resource and the output entry
    server: str                   # what `docker login` talks to
    repository: pulumi.Input[str]
    # Both unset: the push uses the Docker credentials of the machine that runs `pulumi up` (docker login).
    username: pulumi.Input[str] | None = None
    password: pulumi.Input[str] | None = None  # wrapped in a secret here, whatever the caller passes
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    image_name: str | None = None  # overrides the stack's image name (Docker Hub repository)


@dataclass(frozen=True)
class SampleImageArgs:
    name: str
    targets: list[PushTarget]
    build: ImageBuild        # components.app_source.sample_site_build(): computed once per run by the caller


class SampleImage(pulumi.ComponentResource):
    """Exposes `tag` and `images`: per target key, the pushed reference and its digest."""

    def __init__(self, name: str, args: SampleImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:image:SampleImage", name, None, opts)
        self.tag = args.build.tag
        self.images: dict[str, docker.Image] = {}
        for target in args.targets:
            ref = pulumi.Output.concat(target.repository, f"/{target.image_name or args.name}:{self.tag}")
            self.images[target.key] = docker.Image(
                f"{name}-{target.key}",
                image_name=ref,
                build=args.build.build,  # exactly the inputs the tag was computed from
                registry={"server": target.server} if target.password is None else {
                    "server": target.server,
                    "username": target.username,
                    "password": pulumi.Output.secret(target.password),
                },
                # Only what the push needs: the repository and the grants that allow it.
                opts=pulumi.ResourceOptions(parent=self, depends_on=target.depends_on),
            )
        self.register_outputs({"tag": self.tag, **{k: i.repo_digest for k, i in self.images.items()}})
