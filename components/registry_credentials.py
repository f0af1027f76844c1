"""The self-hosted registry's generated credentials: a password (its bcrypt hash is all the registry
sees) and the http secret that signs upload state. Both secrets end to end."""

from __future__ import annotations

import pulumi
import pulumi_random as random

from components.registry_config import htpasswd


class RegistryCredentials(pulumi.ComponentResource):
    def __init__(self, name: str, username: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:registry:RegistryCredentials", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword("registry-password", length=32, special=False, opts=child)
        http_secret = random.RandomPassword("registry-http-secret", length=48, special=False, opts=child)
        self.username = username
        # Marked here too: the provider marks them, but nothing downstream should depend on that.
        self.password: pulumi.Output[str] = pulumi.Output.secret(password.result)
        self.htpasswd: pulumi.Output[str] = pulumi.Output.secret(
            password.bcrypt_hash.apply(lambda hashed: htpasswd(username, hashed)))
        self.http_secret: pulumi.Output[str] = pulumi.Output.secret(http_secret.result)
        self.register_outputs({"username": username})
