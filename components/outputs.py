"""What a user needs next, worded the same way on every stack: addresses and ready-to-paste commands."""

from __future__ import annotations

import re
from typing import Any

import pulumi

from components.app_source import TAG_PREFIX
from components.artifact_repository import ArtifactRepository
from components.build_spec import NEWEST_BUILT
from components.build_trigger import BuildTrigger
from components.promotion import promotion_outputs
from components.registry_group import RegistryGroup
from components.registry_vm import RegistryVm
from components.sample_image import CONTAINER_PORT, SampleImage


def docker_commands(image: str, tag: str, ref: pulumi.Input[str], login: str) -> dict[str, Any]:
    """The walkthrough's steps for one registry: log in, build, tag, push, pull."""
    out = pulumi.Output.from_input(ref)
    return {
        "login": login,
        "build": f"docker build --platform linux/amd64 -t {image}:{tag} app",
        "tag": out.apply(lambda r: f"docker tag {image}:{tag} {r}"),
        "push": out.apply(lambda r: f"docker push {r}"),
        "pull": out.apply(lambda r: f"docker pull {r}"),
    }


def manual_tag(tag: str) -> str:
    """The tag the printed walkthrough commands push: never the one the stack pushes and exports
    (an immutable repository would refuse it, a mutable one would move it under the stack)."""
    return "manual-" + tag.removeprefix(TAG_PREFIX)


def artifact_registry_outputs(repo: ArtifactRepository, image: str, tag: str,
                              pipeline_only: bool = False) -> dict[str, Any]:
    """PIPELINE_ONLY: the repository is written only by the image pipeline, so no push command."""
    login = f"gcloud auth configure-docker {repo.host}"
    if pipeline_only:
        commands: dict[str, Any] = {"login": login, "list": repo.path.apply(
            lambda path: f"gcloud artifacts docker images list {path}/{image} --include-tags "
                         "--sort-by=~update_time --limit=5 --format='table(version,tags.list(),update_time)'")}
    else:
        mine = manual_tag(tag)
        commands = docker_commands(image, mine, repo.path.apply(lambda path: f"{path}/{image}:{mine}"), login)
    outputs: dict[str, Any] = {
        "artifactRegistryHost": repo.host,
        "artifactRegistryRepository": repo.path,
        "artifactRegistryCommands": commands,
    }
    if repo.proxy_path is not None:
        outputs["dockerHubProxy"] = repo.proxy_path
        outputs["dockerHubProxyExample"] = repo.proxy_path.apply(
            lambda path: f"docker pull {path}/library/nginx:1.27-alpine-slim")
    return outputs


def image_outputs(image: SampleImage) -> dict[str, Any]:
    """Per registry: the pushed reference, its digest, and the pull command (by digest: exact bytes)."""
    return {
        "tag": image.tag,
        **{key: {"ref": pushed.image_name, "digest": pushed.repo_digest,
                 "pull": pushed.repo_digest.apply(lambda d: f"docker pull {d}"),
                 # nginx runs unprivileged in the image, on this port inside the container.
                 "run": pushed.repo_digest.apply(
                     lambda d: f"docker run --rm -p {CONTAINER_PORT}:{CONTAINER_PORT} {d}")}
           for key, pushed in image.images.items()},
    }


def password_login(address: str, username: str) -> str:
    """Never puts the password on a command line or in shell history."""
    return (f"pulumi stack output registryPassword --show-secrets | "
            f"docker login {address} -u {username} --password-stdin")


def self_hosted_outputs(address: str, username: str, image: str, tag: str,
                        tunnel: str | None = None) -> dict[str, Any]:
    """The walkthrough's section on registry:2: (tunnel,) login, tag, push, remove, pull back."""
    tag = manual_tag(tag)
    ref = f"{address}/{image}:{tag}"
    docker = docker_commands(image, tag, ref, password_login(address, username))
    commands: dict[str, Any] = {
        **({"tunnel": tunnel} if tunnel else {}),
        "login": docker["login"], "build": docker["build"], "tag": docker["tag"], "push": docker["push"],
        "rm": f"docker image rm {image}:{tag} {ref}",  # so the pull below really fetches
        "pull": docker["pull"],
    }
    return {"address": address, "username": username, "commands": commands}


def group_outputs(group: RegistryGroup, port: int, username: str, image: str, tag: str, project: str,
                  region: str) -> dict[str, Any]:
    """The group's one address (its load balancer), the walkthrough's commands against it, and how a
    laptop outside the VPC reaches an internal one."""
    internal = group.internal
    address = f"{group.hostname}:{port}" if internal else group.hostname
    outputs = self_hosted_outputs(address, username, image, tag)
    outputs["loadBalancerIp"] = group.address
    outputs["instanceGroup"] = group.manager.name
    if internal:
        outputs["fromLaptop"] = [
            "Inside the VPC, or over VPN / Interconnect, use the address above as it is. From a laptop "
            "without either, tunnel to one VM of the group through IAP (the load balancer is bypassed):",
            group.manager.name.apply(lambda name: f"gcloud compute instance-groups managed list-instances {name} "
                                                  f"--region {region} --project {project}"),
            f"gcloud compute start-iap-tunnel INSTANCE {port} --local-host-port=localhost:{port} "
            f"--zone ZONE --project {project}",
            f"then add '127.0.0.1 {group.hostname}' to /etc/hosts so the certificate's name resolves to the tunnel",
        ]
    else:
        outputs["fromLaptop"] = [group.address.apply(
            lambda ip: f"point {group.hostname}'s DNS A record at {ip}; the managed certificate is issued once it "
                       "resolves, then only the allowed source ranges reach it")]
    return outputs


