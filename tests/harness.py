"""Runs the whole Pulumi program for a stack under Pulumi's own mocks and records what it registers:
each resource's type, name, inputs, dependencies, provider, parent and protect flag, plus the stack
outputs. Used by the tests and by the benchmark. The main program by default; `project_dir=BOOTSTRAP`
runs the bootstrap project the same way."""

from __future__ import annotations

import asyncio
import json
import runpy
import sys
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc as rpc_sig
from pulumi.runtime.stack import run_pulumi_func

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "bootstrap"
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
STACKS = ("dev", "prod", "local")
# What the mocks answer for invokes and for provider-computed outputs.
PROJECT_NUMBER = "123456789012"
ACCESS_TOKEN = "mock-access-token"


@dataclass
class Resource:
    type: str
    name: str
    urn: str
    custom: bool
    inputs: dict[str, Any]
    parent: str
    provider: str
    protect: bool
    dependencies: set[str] = field(default_factory=set)  # URNs of custom resources waited for
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Invoke:
    token: str
    args: dict[str, Any]
    provider: str  # the provider reference the engine got ("URN::ID"), as for resources


@dataclass
class StackRun:
    stack: str
    resources: list[Resource]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    invokes: list[Invoke] = field(default_factory=list)

    @property
    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Resource:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def deps_of(self, resource: Resource) -> set[str]:
        """Dependencies as `type:name` strings, readable in assertions."""
        urns = self.by_urn
        return {f"{urns[u].type}:{urns[u].name}" for u in resource.dependencies if u in urns}

    @property
    def custom(self) -> list[Resource]:
        return [r for r in self.resources if r.custom and not r.type.startswith("pulumi:providers:")]


