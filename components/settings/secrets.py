"""The secret-only keys: present only as Pulumi secrets, never printed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi

from stackconfig.reader import Problem

if TYPE_CHECKING:
    from components.settings.stack import Settings

SECRET_DOCS = {
    "registryTlsCert": "PEM certificate for direct (non-tunnel) registry access.",
    "registryTlsKey": "PEM private key matching registryTlsCert.",
}
SECRET_KEYS = tuple(SECRET_DOCS)
# Tokens that were stack secrets: whoever can decrypt a stack (a pull request's preview identity can
# decrypt dev's) could print them, and the state kept a copy. Refused, saying what replaces them.
GITHUB_TOKEN_SECRET = "cloudbuild-github-token"
RETIRED_SECRETS = {
    "githubToken": (
        "no stack secret for the GitHub token (every identity that decrypts the stack could read it): keep it "
        f"in Secret Manager, created once: `printf %s TOKEN | gcloud secrets create {GITHUB_TOKEN_SECRET} "
        "--project PROJECT --data-file=-`, then `pulumi config set --path buildTrigger.githubTokenSecretVersion "
        f"projects/PROJECT/secrets/{GITHUB_TOKEN_SECRET}/versions/1` and `pulumi config rm githubToken`; the "
        "next `pulumi up` deletes the stack's old github-token secret, and older state files still hold the "
        "token: revoke it on GitHub (docs/image-pipeline.md)"),
    "dockerHubToken": (
        "no stack secret for the Docker Hub token (it would sit in the stack's state): log in where `pulumi up` "
        "runs, `docker login docker.io --username USER` (the token stays in Docker's credential store), then "
        "`pulumi config rm dockerHubToken` and revoke the old token on Docker Hub (docs/sample-image.md)"),
}


@dataclass(frozen=True)
class Secrets:
    """Secret config values, present only as Pulumi secrets."""
    registry_tls_cert: pulumi.Output[str] | None = None
    registry_tls_key: pulumi.Output[str] | None = None


def read_secrets(namespace: str, raw: dict[str, Any], problems: list[Problem]) -> Secrets:
    from pulumi.runtime import config as runtime_config

    config = pulumi.Config(namespace)
    values: dict[str, pulumi.Output[str] | None] = {}
    for key in SECRET_KEYS:
        full = f"{namespace}:{key}"
        if key in raw and not runtime_config.is_config_secret(full):
            problems.append(Problem(full, None, f"a secret: `pulumi config set --secret {key} ...` "
                                    "(a plain value would sit in the stack file)", secret=True))
        values[_snake(key)] = config.get_secret(key)
    return Secrets(**values)


def _snake(key: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)


def cross_checks(s: Settings, ns: str, problems: list[Problem]) -> None:
    sec = s.secrets
    if (sec.registry_tls_cert is None) != (sec.registry_tls_key is None):
        present, missing = ("registryTlsCert", "registryTlsKey") if sec.registry_tls_key is None \
            else ("registryTlsKey", "registryTlsCert")
        problems.append(Problem(f"{ns}:{missing}", None,
                                f"the {missing} secret too: {present} is set and TLS needs both "
                                f"(or remove {present})"))
