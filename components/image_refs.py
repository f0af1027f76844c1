"""Image references as data: which registry host a reference names, and how a Docker Hub image is
reached through the Artifact Registry cache. Pure string functions, used by settings (to check the
names they derive) and by the registry host (to pull its image); they import nothing of the program."""

from __future__ import annotations

import re
from dataclasses import dataclass


def image_host(image: str) -> str | None:
    """The registry host an image reference names, or None for Docker Hub (`registry:2`, `bitnami/x`)."""
    first, slash, _ = image.partition("/")
    return first if slash and ("." in first or ":" in first or first == "localhost") else None


def via_proxy(image: str, proxy_path: str) -> str:
    """`registry:2.8.3` as pulled through the Docker Hub cache: PROXY/library/registry:2.8.3."""
    if image_host(image) is not None:
        return image  # already names a registry host
    return f"{proxy_path}/{image if '/' in image else 'library/' + image}"


@dataclass(frozen=True)
class ArtifactRepositoryRef:
    """The Artifact Registry repository an image reference names."""
    location: str
    project: str
    repository: str


# LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE[...]: a project id, a repository id, then the image.
_AR_IMAGE = re.compile(r"^(?P<location>[a-z][a-z0-9-]*[a-z0-9])-docker\.pkg\.dev/"
                       r"(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])/(?P<repository>[a-z]([a-z0-9-]*[a-z0-9])?)/[^/].*$")


def artifact_registry_repository(image: str) -> ArtifactRepositoryRef | None:
    """The repository of a `LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE` reference; None for any
    other reference, including a pkg.dev one that does not name a project and repository this way."""
    match = _AR_IMAGE.match(image)
    if match is None:
        return None
    return ArtifactRepositoryRef(match["location"], match["project"], match["repository"])