class _Mocks(pulumi.runtime.Mocks):
    """Echoes inputs as state and fills in the few outputs the program reads back."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        typ, name = args.typ, args.name
        if typ == "gcp:serviceaccount/account:Account":
            state["email"] = f"{args.inputs['accountId']}@{args.inputs.get('project', 'p')}.iam.gserviceaccount.com"
            state["name"] = f"projects/p/serviceAccounts/{state['email']}"
            state["member"] = f"serviceAccount:{state['email']}"
        elif typ == "gcp:compute/disk:Disk":
            state["selfLink"] = f"https://www.googleapis.com/compute/v1/projects/p/zones/z/disks/{name}"
            state["name"] = name
        elif typ == "gcp:compute/instance:Instance":
            state["instanceId"] = str(4_000_000_000_000_000_000 + zlib.crc32(name.encode()))
            state["networkInterfaces"] = [{**nic, "networkIp": f"10.20.0.{2 + i}"}
                                          for i, nic in enumerate(args.inputs.get("networkInterfaces", []))]
        elif typ == "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig":
            state["uptimeCheckId"] = f"{name}-check-id"
        elif typ == "gcp:monitoring/alertPolicy:AlertPolicy":
            state["name"] = f"projects/p/alertPolicies/{name}"
        elif typ == "gcp:compute/address:Address":
            # An internal address from the registry subnet, an external one from TEST-NET-2.
            state["address"] = "10.20.0.100" if args.inputs.get("addressType") == "INTERNAL" else "198.51.100.7"
        elif typ == "gcp:compute/globalAddress:GlobalAddress":
            state["address"] = "203.0.113.10"  # TEST-NET-3
        elif typ == "gcp:secretmanager/secret:Secret":
            state["name"] = f"projects/{PROJECT_NUMBER}/secrets/{args.inputs['secretId']}"
        elif typ == "gcp:artifactregistry/repository:Repository":
            state["name"] = args.inputs.get("repositoryId", name)
        elif typ == "gcp:projects/serviceIdentity:ServiceIdentity":
            agent = args.inputs["service"].split(".")[0]
            state["email"] = f"service-{PROJECT_NUMBER}@gcp-sa-{agent}.iam.gserviceaccount.com"
            state["member"] = f"serviceAccount:{state['email']}"
        elif typ == "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager":
            state["name"] = args.inputs.get("name", f"{name}-7f3a2c1")  # what the engine's auto-naming gives
            state["instanceGroup"] = f"https://www.googleapis.com/compute/v1/projects/p/regions/r/instanceGroups/{name}"
        elif typ in ("gcp:compute/forwardingRule:ForwardingRule",
                     "gcp:compute/globalForwardingRule:GlobalForwardingRule"):
            state["name"] = args.inputs.get("name", f"{name}-5d1e9b0")  # auto-named, like the group
        elif typ == "gcp:compute/instanceTemplate:InstanceTemplate":
            state["selfLinkUnique"] = f"https://www.googleapis.com/compute/v1/projects/p/global/instanceTemplates/{name}-1"
        elif typ == "gcp:secretmanager/secretVersion:SecretVersion":
            state["name"] = f"projects/{PROJECT_NUMBER}/secrets/{name.removesuffix('-version')}/versions/1"
        elif typ == "gcp:dns/managedZone:ManagedZone":
            state["name"] = args.inputs.get("name", name)
        elif typ == "gcp:cloudbuild/trigger:Trigger":
            state["triggerId"] = "0c7e5f2a-trigger"
        elif typ == "gcp:iam/workloadIdentityPool:WorkloadIdentityPool":
            state["name"] = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/" + str(
                args.inputs["workloadIdentityPoolId"])
        elif typ == "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider":
            state["name"] = (f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/"
                             f"{args.inputs['workloadIdentityPoolId']}/providers/"
                             f"{args.inputs['workloadIdentityPoolProviderId']}")
        elif typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"mock-password-{name}"
            state["bcryptHash"] = "$2a$10$" + "m" * 53
        elif typ == "docker:index/image:Image":
            state["repoDigest"] = f"{args.inputs.get('imageName', name).rsplit(':', 1)[0]}@sha256:{'0' * 64}"
        elif typ == "docker:index/registryImage:RegistryImage":
            state["sha256Digest"] = "sha256:" + "0" * 64
        elif typ == "docker:index/remoteImage:RemoteImage":
            state["repoDigest"] = f"{args.inputs.get('name')}@sha256:{'1' * 64}"
            state["imageId"] = "sha256:" + "1" * 64
        return f"{name}-id", state

    def __init__(self) -> None:
        self.invokes: list[Invoke] = []

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        self.invokes.append(Invoke(args.token, dict(args.args), args.provider))
        if args.token == "gcp:organizations/getClientConfig:getClientConfig":
            return {"accessToken": ACCESS_TOKEN, "project": "p", "region": "r", "zone": "z", "id": "client"}
        if args.token == "gcp:compute/getImage:getImage":
            return {"selfLink": f"https://www.googleapis.com/compute/v1/projects/{args.args['project']}/global/images/"
                                f"{args.args['family']}-117-18613-164-4", "family": args.args["family"], "id": "image"}
        if args.token == "gcp:organizations/getProject:getProject":
            project = args.args.get("projectId", "p")
            return {"number": PROJECT_NUMBER, "projectId": project, "name": project, "id": project}
        if args.token == "gcp:compute/getSnapshot:getSnapshot":
            # A snapshot named stale-* is 30 days old; any other was taken an hour ago.
            age = timedelta(days=30) if str(args.args.get("name", "")).startswith("stale") else timedelta(hours=1)
            return {"name": args.args.get("name"), "project": args.args.get("project"), "id": "snapshot",
                    "creationTimestamp": (datetime.now(UTC) - age).isoformat(),
                    "sourceDisk": "https://www.googleapis.com/compute/v1/projects/p/zones/z/disks/registry-data"}
        raise NotImplementedError(f"the mocks do not answer {args.token}")


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.requests: list[Any] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.type != "pulumi:pulumi:Stack":
            self.requests.append(request)
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


def is_secret(value: Any) -> bool:
    """Whether a recorded input reached the engine marked secret."""
    return isinstance(value, Mapping) and value.get(rpc_sig._special_sig_key) == rpc_sig._special_secret_sig


def unwrap(value: Any) -> Any:
    return value["value"] if is_secret(value) else value


# bootstrap/Pulumi.ci.yaml ships placeholders, which the bootstrap refuses (each names someone else's
# repository or project): the tests run it as someone who filled it in.
BOOTSTRAP_FILLED_IN: dict[str, Any] = {
    "gcp:project": "acme-images-ci",
    "image-sharing-bootstrap:githubRepository": "acme/image-sharing",
    "image-sharing-bootstrap:githubRepositoryId": 912345678,
    "image-sharing-bootstrap:prodReviewers": "User:7654321",
    "image-sharing-bootstrap:stacks": {"dev": {"project": "acme-images-dev"}, "prod": {"project": "acme-images-prod"}},
}


def stack_config(stack: str, project_dir: Path = ROOT, as_shipped: bool = False) -> tuple[dict[str, Any], set[str]]:
    """The stack file's config; `secure:` values become readable test values, still secret. The
    bootstrap's stack as filled in (BOOTSTRAP_FILLED_IN), unless `as_shipped`."""
    data = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text()) or {}
    if project_dir == BOOTSTRAP and stack == "ci" and not as_shipped:
        data = {**data, "config": {**(data.get("config") or {}), **BOOTSTRAP_FILLED_IN}}
    config: dict[str, Any] = {}
    secret: set[str] = set()
    for key, value in (data.get("config") or {}).items():
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            config[key] = f"test-secret-{key.split(':')[-1]}"
            secret.add(key)
        else:
            config[key] = value
    return config, secret


