"""The image pipeline: a Cloud Build trigger that rebuilds and pushes the sample image on every push to
GitHub that touches app/ (or, with promotion, copies the image another stack built from that commit),
running as a dedicated service account that can push to one repository, write build logs and, with the
vulnerability gate, scan, nothing more."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.artifact_repository import ArtifactRepository
from components.build_spec import build_spec
from components.names import trigger_name
from components.project_services import (
    CLOUD_BUILD,
    CONTAINER_ANALYSIS,
    IAM,
    ONDEMAND_SCANNING,
    RESOURCE_MANAGER,
    SECRET_MANAGER,
    ProjectServices,
)
from components.promotion import promotion_spec, run_command
from components.settings import BuildTriggerSettings

LOG_WRITER = "roles/logging.logWriter"
APPROVER = "roles/cloudbuild.builds.approver"
# The only predefined role with ondemandscanning.scans.analyzePackages (the viewer role lacks it); its
# extra permissions only reach scan operations.
SCANNER = "roles/ondemandscanning.admin"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"


@dataclass(frozen=True)
class BuildTriggerArgs:
    project: str
    region: str
    settings: BuildTriggerSettings
    repository: ArtifactRepository
    image_name: str
    mutable_tags: bool
    require_approval: bool
    services: ProjectServices
    app_dir: str = "app"
    # Findings at or above this severity fail the build before anything is pushed; None: no gate.
    fail_on_severity: str | None = None
    # Promote this image (another stack's, same commit) by digest instead of building.
    promotion_source: str | None = None


def branch_ref(branch: str) -> str:
    """The ref a manual trigger checks out, from the branch pattern (settings accept promotion only with
    a pattern naming one branch, `^name$`)."""
    return "refs/heads/" + branch.removeprefix("^").removesuffix("$")


class BuildTrigger(pulumi.ComponentResource):
    """Exposes `trigger`, `location`, `image` and `manual_steps` (what a person must do once, if anything)."""

    def __init__(self, name: str, args: BuildTriggerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("image-sharing:pipeline:BuildTrigger", name, None, opts)
        s = args.settings
        assert s.github_repository is not None  # the trigger exists only when a repository is set
        owner, repo_name = s.github_repository.split("/")
        self._args = args
        self.fail_on_severity, self.promotion_source = args.fail_on_severity, args.promotion_source
        self.github_repository = s.github_repository
        self.branch = s.branch

        account = gcp.serviceaccount.Account(
            "image-builder", project=args.project, account_id="image-builder",
            display_name="Builds and pushes the sample image (managed by Pulumi)",
            opts=self._opts(args.services.needs(IAM)))
        member = account.email.apply(lambda email: f"serviceAccount:{email}")
        grants: list[pulumi.Resource] = [
            # Push (and pull the cache) on this repository only, through its one IAM interface.
            args.repository.grant("image-builder", member, "writer"),
            # The build cache (registryCache only): the stack grants no other writer, and --cache-from
            # reads only there.
            *([args.repository.grant("image-builder", member, "writer", cache=True)]
              if args.repository.cache is not None else []),
            # Build logs: Cloud Logging's writer role exists only project-wide.
            gcp.projects.IAMMember("image-builder-logs", project=args.project, role=LOG_WRITER, member=member,
                                   opts=self._opts(args.services.needs(RESOURCE_MANAGER))),
        ]
        if args.fail_on_severity is not None:
            # Scans are project-level operations: On-Demand Scanning has no narrower resource to grant on.
            grants.append(gcp.projects.IAMMember(
                "image-builder-scans", project=args.project, role=SCANNER, member=member,
                opts=self._opts(args.services.needs(RESOURCE_MANAGER, ONDEMAND_SCANNING))))

        github: gcp.cloudbuild.TriggerGithubArgsDict | None = None
        event: gcp.cloudbuild.TriggerRepositoryEventConfigArgsDict | None = None
        source: gcp.cloudbuild.TriggerSourceToBuildArgsDict | None = None
        url = f"https://github.com/{s.github_repository}"
        promoting = args.promotion_source is not None
        if s.generation == 1:
            self.location = "global"
            if promoting:
                source = {"uri": url, "ref": branch_ref(s.branch), "repo_type": "GITHUB"}
            else:
                github = {"owner": owner, "name": repo_name, "push": {"branch": s.branch}}
            self.manual_steps: list[pulumi.Input[str]] = [
                f"Connect github.com/{s.github_repository} to Cloud Build once (the Cloud Build GitHub App): "
                f"https://console.cloud.google.com/cloud-build/triggers;region=global/connect?project={args.project}"]
        else:
            self.location = args.region
            repository = self._second_generation(owner, repo_name)
            if promoting:
                source = {"repository": repository.id, "ref": branch_ref(s.branch), "repo_type": "GITHUB"}
            else:
                event = {"repository": repository.id, "push": {"branch": s.branch}}
            self.manual_steps = []

        self.image = image = args.repository.path.apply(lambda path: f"{path}/{args.image_name}")
        self.name = trigger_name(args.image_name)
        self.run_command: str | None = None
        if args.promotion_source is None:
            # Only with buildTrigger.registryCache (off by default): see build_spec's CACHE_REF note.
            cache_path = args.repository.cache_path
            cache_image = None if cache_path is None else cache_path.apply(lambda path: f"{path}/{args.image_name}")
            build = build_spec(image, cache_image, url, args.mutable_tags, args.app_dir, args.fail_on_severity,
                               args.region)
            what = f"Rebuilds {args.image_name} when {args.app_dir}/ changes on {s.branch}"
        else:
            # The source stack names its trigger the same way (one image name in every stack).
            # Dev builds the branch this stack checks out (one branch, ^name$, with promotion).
            build = promotion_spec(image, args.promotion_source, url, trigger_name(args.image_name),
                                   branch_ref(s.branch).removeprefix("refs/heads/"), args.fail_on_severity,
                                   args.region)
            what = f"Copies one verified digest of {args.promotion_source} (run by hand with the digest)"
            self.run_command = run_command(self.name, self.location, args.project)
            source_project = args.promotion_source.split("/")[1]
            self.manual_steps.append(pulumi.Output.concat(
                "Let this stack's builder read the promoted images and their provenance: add ", member,
                f" to artifactRegistry.readers of the stack whose repository holds {args.promotion_source}, "
                f"and grant it roles/containeranalysis.occurrences.viewer on project {source_project}."))
        self.trigger = gcp.cloudbuild.Trigger(
            "image-trigger",
            project=args.project,
            location=self.location,
            name=self.name,
            description=f"{what} (managed by Pulumi)",
            github=github,
            repository_event_config=event,
            # A manual trigger (promotion) fires on no push: included_files would mean nothing.
            source_to_build=source,
            included_files=None if promoting else [f"{args.app_dir}/**"],
            service_account=pulumi.Output.concat("projects/", args.project, "/serviceAccounts/", account.email),
            approval_config={"approval_required": args.require_approval},
            build=build,
            # The first build must not fail for a missing permission or API (provenance is stored by
            # Artifact Analysis).
            opts=self._opts([*args.services.needs(CLOUD_BUILD, CONTAINER_ANALYSIS), *grants]),
        )
        # Builds and triggers have no IAM policy of their own: Cloud Build checks
        # cloudbuild.builds.approve on the project, so the approver role is project-wide (it covers
        # every trigger of the project) and carries no other write permission.
        self.approvers = [
            gcp.projects.IAMMember(f"build-approver-{approver}", project=args.project, role=APPROVER,
                                   member=approver, opts=self._opts(args.services.needs(RESOURCE_MANAGER)))
            for approver in s.approvers]
        if args.require_approval and not s.approvers:
            self.manual_steps.append(
                "Builds wait for approval, and this stack grants nobody roles/cloudbuild.builds.approver: "
                "until you list people in buildTrigger.approvers, only principals that already hold "
                "cloudbuild.builds.approve in the project can approve: Owners and Editors (basic roles), "
                "and anyone granted Cloud Build Approver outside this stack.")
        self.register_outputs({"triggerId": self.trigger.trigger_id, "location": self.location})

    def _opts(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on)

    def _second_generation(self, owner: str, repo_name: str) -> gcp.cloudbuildv2.Repository:
        """cloudbuildv2: the GitHub token stays in the Secret Manager version a person created by hand
        (settings.secrets.RETIRED_SECRETS: never a stack secret, never in state); this stack lets only Cloud
        Build's service agent read that one secret (additive: other bindings on it stay)."""
        args = self._args
        version = args.settings.github_token_secret_version
        assert version is not None and args.settings.app_installation_id is not None  # validated
        _, secret_project, _, secret_id, _, _ = version.split("/")
        agent = gcp.projects.ServiceIdentity("cloudbuild-agent", project=args.project, service=CLOUD_BUILD,
                                             opts=self._opts(args.services.needs(CLOUD_BUILD)))
        access = gcp.secretmanager.SecretIamMember(
            "github-token-accessor", project=secret_project, secret_id=secret_id, role=SECRET_ACCESSOR,
            member=agent.member, opts=self._opts(args.services.needs(SECRET_MANAGER)))
        connection = gcp.cloudbuildv2.Connection(
            "github", project=args.project, location=args.region, name="github",
            github_config={"app_installation_id": args.settings.app_installation_id,
                           "authorizer_credential": {"oauth_token_secret_version": version}},
            opts=self._opts([access]))
        return gcp.cloudbuildv2.Repository(
            "github-repository", project=args.project, location=args.region, name=repo_name,
            parent_connection=connection.name, remote_uri=f"https://github.com/{owner}/{repo_name}.git",
            opts=self._opts())