def iap_tunnel(vm: RegistryVm, instance: str, project: str, port: int) -> str:
    return (f"gcloud compute start-iap-tunnel {instance} {port} --local-host-port=localhost:{port} "
            f"--zone {vm.zone} --project {project}")


def data_disk_outputs(vm: RegistryVm, project: str, region: str) -> dict[str, Any]:
    """The data disk and the commands of the restore / move procedure (docs/self-hosted-registry.md)."""
    disk = vm.disk.name
    return {
        "disk": disk,
        "zone": vm.zone,
        "snapshotNow": disk.apply(
            lambda name: f"gcloud compute snapshots create {name}-manual --source-disk={name} "
                         f"--source-disk-zone={vm.zone} --storage-location={region} --project={project}"),
        "listSnapshots": disk.apply(
            lambda name: f"gcloud compute snapshots list --project={project} --filter='sourceDisk~/disks/{name}$' "
                         "--sort-by=~creationTimestamp --format='table(name,creationTimestamp,diskSizeGb)'"),
        "restore": disk.apply(lambda name: restore_steps(vm, name, project, region)),
    }


def restore_steps(vm: RegistryVm, disk: str, project: str, region: str) -> list[str]:
    """Paste in order (docs/self-hosted-registry.md): a stopped VM writes nothing the snapshot would miss;
    the replacement leaves the VM stopped; allowDataDiskReplacement goes back off and the snapshot name
    goes (the disk ignores it from then on). The steps are read before a zone move: those after
    `pulumi up` look the zone up instead of naming the old one, and the last prints where the disk is."""
    where = f"--zone={vm.zone} --project={project}"
    instance = next(iter(vm.instances), "registry-0")
    snapshot = f"{disk}-restore"
    current_zone = (f"gcloud compute instances list --project={project} --filter=name={instance} "
                    "--format='value(zone.basename())'")
    return [
        f"gcloud compute instances stop {instance} {where}",
        f"gcloud compute snapshots create {snapshot} --source-disk={disk} --source-disk-zone={vm.zone} "
        f"--storage-location={region} --project={project}",
        f"pulumi config set --path registryVm.dataDiskSnapshot {snapshot}",
        "pulumi config set --path registryVm.allowDataDiskReplacement true",
        "pulumi up",
        f'gcloud compute instances start {instance} --zone="$({current_zone})" --project={project}',
        "pulumi config set --path registryVm.allowDataDiskReplacement false",
        "pulumi config rm --path registryVm.dataDiskSnapshot",
        "pulumi up",
        f"gcloud compute disks list --project={project} --filter=name={disk} "
        "--format='table(name,zone.basename(),type.basename(),sizeGb,sourceSnapshot.basename())'",
    ]


SLSA_BUILDER_ID = "https://cloudbuild.googleapis.com/GoogleHostedWorker"


def pipeline_outputs(pipeline: BuildTrigger, project: str) -> dict[str, Any]:
    history = pipeline.trigger.trigger_id.apply(
        lambda trigger_id: f"https://console.cloud.google.com/cloud-build/builds;region={pipeline.location}"
                           f"?project={project}&query=trigger_id%3D%22{trigger_id}%22")
    outputs: dict[str, Any] = {"triggerId": pipeline.trigger.trigger_id, "buildHistory": history,
                               "manualSteps": pipeline.manual_steps,
                               "vulnerabilityGate": pipeline.fail_on_severity or "off"}
    source = pipeline.promotion_source
    if source is not None and pipeline.run_command is not None:
        outputs["promotion"] = promotion_outputs(source, pipeline.image, pipeline.run_command)
    else:
        outputs["builtImages"] = pipeline.trigger.trigger_id.apply(
            lambda trigger_id: built_images_command(trigger_id, pipeline.location, project, pipeline.branch))
    outputs["provenance"] = provenance_commands(pipeline.image, source, pipeline.github_repository)
    return outputs


def built_images_command(trigger_id: str, location: str, project: str, branch: str) -> str:
    """The digests this trigger's successful builds of BRANCH (the trigger's regex) pushed, with their
    commits, as Cloud Build recorded them (the build's results): what a promotion is asked for. A hand
    run of the trigger on another branch is left out (the promotion would refuse it)."""
    name = re.fullmatch(r"\^([A-Za-z0-9._/-]+)\$", branch)
    on_branch = f"substitutions.BRANCH_NAME={name.group(1)}" if name else f"substitutions.BRANCH_NAME~'{branch}'"
    return (f"gcloud builds list --project={project} --region={location} "
            f"--filter='buildTriggerId={trigger_id} AND status=SUCCESS AND {on_branch}' --limit=5 "
            "--format='table(substitutions.BRANCH_NAME,substitutions.COMMIT_SHA,results.images[0].digest,"
            "finishTime)'")


def provenance_commands(image: pulumi.Output[str], source: str | None, github_repository: str) -> dict[str, Any]:
    """Paste in order: pick the newest image the pipeline pushed (its tags only), by digest, show its
    provenance, verify it. A promoted image carries the provenance of the build that made it, stored
    with the source image (same digest)."""
    def newest(path: str) -> str:
        if source is None:
            listing = "--format='value(format(\"{0}@{1}\",package,version))'"
            return f"IMAGE=$(gcloud artifacts docker images list {path} {NEWEST_BUILT} {listing})"
        return (f"IMAGE={source}@$(gcloud artifacts docker images list {path} {NEWEST_BUILT} "
                "--format='value(version)')")
    return {
        "newestImage": image.apply(newest),
        "show": ('gcloud artifacts docker images describe "$IMAGE" --show-provenance --format=json '
                 "| tee provenance.json"),
        "verify": (f'slsa-verifier verify-image "$IMAGE" --provenance-path provenance.json '
                   f"--source-uri github.com/{github_repository} --builder-id={SLSA_BUILDER_ID}"),
    }