def _encode(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


async def _resolve(value: Any) -> tuple[Any, bool]:
    if isinstance(value, pulumi.Output):
        return await value.future(), bool(await value.is_secret())
    if isinstance(value, Mapping):
        items = {k: await _resolve(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list | tuple):
        resolved = [await _resolve(v) for v in value]
        return [v for v, _ in resolved], any(s for _, s in resolved)
    return value, False


def run_stack(stack: str, overrides: Mapping[str, Any] | None = None,
              secrets: Mapping[str, str] | None = None, drop: tuple[str, ...] = (),
              project_dir: Path = ROOT, program: Callable[[], None] | None = None,
              as_shipped: bool = False) -> StackRun:
    """Runs `project_dir`/__main__.py (or `program`, to test one component alone) for `stack`.
    `overrides` replace config keys (full `ns:key` names; objects are JSON-encoded as the Pulumi CLI
    does); `secrets` add secret keys; `drop` removes keys; `as_shipped`: see stack_config."""
    config, secret_keys = stack_config(stack, project_dir, as_shipped)
    config.update(overrides or {})
    for key, value in (secrets or {}).items():
        config[key] = value
        secret_keys.add(key)
    for key in drop:
        config.pop(key, None)

    mocks = _Mocks()
    monitor = _RecordingMonitor(mocks)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.settings.reset_options()
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["name"]
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config({k: _encode(v) for k, v in config.items()}, sorted(secret_keys))
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    # Pulumi puts the program's folder on the import path; the main program's is already there.
    extra_path = str(project_dir) not in sys.path
    if extra_path:
        sys.path.insert(0, str(project_dir))
    try:
        loop.run_until_complete(run_pulumi_func(program or (lambda: _program(project_dir))))
        root = pulumi.runtime.settings.get_root_resource()
        for name, value in getattr(root, "outputs", {}).items():
            outputs[name], is_secret = loop.run_until_complete(_resolve(value))
            if is_secret:
                secret_outputs.add(name)
        resources = _records(monitor, loop)
    except BaseException:
        # A failed run still tells what it registered: the bad-input tests assert that it is nothing.
        _last_failed_requests[:] = list(monitor.requests)
        raise
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())  # invokes ran in its threads
        loop.close()
        asyncio.set_event_loop(None)
        if extra_path:
            sys.path.remove(str(project_dir))
    return StackRun(stack, resources, outputs, secret_outputs, list(mocks.invokes))


_last_failed_requests: list[Any] = []


def _program(project_dir: Path) -> None:
    runpy.run_path(str(project_dir / "__main__.py"))


def registered_by_last_failure() -> list[str]:
    return [f"{r.type}:{r.name}" for r in _last_failed_requests]


def _records(monitor: _RecordingMonitor, loop: asyncio.AbstractEventLoop) -> list[Resource]:
    from pulumi.runtime import rpc

    records = []
    for req in monitor.requests:
        urn = monitor.make_urn(req.parent, req.type, req.name)
        inputs = loop.run_until_complete(_deserialize(rpc, req.object))
        deps = set(req.dependencies)
        for prop_deps in req.propertyDependencies.values():
            deps |= set(prop_deps.urns)
        records.append(Resource(
            type=req.type, name=req.name, urn=urn, custom=bool(req.custom), inputs=inputs,
            parent=req.parent, provider=req.provider, protect=bool(req.protect), dependencies=deps,
            options={"deleteBeforeReplace": req.deleteBeforeReplace,
                     "retainOnDelete": req.retainOnDelete,
                     "ignoreChanges": list(req.ignoreChanges),
                     "replaceOnChanges": list(req.replaceOnChanges),
                     "aliases": [alias.spec.name for alias in req.aliases if alias.HasField("spec")],
                     "aliasParents": [alias.spec.parentUrn for alias in req.aliases
                                      if alias.HasField("spec") and alias.spec.parentUrn]},
        ))
    return records


async def _deserialize(rpc: Any, struct: Any) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(struct, keep_unknowns=True))
