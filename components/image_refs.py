"""Image references as data: which registry host a reference names, and how a Docker Hub image is
reached through the Artifact Registry cache. Pure string functions, used by settings (to check the
names they derive) and by the registry host (to pull its image); they import nothing of the program."""

from __future__ import annotations


def image_host(image: str) -> str | None:
    """The registry host an image reference names, or None for Docker Hub (`registry:2`, `bitnami/x`)."""
    first, slash, _ = image.partition("/")
    return first if slash and ("." in first or ":" in first or first == "localhost") else None


def via_proxy(image: str, proxy_path: str) -> str:
    """`registry:2.8.3` as pulled through the Docker Hub cache: PROXY/library/registry:2.8.3."""
    if image_host(image) is not None:
        return image  # already names a registry host
    return f"{proxy_path}/{image if '/' in image else 'library/' + image}"
