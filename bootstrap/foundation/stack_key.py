"""One Cloud KMS key ring and key per stack: Pulumi's `gcpkms://` secrets provider for that stack."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

KEY_NAME = "stack-secrets"


class StackKey(pulumi.ComponentResource):
    """Losing the key makes every secret in the stack's state and config unreadable: the ring and key are
    protected and the key refuses deletion itself (deletion_policy PREVENT). Rotation adds versions;
    older ones stay enabled, so earlier ciphertext still decrypts."""

    def __init__(self, name: str, stack: str, project: str, location: str, kms_api: pulumi.Resource,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing-bootstrap:gcp:StackKey", name, None, opts)
        ring_name = f"pulumi-{stack}"
        self.ring = gcp.kms.KeyRing(
            f"{stack}-ring", name=ring_name, project=project, location=location,
            opts=pulumi.ResourceOptions(parent=self, protect=True, depends_on=[kms_api]))
        self.key = gcp.kms.CryptoKey(
            f"{stack}-key",
            name=KEY_NAME,
            key_ring=self.ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=f"{90 * 86400}s",
            deletion_policy="PREVENT",
            opts=pulumi.ResourceOptions(parent=self, protect=True))
        self.resource_name = f"projects/{project}/locations/{location}/keyRings/{ring_name}/cryptoKeys/{KEY_NAME}"
        # Known before creation, but only usable after it: tie the URL to the key.
        self.secrets_provider: pulumi.Output[str] = self.key.id.apply(lambda _: f"gcpkms://{self.resource_name}")
        self.register_outputs({"secretsProvider": self.secrets_provider})
