"""A CI service account: the roles it holds on its stack's project, its use of the stack's KMS key and
of the state bucket, and the one federated principal allowed to become it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from foundation.stack_key import StackKey
from foundation.state_bucket import StateBucket

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
STATE_READER = "roles/storage.objectViewer"
STATE_WRITER = "roles/storage.objectUser"


def state_paths(bucket: str, program: str, stack: str) -> tuple[str, ...]:
    """Object name prefixes a DIY (gs://) backend writes for one stack of one project (pulumi/pulumi
    pkg/backend/diy: store.go's StackBasePath + `.json[.gz|.zst][.bak]`, BackupDir and HistoryDir; lock.go
    keys locks by the stack's fully qualified name, `organization/PROJECT/STACK`)."""
    base = f"projects/_/buckets/{bucket}/objects/.pulumi"
    return (f"{base}/stacks/{program}/{stack}.json", f"{base}/backups/{program}/{stack}/",
            f"{base}/history/{program}/{stack}/", f"{base}/locks/organization/{program}/{stack}/")


def prefix_condition(prefixes: tuple[str, ...]) -> str:
    return " || ".join(f"resource.name.startsWith('{p}')" for p in prefixes)


def read_condition(bucket: str, program: str, stack: str) -> str:
    """One stack's objects, the backend's meta.yaml, and the bucket itself (storage.objects.list is checked
    on the bucket, and the backend lists to find a stack's file and its locks): object names of the
    other stacks stay listable, their content not."""
    exact = (f"projects/_/buckets/{bucket}", f"projects/_/buckets/{bucket}/objects/.pulumi/meta.yaml")
    return " || ".join([f"resource.name == '{name}'" for name in exact]
                       + [prefix_condition(state_paths(bucket, program, stack))])


@dataclass(frozen=True)
class Condition:
    title: str
    expression: str


@dataclass(frozen=True)
class IdentityArgs:
    account_id: str
    description: str
    host_project: str  # where the service account lives
    target_project: str  # where its roles apply
    roles: tuple[str, ...]
    principal: pulumi.Input[str]
    key: StackKey
    key_role: str
    state: StateBucket
    state_writes: tuple[str, ...] = ()  # object prefixes it may write; none: read-only
    state_reads: str | None = None  # IAM condition on what it may read of the state; None: all of it
    conditions: dict[str, Condition] = field(default_factory=dict)  # role -> condition on that grant
    apis: list[pulumi.Resource] = field(default_factory=list)  # IAM here, Resource Manager there


class CiIdentity(pulumi.ComponentResource):
    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing-bootstrap:gcp:CiIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.account = gcp.serviceaccount.Account(
            name, account_id=args.account_id, project=args.host_project, display_name=args.description,
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.apis))
        self.email: pulumi.Output[str] = self.account.email
        member = self.account.email.apply(lambda email: f"serviceAccount:{email}")
        self.grants: dict[str, gcp.projects.IAMMember] = {}
        for role in args.roles:
            condition = args.conditions.get(role)
            self.grants[role] = gcp.projects.IAMMember(
                f"{name}-{role.removeprefix('roles/').replace('.', '-')}",
                project=args.target_project, role=role, member=member,
                condition={"title": condition.title, "expression": condition.expression} if condition else None,
                opts=pulumi.ResourceOptions(parent=self, depends_on=args.apis))
        self.federation = gcp.serviceaccount.IAMMember(
            f"{name}-federated", service_account_id=self.account.name, role=WORKLOAD_IDENTITY_USER,
            member=args.principal, opts=child)
        self.key_grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-stack-key", crypto_key_id=args.key.key.id, role=args.key_role, member=member, opts=child)
        self.state_grants = [gcp.storage.BucketIAMMember(
            f"{name}-state-read", bucket=args.state.bucket.name, role=STATE_READER, member=member,
            condition={"title": "own stack's state only", "expression": args.state_reads} if args.state_reads
            else None, opts=child)]
        if args.state_writes:
            self.state_grants.append(gcp.storage.BucketIAMMember(
                f"{name}-state-write", bucket=args.state.bucket.name, role=STATE_WRITER, member=member,
                condition={"title": "own stack's state only", "expression": prefix_condition(args.state_writes)},
                opts=child))
        self.register_outputs({"email": self.email})
