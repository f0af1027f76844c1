"""The sample site image (app/), built for linux/amd64 and pushed to each registry target of the stack.

The tag comes from app/'s content, so an unchanged app/ means unchanged inputs and `pulumi up`
pushes nothing, and a tag never moves (immutable-tag repositories accept it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

PLATFORM = "linux/amd64"


@dataclass(frozen=True)
class PushTarget:
    """One registry to push to. `repository` is the image path without name and tag."""
    key: str                      # names the resource and the output entry
    server: str                   # what `docker login` talks to
    repository: pulumi.Input[str]
    username: pulumi.Input[str]
    password: pulumi.Input[str]   # wrapped in a secret here, whatever the caller passes
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    image_name: str | None = None  # overrides the stack's image name (Docker Hub repository)


@dataclass(frozen=True)
class SampleImageArgs:
    name: str
    targets: list[PushTarget]
    tag: str                 # components.app_source.content_tag(): computed once per run by the caller
    source_url: str = "unknown"
    context: str = "app"     # the same folder as Docker sees it: Pulumi runs the program in the project folder


class SampleImage(pulumi.ComponentResource):
    """Exposes `tag` and `images`: per target key, the pushed reference and its digest."""

    def __init__(self, name: str, args: SampleImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:image:SampleImage", name, None, opts)
        self.tag = args.tag
        self.images: dict[str, docker.Image] = {}
        for target in args.targets:
            ref = pulumi.Output.concat(target.repository, f"/{target.image_name or args.name}:{self.tag}")
            self.images[target.key] = docker.Image(
                f"{name}-{target.key}",
                image_name=ref,
                build={
                    "context": args.context,
                    "dockerfile": f"{args.context}/Dockerfile",
                    "platform": PLATFORM,
                    "args": {"SOURCE": args.source_url, "REVISION": self.tag},
                },
                registry={
                    "server": target.server,
                    "username": target.username,
                    "password": pulumi.Output.secret(target.password),
                },
                # Only what the push needs: the repository and the grants that allow it.
                opts=pulumi.ResourceOptions(parent=self, depends_on=target.depends_on),
            )
        self.register_outputs({"tag": self.tag, **{k: i.repo_digest for k, i in self.images.items()}})
